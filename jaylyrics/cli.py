"""The command line: `jaylyrics train | sample | eval`.

The only module that prints or exits. Every user mistake arrives here as a `JaylyricsError` and
leaves as a one-line message with exit code 1 (click's usage errors exit with 2; Ctrl-C with
130). Heavy imports (MXNet, the model) happen inside the commands, so `--help` is instant.
Results go to stdout (with --json: one JSON object on the last line); progress and logs go to
stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import unicodedata
from pathlib import Path

import click

from jaylyrics import JaylyricsError, __version__


class _Group(click.Group):
    """Turns our errors into clean one-line messages, in one place."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except JaylyricsError as e:
            if getattr(e, "exit_code", 1) != 1:          # an interrupted training: 130
                click.echo(str(e), err=True)
                sys.exit(e.exit_code)
            raise click.ClickException(str(e)) from None
        except MemoryError:           # numpy's and MXNet's allocations of a model too big
            raise click.ClickException(
                "out of memory: the model (model.hidden_size, model.embed_size, "
                "model.num_layers), a batch (train.batch_size x train.num_steps) or the text is "
                "too big for this machine") from None
        except BrokenPipeError:       # stdout closed early (`jaylyrics runs | head -3`): no
            _silence_stdout()         # message, as other tools; exit 1 as Python itself does
            sys.exit(1)
        except OSError as e:          # a directory we cannot write, a full disk, ...
            where = f"{e.filename}: " if e.filename else ""
            raise click.ClickException(f"{where}{e.strerror or e}") from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):     # no file descriptor (a test runner's stdout): nothing to do
        pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jaylyrics")
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
    _VERBOSITY["level"] = 1


_VERBOSITY = {"level": 1}          # 0 quiet, 1 normal, 2 verbose; set per command by -q / -v


def _log(message: str, level: int = 1) -> None:
    """A progress or log line on stderr, if the verbosity asks for it."""
    if _VERBOSITY["level"] >= level:
        click.echo(message, err=True)


def _set_verbosity(ctx, param, value):
    if value:
        _VERBOSITY["level"] = 0 if param.name == "quiet" else 2
    return value


def _verbosity(command):
    """-q/--quiet (results only) and -v/--verbose (more detail) for a command."""
    command = click.option("-v", "--verbose", is_flag=True, expose_value=False, is_eager=True,
                           callback=_set_verbosity, help="Say more on stderr.")(command)
    return click.option("-q", "--quiet", is_flag=True, expose_value=False, is_eager=True,
                        callback=_set_verbosity, help="Print results only, no progress.")(command)


_device_option = click.option("--device", default="auto", show_default=True,
                              help="auto (a GPU if MXNet sees one, else the CPU), cpu, gpu or gpu:N; "
                                   "for train also several: gpu:0,1 (or cpu:0,1). sample writes on "
                                   "the CPU in any case (one character at a time); it only checks "
                                   "that a named device is there.")
_no_cache_option = click.option(
    "--no-cache", is_flag=True,
    help="The network alone: leave out the cache of the text so far (model.cache_*), which "
         "lifts the characters just used.")
_checkpoint_option = click.option(
    "--checkpoint", "checkpoint_path", type=click.Path(path_type=Path), default=None,
    help="A run directory (its best checkpoint), a checkpoint .json file or its weights "
         ".params file. Default: the run trained last (runs/latest).")


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="YAML config file. Default: the built-in defaults (configs/default.yaml).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key by its dotted name, e.g. --set train.epochs=5 (repeatable).")
@_device_option
@click.option("--resume", "resume_run", is_flag=False, flag_value="", default=None,
              metavar="[RUN]", help="Continue a run (default: runs/latest) from its last "
              "checkpoint, with its own config; --set train.* keys may change, e.g. train.epochs.")
@click.option("--init-from", "init_from", type=click.Path(), default=None,
              metavar="RUN", help="Fine-tune: start from the weights of this run directory or "
              "checkpoint (its network and vocabulary, new characters added); the same as "
              "--set train.init_from=RUN.")
@click.option("--overwrite", is_flag=True,
              help="Replace the run that train.out_dir already holds (without it, train refuses "
                   "to start there: --resume continues a run).")
@click.option("--kvstore", type=click.Choice(["local", "dist_sync", "dist_async"]), default=None,
              help="Train as one data-parallel worker, gradients summed through this MXNet "
                   "KVStore (see `jaylyrics launch`). Default: a single process.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON line.")
