"""The `jaylyrics` command group and what every command shares: the one place where errors
become one-line messages and exit codes, the -q/-v verbosity and the log lines on stderr, and the
options several commands take (--device, --checkpoint, --no-cache)."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import click

from jaylyrics import JaylyricsError, __version__, padded
from jaylyrics.cli.completion import cache_keys, runs_or_files


class _Command(click.Command):
    """A command whose usage error for a word it takes no argument for says which option takes
    it: `jaylyrics sample 分开` -> --prefix 分开 (and the usage lines and exit code 2 of any usage
    error, as click writes them); and which reads `--config=~/my.yaml` from the home directory."""

    def parse_args(self, ctx, args):
        import re

        args = [self._home(arg) for arg in args]
        given = list(args)                    # (the parser consumes `args`)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as e:
            key = _config_key(e.option_name) if self.name == "train" else None
            if key:                           # `train --epochs 5`: a key, not an option
                e.message = (f"{e.message.rstrip('.')}. Config keys are set with --set: "
                             f"{train_invocation()} --set "
                             f"{key}={shell_word(_value_of(e.option_name, given))}")
                e.possibilities = []          # (click offers --help for --lr)
            raise
        except click.UsageError as e:
            stray = re.fullmatch(r"Got unexpected extra arguments? \((.*)\)", e.message)
            hint = _STRAY_WORDS.get(self.name)
            if stray and hint:                # (click's words; in another, no hint: as before)
                e.message += f": {hint(stray.group(1))}"
            raise

    def _home(self, arg: str) -> str:
        """`--config=~/my.yaml` as `--config ~/my.yaml` reaches a command: the shell expands a ~
        that begins a word, not one after `--option=`; so a path option's is expanded here (a
        --prefix's stays: it is text). And `-o=x.png` as `-o x.png` (click would take `=x.png`
        for the value of a short option, where argparse-made tools take `x.png`)."""
        option, equals, value = arg.partition("=")
        takes = [p for p in self.params if option in p.opts and isinstance(p, click.Option)
                 and not p.is_flag] if equals and option.startswith("-") else []
        if not takes:
            return arg
        if value.startswith("~") and isinstance(takes[0].type, click.Path):
            value = os.path.expanduser(value)
        return f"{option}={value}" if option.startswith("--") else f"{option}{value}"


def _config_key(option: str) -> str | None:
    """The config key an unknown option of `train` names, as other tools take it (--epochs,
    --lr, --hidden_size, --hidden-size, --model): train.epochs, ...; None if none."""
    from jaylyrics import config

    name = option.lstrip("-").replace("-", "_")
    name = {"model": "type", "data": "corpus"}.get(name, name)
    return next((key for key in config.all_keys() if key.split(".")[1] == name), None)


def _value_of(option: str, args: list) -> str:
    """The value given with `option` in `args` (--lr 0.01 or --lr=0.01), or VALUE."""
    for i, arg in enumerate(args):
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
        if arg == option and i + 1 < len(args) and not args[i + 1].startswith("-"):
            return args[i + 1]
    return "VALUE"


def shell_word(text: str) -> str:
    """`text` as a shell takes it: as it is, or quoted if it has a space or a character the
    shell reads (Chinese needs no quotes, as shlex.quote would give it)."""
    import re
    import shlex

    return shlex.quote(text) if re.search(r"[\s'\"\\$`!*?;&|<>(){}\[\]#~]", text) else text


def train_invocation() -> str:
    """How the user runs `train`: `jaylyrics train` (also in a worker started by hand, with the
    DMLC_ variables of the README), or, in a worker of `jaylyrics launch`, through launch with as
    many workers (N, if that is not known)."""
    if not launched_worker():
        return "jaylyrics train"
    return f"jaylyrics launch -n {os.environ.get('DMLC_NUM_WORKER', 'N')} -- train"


def launched_worker() -> bool:
    """Whether this process is a worker that `jaylyrics launch` started (which marks them)."""
    return "DMLC_ROLE" in os.environ and "JAYLYRICS_LAUNCH_PORT" in os.environ


def _train_hint(word: str) -> str:
    if word.lower().endswith((".yaml", ".yml")):
        return f"a config file comes after --config: {train_invocation()} --config " \
               f"{shell_word(word)}"
    return ("train takes options only: a config file is --config FILE, a run to continue "
            "--resume RUN")


_STRAY_WORDS = {      # what each command's user meant by a word without an option before it
    "sample": lambda word: f"the text to start with comes after --prefix: jaylyrics sample "
                           f"--prefix {shell_word(word)}",
    "eval": lambda word: f"a run or checkpoint comes after --checkpoint (jaylyrics eval "
                         f"--checkpoint {shell_word(word)}), a text to score after --text",
    "runs": lambda word: f"the directory that holds the runs comes after --dir: jaylyrics runs "
                         f"--dir {shell_word(word)}",
    "train": _train_hint,
}


class _Group(click.Group):
    """Turns our errors into clean one-line messages, in one place."""

    command_class = _Command

    def main(self, *args, **kwargs):
        _fill_closed_std_fds()
        VERBOSITY["level"] = 1            # (a test may run several commands in one process)
        try:
            return self._main(*args, **kwargs)
        except SystemExit as e:       # (130: interrupted, which every worker is, together)
            if e.code not in (0, None, 130) and _a_joined_worker():
                _leave_at_once(e.code if isinstance(e.code, int) else 1)
            raise
        except BaseException:         # (a bug: its traceback, then as above)
            if _a_joined_worker():
                import traceback

                traceback.print_exc()
                _leave_at_once(1)
            raise

    def _main(self, *args, **kwargs):
        try:
            return super().main(*args, **kwargs)
        except OSError as e:          # --help or --version written to a full disk (click itself
            where = _where(e)         # handles a closed pipe; a command's errors come below)
            _silence_stdout()
            click.echo(f"Error: {where}{e.strerror or e}", err=True)
            sys.exit(1)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except JaylyricsError as e:
            if getattr(e, "exit_code", 1) != 1:          # an interrupted training: 130
                click.echo(str(e), err=True)
                sys.exit(e.exit_code)
            raise click.ClickException(_one_line(str(e))) from None
        except MemoryError:           # numpy's and MXNet's allocations of a model too big
            raise click.ClickException(
                "out of memory: the model (model.hidden_size, model.embed_size, "
                "model.num_layers), a batch (train.batch_size x train.num_steps) or the text is "
                "too big for this machine") from None
        except UnicodeEncodeError as e:   # a terminal or PYTHONIOENCODING without Chinese
            unwritable = e.object[e.start:e.end][:10]
            raise click.ClickException(
                f"cannot write {unwritable!a} to the terminal or file, whose encoding is "
                f"{e.encoding}: use a UTF-8 one (e.g. PYTHONIOENCODING=utf-8)") from None
        except BrokenPipeError:       # stdout closed early (`jaylyrics runs | head -3`): no
            _silence_stdout()         # message, as other tools; exit 1 as Python itself does
            sys.exit(1)
        except OSError as e:          # a directory we cannot write, a full disk, ...
            if not e.filename and _working_directory_gone():       # (what os.getcwd raises)
                raise click.ClickException(
                    "the working directory no longer exists (deleted or moved since this shell "
                    "entered it): cd to one that does") from None
            where = _where(e)
            if where.startswith("standard output"):
                _silence_stdout()
            raise click.ClickException(f"{where}{e.strerror or e}") from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def _one_line(message: str) -> str:
    """A message as one line: a line break, tab or other control character in what it quotes
    (`--set $'train.prefixes=[\\n'`) written as Python writes it in a string."""
    import unicodedata

    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
                   for c in message)


def _a_joined_worker() -> bool:
    """Whether this process is a worker of a parameter-server run (it created a dist_sync or
    dist_async KVStore)."""
    distributed = sys.modules.get("jaylyrics.distributed")
    return distributed is not None and distributed.joined


def _leave_at_once(code: int) -> None:
    """A worker of a data-parallel run that failed: exit now. At a normal exit MXNet's parameter
    server client waits for every worker to finish, and the others wait for this one's next
    gradients: the process hung, and `jaylyrics launch` with it (until its --timeout, if any).
    Exiting, it lets launch stop the rest."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def leave_on_second_stop(message, still_there: str | None = None) -> None:
    """In a worker of a parameter-server run: a second Ctrl-C (or SIGTERM, or hang-up) ends the
    process at once, saying `message()`, also while it waits inside MXNet (for the scheduler to
    start, or for the gradients of a worker that has gone), where no Python signal handler runs
    until MXNet returns. A thread hears the signals through the wakeup fd, which the C handler
    writes to as each one arrives; it counts the first (which asks the workers to stop
    together), says `still_there` if the process still is 3 s later, and leaves at the
    second."""
    import select
    import signal
    import threading

    from jaylyrics import hangup

    if threading.current_thread() is not threading.main_thread():
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end)
    stops = {int(sig) for sig in hangup.stop_signals()}

    def say(text):
        try:
            click.echo(text, err=True)
        except (OSError, ValueError):          # (the terminal is gone: a hang-up)
            pass

    def watch():
        seen, said = 0, False
        while seen < 2:
            patience = 3.0 if seen == 1 and still_there and not said else None
            if not select.select([read_end], [], [], patience)[0]:     # still here after one
                say(still_there)
                said = True
                continue
            seen += sum(byte in stops for byte in os.read(read_end, 64))
        say(message())
        _leave_at_once(130)

    threading.Thread(target=watch, name="second-stop", daemon=True).start()