@_verbosity
def train(config_path, overrides, device, resume_run, init_from, overwrite, kvstore, as_json):
    """Train a model and write checkpoints into train.out_dir."""
    from jaylyrics import InputError, config, corpus

    if init_from == "":
        raise InputError("--init-from: expected a run directory or a checkpoint file, got an "
                         "empty path")
    if init_from is not None:
        overrides = tuple(overrides) + (f"train.init_from={init_from}",)
    resume = contexts = init = source = None
    given = {config.parse_override(o)[0] for o in overrides}          # the keys --set names
    if resume_run is not None and "train.init_from" in given:
        raise InputError("--resume continues a run from its own last checkpoint; --init-from "
                         "(train.init_from) starts a new run")
    if resume_run is not None and overwrite:
        raise InputError("--resume continues a run; --overwrite replaces one: drop one")
    if kvstore is not None and kvstore.startswith("dist") and "DMLC_ROLE" not in os.environ:
        raise InputError(f"--kvstore {kvstore}: this process is not a worker of a launched run "
                         "(no DMLC_ROLE, DMLC_PS_ROOT_URI, ... in its environment); start the "
                         "workers with `jaylyrics launch -n N -- train ...`")
    if resume_run is None:                   # config mistakes are reported before MXNet loads
        cfg = config.load(config_path, overrides)
        run_dir = Path(cfg.train.out_dir)
        source = _init_source(cfg.train.init_from, run_dir) if cfg.train.init_from else None
        if not overwrite:
            _refuse_a_trained_run(run_dir)
        data_cfg = cfg.data
    else:
        if config_path is not None:
            raise InputError("--resume continues a run with the config it was started with: drop "
                             "--config (use --set train.epochs=N to train longer)")
        from jaylyrics import backend, checkpoint

        contexts = backend.devices(device)
        ck, optimizer_arrays = checkpoint.load_resume(resume_run or None, contexts[0])
        cfg = config.override(ck.config, overrides, allowed="train.")
        run_dir = ck.path.parent
        # its corpus where it was trained, also from another directory
        data_cfg = checkpoint.data_config(ck)
    data = corpus.load(data_cfg)
    note = None
    if resume_run is None and "train.prefixes" not in given:
        cfg, note = _prefixes_that_fit(cfg, data)
    tc = cfg.train
    corpus.check_batchable(len(data.train), tc.batch_size, tc.num_steps, tc.sampler)
    if resume_run is None and source is None:  # else the run's vocabulary is not the corpus's:
        corpus.check_prefixes(data.vocab, tc)  # train.fit checks them against it
    if resume_run is None:
        _check_the_model_fits(cfg, len(data.vocab))
    if note:                                              # after the errors: one line each
        _log(note)
    if data.sources:
        _log(f"corpus files: {len(data.sources)} in {cfg.data.corpus}, joined in path order "
             f"({data.sources[0]} ... {data.sources[-1]}; -v lists them)")
        _log("\n".join(f"  {source}" for source in data.sources), level=2)
    run_dir.mkdir(parents=True, exist_ok=True)          # fail early if it cannot be

    import numpy as np

    from jaylyrics import backend, sample, train as train_mod

    contexts = contexts or backend.devices(device)
    if resume_run is not None:                          # its mistakes before any other line
        data = _resumed_vocab(data, ck, cfg)
        resume = train_mod.resume_state(ck, optimizer_arrays, cfg)
        train_mod.check_epochs_left(resume[2], cfg.train, run_dir)
    _log(f"device: {backend.describe(contexts)}")
    hint = backend.busy_hint(contexts)
    if hint:
        _log(hint)
    if source is not None:
        cfg, data, init = _fine_tuned(source, cfg, data, contexts[0])
    _log("config:\n" + config.dump(cfg).rstrip(), level=2)

    def generate(params, prefix):
        return prefix + "".join(sample.generate(params, cfg.model, data.vocab, prefix,
                                                cfg.train.sample_length,
                                                cfg.train.sample_temperature,
                                                rng=np.random.RandomState(cfg.train.seed)))

    summary = train_mod.fit(cfg, data, contexts, run_dir, _TrainReporter(cfg), generate, resume,
                            kvstore, init)
    if not summary["rank0"]:
        return
    from jaylyrics import plot
    if plot.available():
        plot.write_png([run_dir], run_dir / "perplexity.png")
        _log(f"curves: {run_dir / 'perplexity.png'}")
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        metric = "val" if summary["metric"] == "val_ppl" else "train"
        click.echo(f"best {metric} perplexity {summary['best']:.2f} at epoch {summary['best_epoch']}; "
                   f"checkpoints in {summary['run_dir']} ({summary['elapsed_s']:.0f} s)")


def _check_the_model_fits(cfg, vocab_size: int) -> None:
    """A model whose weights, gradients and optimiser moments (4 float32 copies) need more than
    the machine's memory is refused before anything is allocated, naming the keys that size it."""
    import math

    from jaylyrics import InputError, machine, model

    count = sum(math.prod(s) for s in model.param_shapes(cfg.model, vocab_size).values())
    need, have = 16 * count, machine.physical_memory()
    if have and need > have:
        mc = cfg.model
        raise InputError(f"the model would have {count:,} parameters, {need / 2**30:,.0f} GiB for "
                         f"its weights, gradients and optimiser state; this machine has "
                         f"{have / 2**30:,.0f} GiB: lower model.hidden_size (now {mc.hidden_size}), "
                         f"model.embed_size ({mc.embed_size}) or model.num_layers ({mc.num_layers})")


def _refuse_a_trained_run(run_dir: Path) -> None:
    """A new run would replace the checkpoints of the run already in `run_dir` (a forgotten
    --resume, a second `train` with the same config): say what is there and what to do (in a
    worker of `jaylyrics launch`, how to resume through it)."""
    from jaylyrics import InputError, checkpoint

    held = checkpoint.run_summary(run_dir) if run_dir.is_dir() else None
    if held is None:
        return
    what = f"{held['epochs']} epoch{'s' * (held['epochs'] != 1)} of {held['model']}"
    if held["best"] is not None:
        what += f", best {held['metric']} perplexity {held['best']:.2f}"
    resume = "jaylyrics launch -n N -- train" if "DMLC_ROLE" in os.environ else "jaylyrics train"
    raise InputError(f"train.out_dir {run_dir} already holds a trained run ({what}): continue it "
                     f"with `{resume} --resume {run_dir}`, train into another directory "
                     "(--set train.out_dir=DIR), or pass --overwrite to replace it")


@contextlib.contextmanager
def _about(key: str):
    """A user mistake raised inside, its message led by the setting it is about."""
    try:
        yield
    except JaylyricsError as e:
        raise type(e)(f"{key}: {e}") from None


def _init_source(init_from: str, run_dir: Path) -> Path:
    """The checkpoint train.init_from names (checked before MXNet loads), unless the new run
    would overwrite it."""
    from jaylyrics import InputError, checkpoint

    with _about("train.init_from"):
        source = checkpoint.resolve(init_from)
    if source.parent.resolve() == run_dir.resolve():
        raise InputError(f"train.out_dir {run_dir} is the run train.init_from starts from; its "
                         "checkpoints would be overwritten: choose another train.out_dir")
    return source


def _fine_tuned(source: Path, cfg, data, ctx):
    """(cfg, data, initial parameters) of a run that starts from the checkpoint `source`."""
    from jaylyrics import checkpoint, finetune

    with _about("train.init_from"):
        loaded = checkpoint.load(source, ctx)
    cfg, data, init, note = finetune.start(loaded, cfg, data, ctx)
    _log(note)
    return cfg, data, init


def _resumed_vocab(data, ck, cfg):
    """`data` with the vocabulary of the run being resumed, if the corpus still fits it: the
    same characters, or for a fine-tuned run (whose vocabulary is its source's plus the
    corpus's new characters) none the run has not seen."""
    from jaylyrics import InputError

    fits = data.vocab == ck.vocab or (cfg.train.init_from and not ck.vocab.unknown(data.vocab.chars))
    if not fits:
        raise InputError(f"{cfg.data.corpus}: the corpus has changed since {ck.path.parent} was "
                         "trained (its vocabulary differs); cannot resume")
    return dataclasses.replace(data, vocab=ck.vocab)


def _prefixes_that_fit(cfg, data):
    """Another corpus than the one the config's train.prefixes were written for (分开 in an English
    corpus): sample from the prefixes that fit, or else from the corpus's own line starts, and
    say so: returns the config and that note, or None. (Prefixes given with --set on the
    command line are checked, not replaced.)"""
    from jaylyrics import config, corpus

    prefixes = cfg.train.prefixes
    fitting = tuple(p for p in prefixes if not data.vocab.unknown(p))
    if not cfg.train.sample_every or fitting == prefixes:
        return cfg, None
    chosen = fitting or corpus.line_starts(data.train)
    note = (f"note: train.prefixes {', '.join(p for p in prefixes if p not in fitting)} do not "
            f"fit {cfg.data.corpus}; sampling from {', '.join(chosen)} (set train.prefixes to "
            "choose)")
    return config.override(cfg, ["train.prefixes=" + json.dumps(chosen, ensure_ascii=False)]), note