def _fill_closed_std_fds() -> None:
    """Standard input, output or error closed by whoever started us (`<&-`, `>&-`, `2>&-`):
    /dev/null in its place, so that no file opened later takes its number (a run's lock would
    be written to as standard error, by MXNet's logging) and code that duplicates it (`backend`,
    around MXNet's import) finds it; writes then go nowhere. Python has no sys.stdout or
    sys.stderr then: they write to it; sys.stdin stays None (`stdin_text` says it is closed)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:                      # closed: the lowest free number is this one
            os.open(os.devnull, os.O_RDWR)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "w", encoding="utf-8", closefd=False))


def _where(e: OSError) -> str:
    """The file an error is about, as the message's start: its own, or, for a full disk where
    none is named (every file jaylyrics writes is), standard output redirected to a file."""
    if e.filename:
        return f"{e.filename}: "
    if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or os.isatty(1):
        return ""
    try:
        return f"standard output ({os.readlink('/proc/self/fd/1')}): "
    except OSError:                                        # no /proc (macOS)
        return "standard output: "


def _working_directory_gone() -> bool:
    """Whether this process's working directory was removed (relative paths then fail, with an
    error that names no file)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):     # no file descriptor (a test runner's stdout): nothing to do
        pass


VERBOSITY = {"level": 1}          # 0 quiet, 1 normal, 2 verbose; set by -q / -v