class _TrainReporter:
    """Progress bar per epoch (stderr, hidden when stderr is not a terminal) and epoch lines."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.bar = None
        self.per_epoch = None          # mean seconds per epoch so far, for the time left

    def start(self, info):
        if info["workers"] > 1:
            _log(f"rank 0 of {info['workers']} data-parallel workers: this one evaluates and writes")
        if info["first_batch"]:
            _log(f"resuming epoch {info['first_epoch']} after batch {info['first_batch']}")
        elif info["first_epoch"] > 1:
            _log(f"resuming after epoch {info['first_epoch'] - 1}")
        _log(f"corpus: {info['train_chars']:,} train / {info['val_chars']:,} val characters, "
             f"vocabulary {info['vocab_size']:,}; model: {self.cfg.model.type} with "
             f"{info['params']:,} parameters; {info['batches_per_epoch']} batches per epoch; "
             f"run directory {info['run_dir']}")

    def epoch_start(self, epoch, num_batches):
        from tqdm import tqdm

        desc = f"epoch {epoch}/{self.cfg.train.epochs}"
        if self.per_epoch is not None:
            desc += f" ({_time_left(self.per_epoch * (self.cfg.train.epochs - epoch + 1))})"
        self.bar = tqdm(total=num_batches, desc=desc,
                        file=sys.stderr, leave=False, dynamic_ncols=True,
                        disable=None if _VERBOSITY["level"] else True)   # None: off if no TTY

    def batch(self, loss, chars_per_s):
        import math

        self.bar.set_postfix(loss=f"{loss:.3f}", ppl=f"{math.exp(min(loss, 50)):.1f}",
                             chars_s=f"{chars_per_s:,.0f}", refresh=False)
        self.bar.update(1)

    def epoch_end(self, r):
        self.bar.close()
        self.per_epoch = r.elapsed / r.epoch
        val = f"  val ppl {r.val_ppl:8.2f}" if r.val_ppl is not None else ""
        if r.val_ppl is not None and r.val_ppl_model != r.val_ppl:
            val += f" (network alone {r.val_ppl_model:.2f})"
        _log(f"epoch {r.epoch:3d}  train ppl {r.train_ppl:8.2f}{val}  lr {r.lr:g}  "
             f"{r.chars_per_s:,.0f} chars/s  {r.elapsed:.0f} s{'  *best' if r.best else ''}")
        clip = self.cfg.train.clip
        _log(f"           gradient norm {r.grad_norm:.3g} on average before clipping; " +
             (f"{r.clipped:.0%} of the batches clipped to train.clip {clip:g}" if clip
              else "no clipping (train.clip 0)"), level=2)

    def stopped(self, epoch, reason):
        _log(f"stopping early after epoch {epoch}: {reason}")

    def samples(self, epoch, texts):
        for _, text in texts:
            _log("  - " + text.replace("\n", " / "))


def _time_left(seconds: float) -> str:
    """What the progress bar says of the epochs still to run (at most: early stopping may end
    the run sooner)."""
    if seconds < 90:
        return f"at most {max(seconds, 1):.0f} s left"
    if seconds < 90 * 60:
        return f"at most {seconds / 60:.0f} min left"
    return f"at most {seconds / 3600:.1f} h left"


@main.command("sample")
@_checkpoint_option
@click.option("--prefix", default=None, help="The text the lyrics start with.")
@click.option("--length", type=int, default=None,
              help="Characters to generate (default 100; with --lines, at most 2000).")
@click.option("--lines", type=int, default=None, help="Stop after N lyric lines.")
@click.option("--temperature", type=float, default=None,
              help="Sample with this temperature (> 0; higher is wilder). Without it: greedy, "
                   "the most likely character each time.")
@click.option("--top-k", default=0, show_default=True, help="Sample only from the k most likely (0: all).")
@click.option("--top-p", default=1.0, show_default=True,
              help="Sample only from the most likely characters whose probabilities sum to p.")
@click.option("--num-samples", default=1, show_default=True, help="How many samples to write.")
@click.option("--seed", default=0, show_default=True, help="Seed for sampling.")
@click.option("--stream/--no-stream", default=None,
              help="Print characters as they are generated (default: when stdout is a terminal).")
@click.option("--next", "next_k", type=int, default=None, metavar="K",
              help="Write nothing: show the K most likely characters after --prefix, with the "
                   "probability of each (as drawn with --temperature, --top-k, --top-p).")
@click.option("-i", "--interactive", is_flag=True,
              help="Ask for one prefix after another (\\n for a line break; Ctrl-D ends) and "
                   "write lyrics (or --next) for each, with these options; the model loads once.")
@_no_cache_option
@_device_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@_verbosity
def sample_command(checkpoint_path, prefix, length, lines, temperature, top_k, top_p, num_samples,
                   seed, stream, next_k, interactive, no_cache, device, as_json):
    """Write lyrics that start with --prefix."""
    import numpy as np

    from jaylyrics import InputError
    if prefix is None and not interactive:
        raise InputError("--prefix is missing: give the text the lyrics start with, e.g. "
                         "--prefix 分开 (or --interactive to type prefixes one after another)")
    if prefix == "":
        raise InputError("--prefix is empty: give at least one character, e.g. --prefix 分开")
    if interactive and as_json:
        raise InputError("--interactive writes as you type; --json is for scripts: drop one")
    if num_samples < 1:
        raise InputError(f"--num-samples {num_samples}: expected at least 1")
    if lines is not None and lines < 1:
        raise InputError(f"--lines {lines}: expected at least 1")
    if temperature is not None and not temperature > 0:
        raise InputError(f"--temperature {temperature}: expected a value > 0 (leave it out for "
                         "greedy decoding)")
    temperature = temperature or 0.0                         # 0: greedy
    if next_k is not None:
        writing = [name for name, given in (("--length", length is not None),
                                            ("--lines", lines is not None),
                                            ("--num-samples", num_samples != 1),
                                            ("--stream/--no-stream", stream is not None)) if given]
        if writing:
            raise InputError(f"--next writes no lyrics, so {', '.join(writing)} "
                             f"{'does' if len(writing) == 1 else 'do'} not apply; leave "
                             f"{'it' if len(writing) == 1 else 'them'} out or drop --next")
    if length is None:
        length = 100 if lines is None else 2000
    stream = sys.stdout.isatty() if stream is None else stream

    from jaylyrics import checkpoint, sample

    if device.strip().lower() not in ("auto", "cpu"):     # checked, as by the other commands;
        from jaylyrics import backend                      # but sampling runs in NumPy on the
        backend.device(device)                             # CPU, so MXNet is not imported
    ck = checkpoint.load(checkpoint_path)                  # (the weights as NumPy arrays)
    if prefix is not None:
        _check_prefix(ck.vocab, prefix)
    ck = _without_cache(ck) if no_cache else ck
    if next_k is not None:
        sample.check_next(next_k, len(ck.vocab))
        sample.check_options(0, temperature, top_k, top_p, len(ck.vocab))

        def write(text):
            _show_next(ck, text, next_k, temperature, top_k, top_p, as_json)
    else:
        if lines is not None and not ck.config.data.keep_newlines:
            raise InputError(f"--lines {lines}: {ck.path} was trained without line breaks "
                             "(data.keep_newlines false), so its lyrics have no lines; use --length")
        sample.check_options(length, temperature, top_k, top_p, len(ck.vocab))
        rng = np.random.RandomState(seed)              # one for all samples (and prefixes)

        def write(text):
            _write_samples(ck, text, length, lines, temperature, top_k, top_p, num_samples, seed,
                           rng, stream, as_json)
    if prefix is not None:
        write(prefix)
    if interactive:
        _ask_for_prefixes(ck.vocab, write)


def _write_samples(ck, prefix, length, lines, temperature, top_k, top_p, num_samples, seed, rng,
                   stream, as_json):
    """`sample`'s lyrics for one prefix: printed (streamed), or as one JSON object."""
    from jaylyrics import sample

    texts = []
    for i in range(num_samples):
        chars = sample.generate(ck.params, ck.config.model, ck.vocab, prefix, length,
                                temperature, top_k, top_p, rng)
        if lines is not None:
            chars = sample.until_lines(chars, prefix, lines)
        if not as_json and num_samples > 1:
            click.echo(f"--- sample {i + 1} ---")
        if stream and not as_json:
            click.echo(prefix, nl=False)
            generated = []
            for c in chars:
                generated.append(c)
                click.echo(c, nl=False)
                sys.stdout.flush()
            text = prefix + "".join(generated)
            click.echo("" if text.endswith("\n") else "\n", nl=False)
        else:
            text = prefix + "".join(chars)
            if not as_json:
                click.echo(text.rstrip("\n"))
        texts.append(text)
    if not temperature and sample.loops(texts[0][len(prefix):]):
        _log("note: greedy decoding repeats itself, as small character models do; "
             "for livelier lyrics try --temperature 0.8")
    if as_json:
        click.echo(json.dumps({"checkpoint": str(ck.path), "prefix": prefix, "samples": texts,
                               "temperature": temperature, "seed": seed,
                               "cache": ck.config.model.cache_size > 0}, ensure_ascii=False))


def _ask_for_prefixes(vocab, write) -> None:
    """sample --interactive: read prefixes until Ctrl-D, `write` for each; a prefix the model
    cannot read is said on stderr, and Ctrl-C while writing stops that sample: then the next
    prefix is asked for. Ctrl-C at the prompt ends the session like any interrupted command."""
    from jaylyrics import InputError

    while True:
        line = _read_prefix()
        if not line:                                  # Ctrl-D: the end of input
            click.echo("", err=True)
            return
        prefix = line.rstrip("\r\n")
        if not prefix:
            continue
        prefix = prefix.replace("\\n", "\n")          # a line break cannot be typed at a prompt
        try:
            _check_prefix(vocab, prefix, "the prefix")
        except InputError as e:
            _log(f"Error: {e}")
            continue
        try:
            write(prefix)
        except KeyboardInterrupt:
            click.echo("")
            _log("(stopped)")


_PROMPT = "prefix> "


def _read_prefix() -> str:
    """One line typed at the prompt, with its line break; '' at the end of input.

    In a terminal (stdin and stdout both one), Python's `input` with readline: the arrow keys
    edit the line and go back through earlier prefixes. Otherwise (input from a pipe or a
    file, or the lyrics going to a file) the prompt goes to stderr and stdin is read as it is,
    so stdout holds nothing but lyrics. (Not click.prompt: click 8.1's test runner answers ""
    at the end of input, forever.)"""
    if sys.stdin.isatty() and sys.stdout.isatty():
        try:
            import readline  # noqa: F401  (importing it gives `input` line editing and history)
        except ImportError:                           # a Python built without it: plain input
            pass
        try:
            return input(_PROMPT) + "\n"
        except EOFError:
            return ""
    click.echo(_PROMPT, nl=False, err=True)
    return sys.stdin.readline()