def log(message: str, level: int = 1) -> None:
    """A progress or log line on stderr, if the verbosity asks for it."""
    if VERBOSITY["level"] >= level:
        click.echo(message, err=True)


def _set_verbosity(ctx, param, value):
    if value:
        if ctx.meta.setdefault("verbosity", param.name) != param.name:
            raise click.UsageError("-q (results only) and -v (more detail): choose one", ctx)
        VERBOSITY["level"] = 0 if param.name == "quiet" else 2
    return value


def verbosity(command):
    """-q/--quiet (results only) and -v/--verbose (more detail) for a command, and for the group
    (`jaylyrics -q train`, as pip and git take such options before the command)."""
    command = click.option("-v", "--verbose", is_flag=True, expose_value=False, is_eager=True,
                           callback=_set_verbosity, help="Say more on stderr.")(command)
    return click.option("-q", "--quiet", is_flag=True, expose_value=False, is_eager=True,
                        callback=_set_verbosity, help="Print results only, no progress.")(command)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jaylyrics")
@verbosity
def main():
    """Character-level RNN lyric generator, trained from scratch on Jay Chou's lyrics.

    \b
      jaylyrics train --config configs/default.yaml
      jaylyrics sample --prefix 分开
      jaylyrics sample -i --temperature 0.8      (type prefixes, Ctrl-D ends)
      jaylyrics eval
      jaylyrics runs
      jaylyrics plot
    """
    role = os.environ.get("DMLC_ROLE")
    if role in ("server", "scheduler"):     # MXNet would serve at import and wait, silently
        raise JaylyricsError(f"DMLC_ROLE={role} in the environment makes this process a parameter "
                             f"{role} of a distributed run; unset it (jaylyrics launch sets it "
                             "for the processes it starts)")


def progress_bar(total: int, desc: str, unit: str = "char", delay: float = 1.0,
                 scale: bool = True):
    """A progress bar on stderr for `total` steps: shown on a terminal only (not with -q), and
    only once the work has taken `delay` seconds (0: at once); counts as 8.05k with `scale`,
    else as they are. Call its `update(n)` after n steps, then `close()`."""
    from tqdm import tqdm

    unsized = _unsized_terminal(sys.stderr)
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=scale, file=sys.stderr, leave=False,
                dynamic_ncols=not unsized, ncols=80 if unsized else None,
                nrows=24 if unsized else None, delay=delay,
                disable=None if VERBOSITY["level"] else True)


def _unsized_terminal(stream) -> bool:
    """Whether `stream` is a terminal that says it is 0 columns wide (a pseudo-terminal whose
    size nobody set: `docker exec -t`, some CI runners), where tqdm, which follows the size,
    would draw nothing at all: the bar is then drawn as on an 80 x 24 terminal."""
    try:
        return os.isatty(stream.fileno()) and os.get_terminal_size(stream.fileno()).columns == 0
    except (AttributeError, OSError, ValueError):     # no file descriptor (a test's StringIO)
        return False


def echo_json(obj) -> None:
    """The one JSON object of --json, as a line on stdout: Chinese as it is, or as \\u escapes
    where stdout's encoding has none (PYTHONIOENCODING=latin-1, a file on a Windows code page),
    the same object to whoever parses it."""
    import json

    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        text = json.dumps(obj)
    click.echo(text)