def _without_cache(ck):
    """The loaded checkpoint as its network alone (--no-cache): model.cache_size 0."""
    model_cfg = dataclasses.replace(ck.config.model, cache_size=0)
    return dataclasses.replace(ck, config=dataclasses.replace(ck.config, model=model_cfg))


def _check_prefix(vocab, prefix: str, what: str = "--prefix") -> None:
    """Every character of --prefix in the vocabulary, or an error naming the others; a typed
    backslash-n gets a word on how a shell passes a line break."""
    from jaylyrics import InputError

    try:
        vocab.encode(prefix, what)
    except InputError as e:
        if "\\n" not in prefix or what != "--prefix":
            raise
        raise InputError(f"{e} (\\n is two characters here; for a line break in bash, write "
                         f"--prefix $'{prefix}')") from None


def _show_next(ck, prefix, k, temperature, top_k, top_p, as_json):
    """sample --next K: the K most likely next characters after `prefix`, one per line."""
    from jaylyrics import sample

    model_cfg = ck.config.model
    ranked = sample.next_chars(ck.params, model_cfg, ck.vocab, prefix, k, temperature,
                               top_k, top_p)
    if as_json:
        click.echo(json.dumps({"checkpoint": str(ck.path), "prefix": prefix,
                               "temperature": temperature, "top_k": top_k, "top_p": top_p,
                               "cache": model_cfg.cache_size > 0,
                               "next": [{"char": c, "p": p, "p_network": q} for c, p, q in ranked]},
                              ensure_ascii=False))
        return
    changed = [what for what, on in (("the cache", model_cfg.cache_size > 0),
                                     ("the temperature", temperature > 0)) if on]
    if temperature:
        _log(f"after {prefix!r}, drawn at temperature {temperature:g}"
             + (f", top-k {top_k}" if top_k else "") + (f", top-p {top_p:g}" if top_p < 1 else ""))
    else:
        _log(f"after {prefix!r}, the most likely first (greedy takes it)")
    if changed:
        _log(f"(in brackets: the network's own probability, before {' and '.join(changed)})")
    for rank, (c, p, q) in enumerate(ranked, 1):
        shown = repr(c)                           # quoted, and a line break shows as '\n'
        pad = " " * (6 - sum(2 if unicodedata.east_asian_width(x) in "WF" else 1 for x in shown))
        click.echo(f"{rank:3d}  {shown}{pad} {p:6.3f}" + (f"  ({q:.3f})" if changed else ""))


@main.command("eval")
@_checkpoint_option
@click.option("--split", type=click.Choice(["train", "val"]), default="val", show_default=True,
              help="Which part of the checkpoint's corpus to score.")
@click.option("--text", "text_path", type=click.Path(path_type=Path), default=None,
              help="Score this UTF-8 text file (or a zip or directory of them, or - for "
                   "standard input) instead of a split.")
@click.option("--per-line", is_flag=True,
              help="Score each line on its own, sorted: which lines sound most like the lyrics.")
@click.option("--skip-unknown", is_flag=True,
              help="Leave out the lines of --text that have characters the model has never seen "
                   "(and say how many), instead of stopping.")
@_no_cache_option
@_device_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_verbosity
def eval_command(checkpoint_path, split, text_path, per_line, skip_unknown, no_cache, device,
                 as_json):
    """Perplexity of a checkpoint on held-out lyrics (or on any text)."""
    from jaylyrics import InputError, backend, checkpoint, corpus, train as train_mod

    ctx = backend.device(device)
    ck = checkpoint.load(checkpoint_path, ctx)
    ck = _without_cache(ck) if no_cache else ck
    if text_path is not None and str(text_path) == "-":
        source = "standard input"
        text = corpus.decode(click.get_binary_stream("stdin").read(), source)
        if not text.strip():
            raise InputError("--text -: standard input is empty; pipe the lines to score into it")
    elif text_path is not None:
        text = corpus.read_text(text_path, key="--text")
        source = str(text_path)
    else:
        data_cfg = checkpoint.data_config(ck)
        data = corpus.load(data_cfg)
        text = data.val if split == "val" else data.train
        source = f"{data_cfg.corpus} ({split} split)"
        if not text:
            raise JaylyricsError(f"{source} is empty (data.val_fraction is 0 in this checkpoint's "
                                 "config): use --split train or --text FILE")
    left_out = None
    if skip_unknown:
        text, left_out = _known_lines(ck.vocab, text, source)
    # a model trained without line breaks reads them as spaces (--per-line still splits lines)
    flat = text if ck.config.data.keep_newlines else text.replace("\n", " ")
    try:
        ids = ck.vocab.encode(flat, source)
    except InputError as e:
        raise InputError(f"{e}; --skip-unknown leaves out the lines that have them") from None
    if per_line:
        return _eval_per_line(ck, text, source, ctx, as_json, left_out)
    if len(ids) < 2:
        raise JaylyricsError(f"{source}: needs at least two characters to score")
    score = train_mod.evaluate(ck.params, ids, ck.config.model, ctx)
    result = {"checkpoint": str(ck.path), "source": source, "perplexity": score.perplexity,
              "nll": score.nll, "chars": score.chars, "perplexity_model": score.perplexity_model,
              "epoch": ck.meta.get("epoch"), "cache": ck.config.model.cache_size > 0}
    if left_out is not None:
        result["lines_left_out"] = left_out
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        alone = (f"; the network alone {score.perplexity_model:.2f}"
                 if score.nll_model != score.nll else "; the network alone" if no_cache else "")
        click.echo(f"perplexity {score.perplexity:.2f} (mean NLL {score.nll:.4f} nats over "
                   f"{score.chars:,} character{'s' * (score.chars != 1)}{alone}) on {source}, "
                   f"checkpoint {ck.path}")