def only_one(values: tuple, option: str, hint: str):
    """The value of an option taken once, from click's tuple of every time it was given (None if
    never): click itself keeps the last and drops the others without a word. Given more than
    once, an InputError names them, with `hint` on what to do instead."""
    from jaylyrics import InputError

    if len(values) > 1:
        raise InputError(f"{option} is given {len(values)} times "
                         f"({', '.join(map(str, values))}); {hint}")
    return values[0] if values else None


def quoted(char: str, width: int = 6) -> str:
    """A character as Python quotes it (a line break shows as '\\n'), padded to `width` terminal
    columns (a Chinese character takes two), for the columns of `sample --next` and `eval
    --per-char`."""
    return padded(repr(char), width)


def typed(text: str, what: str) -> str:
    """`text` as typed (an argument, a line at the prompt), which must be UTF-8. Bytes that are
    not reach Python as lone surrogates ('\\udcb7': a terminal set to GBK, say); they are an
    InputError that names the first, instead of "not in the vocabulary" or a YAML error."""
    from jaylyrics import InputError

    bad = next((c for c in text if "\udc80" <= c <= "\udcff"), None)
    if bad is not None:
        raise InputError(f"{what} is not UTF-8 text (invalid byte 0x{ord(bad) - 0xdc00:02x}): "
                         "is the terminal set to another encoding, such as GBK? set it to UTF-8")
    return text


def stdin_text(option: str) -> str:
    """All of standard input as text (UTF-8, or UTF-16 with its byte-order mark, as a corpus
    file), for `option` (--text -, --prefix-file -); an InputError if it is closed (`<&-`)."""
    from jaylyrics import InputError, reading

    try:
        data = click.get_binary_stream("stdin").read()
    except (RuntimeError, OSError, ValueError):      # no stdin at all: click, or a closed fd
        raise InputError(f"{option}: standard input is closed; pipe the text into it") from None
    return reading.decode(data, "standard input")


def device_option(more: str = ""):
    """--device, with what it means for the command."""
    return click.option("--device", default="auto", show_default=True,
                        help="auto (a GPU if MXNet sees one, else the CPU), cpu, gpu or gpu:N"
                             + more)


def numpy_device_option(doing: str):
    """--device of a command that runs the network in NumPy on the CPU (sample, eval; `doing`
    says what it does there): the command checks it with `check_device`."""
    return device_option(f". Only checked: {doing} on the CPU in any case (in NumPy, one "
                         "character at a time).")


def check_device(device: str) -> None:
    """--device of a command that runs the network in NumPy on the CPU (sample, eval): checked
    as the training does (a GPU asked for must be there), but MXNet is imported only then."""
    if device.strip().lower() not in ("auto", "cpu"):
        from jaylyrics import backend
        backend.device(device)


cache_set_option = click.option(
    "--set", "cache_overrides", multiple=True, metavar="KEY=VALUE", shell_complete=cache_keys,
    help="Read the network with other cache settings than it was trained with, e.g. --set "
         "model.cache_weight=0.08 (model.cache_* keys only: the cache has no trained weights; "
         "repeatable).")
no_cache_option = click.option(
    "--no-cache", is_flag=True,
    help="The network alone: leave out the cache of the text so far (model.cache_*), which "
         "lifts the characters just used.")
checkpoint_option = click.option(
    "--checkpoint", "checkpoint_paths", type=click.Path(path_type=Path), multiple=True,
    shell_complete=runs_or_files,
    help="A run directory (its best checkpoint), a checkpoint .json file or its weights "
         ".params file, or a run's name under runs/ (large for runs/large). Default: the run "
         "trained last (runs/latest). Given more than once: the "
         "networks as one (an ensemble: the mean of their probabilities), with the first one's "
         "cache; they must share a vocabulary.")


def note_cache_edits(ck, overrides, no_cache: bool, command: str) -> None:
    """A note when the run's config.yaml sets model.cache_* keys otherwise than the checkpoint
    `ck` (edited by hand since it was saved) and --set does not: `command` (sample, eval) reads
    the run as it was saved, and --set is how it takes other cache settings. Nothing with
    --no-cache, or for a config.yaml that does not read (nothing here needs it)."""
    from jaylyrics import ConfigError, checkpoint, config

    if no_cache:
        return
    given = {config.parse_override(item)[0] for item in overrides}
    try:
        edited = checkpoint.config_edits(ck)[1]
    except ConfigError:
        return
    cache = {key: values for key, values in edited.items()
             if key.startswith("model.cache_") and key not in given}
    if cache:
        log(f"note: {ck.path.parent / 'config.yaml'} was edited since the run was saved ("
            + ", ".join(f"{key} {config.shown(now)}, saved as {config.shown(was)}"
                        for key, (was, now) in cache.items())
            + f"); {command} reads the run as saved: "
            + " ".join(f"--set {key}={config.shown(now)}" for key, (_, now) in cache.items())
            + " reads it with the edit")