def _known_lines(vocab, text: str, source: str) -> tuple[str, int]:
    """`text` without the lines that have characters outside `vocab`, and how many those were
    (said on stderr too)."""
    unknown = vocab.unknown(text)
    lines = text.split("\n")
    bad = set(unknown)
    kept = [line for line in lines if bad.isdisjoint(line)]
    left_out = len(lines) - len(kept)
    shown = " ".join(repr(c) for c in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
    if not "".join(kept).strip():                       # the error alone, on one line
        raise JaylyricsError(f"{source}: every line has characters outside the model's "
                             f"vocabulary: {shown}")
    if left_out:
        _log(f"left out {left_out} line(s) of {source} with characters not in the model's "
             f"vocabulary: {shown}")
    return "\n".join(kept), left_out


def _eval_per_line(ck, text, source, ctx, as_json, left_out=None):
    """Each non-empty line scored from a fresh state as it would start a lyric line: the
    line and its end, after a line break."""
    from jaylyrics import train as train_mod

    sep = "\n" if ck.config.data.keep_newlines else " "
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        raise JaylyricsError(f"{source}: no non-empty line to score")
    scored = []
    for line in lines:
        score = train_mod.evaluate(ck.params, ck.vocab.encode(sep + line + sep), ck.config.model,
                                   ctx)
        scored.append({"line": line, "perplexity": score.perplexity, "chars": score.chars})
    scored.sort(key=lambda r: r["perplexity"])
    if as_json:
        result = {"checkpoint": str(ck.path), "source": source, "lines": scored,
                  "cache": ck.config.model.cache_size > 0}
        if left_out is not None:
            result["lines_left_out"] = left_out
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        for r in scored:
            click.echo(f"{r['perplexity']:10.2f}  {r['line']}")


@main.command("runs")
@click.option("--dir", "runs_dir", type=click.Path(path_type=Path), default=Path("runs"),
              show_default=True, help="Where the runs are.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_verbosity
def runs_command(runs_dir, as_json):
    """List the trained runs: model, size, best perplexity, epochs, status, date."""
    from jaylyrics import checkpoint

    runs = checkpoint.list_runs(runs_dir)
    if as_json:
        click.echo(json.dumps({"runs": runs}, ensure_ascii=False))
        return
    if not runs:
        click.echo(f"no runs in {runs_dir}")
        return
    click.echo(f"{'':1} {'run':<24} {'model':<14} {'params':>10} {'best ppl':>9} {'network':>8} "
               f"{'at':>4} {'epochs':>6}  {'status':<13}  saved")
    for r in runs:
        best = f"{r['best']:.2f}" if r["best"] is not None else "-"
        alone = f"{r['best_model']:.2f}" if r.get("best_model") is not None else "-"
        click.echo(f"{'*' if r['latest'] else ' '} {r['name']:<24} {r['model']:<14} "
                   f"{r['params']:>10,} {best:>9} {alone:>8} {r['best_epoch'] or '-':>4} "
                   f"{r['epochs']:>6}  {r['status']:<13}  {r['saved']}"
                   + (f"  (fine-tuned from {r['init_from']})" if r.get("init_from") else ""))
    if any(r["latest"] for r in runs):
        _log("* runs/latest (what sample and eval use without --checkpoint)")


@main.command("launch", context_settings={"ignore_unknown_options": True,
                                          "allow_interspersed_args": False})
@click.option("-n", "--workers", default=2, show_default=True, help="Worker processes.")
@click.option("-s", "--servers", default=1, show_default=True, help="Parameter-server processes.")
@click.option("--timeout", default=3600.0, show_default=True,
              help="Stop everything if the workers have not finished after this many seconds.")
@click.argument("train_args", nargs=-1, type=click.UNPROCESSED)
@_verbosity
def launch_command(workers, servers, timeout, train_args):
    """Run `train` as WORKERS data-parallel processes on this machine (dist_sync).

    \b
      jaylyrics launch -n 2 -- train --config configs/default.yaml --set train.batch_size=16
    """
    from jaylyrics import launch

    args = list(train_args) + {0: ["-q"], 1: [], 2: ["-v"]}[_VERBOSITY["level"]]
    code = launch.run(workers, servers, args, timeout, sink=click.get_text_stream("stderr"))
    if code:
        sys.exit(code)


@main.command("plot")
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="The PNG to write (default: RUN/perplexity.png for one run, "
                   "perplexity.png for several).")
@_verbosity
def plot_command(runs, out):
    """Draw train and val perplexity per epoch of one or more runs (default: runs/latest)."""
    from jaylyrics import checkpoint, plot

    if not runs:
        latest = checkpoint.latest_run()
        if latest is None:
            raise JaylyricsError("no run given and no runs/latest here: jaylyrics plot RUN...")
        runs = (latest,)
    out = out or (Path(runs[0]) / "perplexity.png" if len(runs) == 1 else Path("perplexity.png"))
    plot.write_png([Path(r) for r in runs], out)
    click.echo(str(out))
