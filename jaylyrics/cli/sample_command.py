"""`jaylyrics sample`: lyrics from a prefix (streamed, several, as JSON), the next characters'
probabilities (--next), or prefix after prefix as typed (--interactive). Imports no MXNet: the
weights are read and run in NumPy."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from jaylyrics import windows_path
from jaylyrics.cli.app import (cache_set_option, check_device, checkpoint_option, echo_json, log,
                               main, no_cache_option, note_cache_edits, numpy_device_option,
                               only_one, quoted, shell_word, stdin_text, typed, verbosity)


@main.command("sample")
@checkpoint_option
@click.option("--prefix", "prefixes", multiple=True,
              help="The text the lyrics start with (given more than once: lyrics for each, one "
                   "after another). Without it, they start a lyric line of their own.")
@click.option("--prefix-file", "prefix_files", type=click.Path(path_type=Path), multiple=True,
              help="Start with the text of this file instead (a verse to go on from, line "
                   "breaks and all; - for standard input).")
@click.option("--length", type=int, default=None,
              help="Characters to generate (default 100; with --lines, at most 2000).")
@click.option("--lines", type=int, default=None, help="Stop after N lyric lines.")
@click.option("--temperature", type=float, default=None,
              help="Sample with this temperature (> 0; higher is wilder). Without it: greedy, "
                   "the most likely character each time.")
@click.option("--top-k", default=0, show_default=True,
              help="Sample only from the k most likely (0: all).")
@click.option("--top-p", default=1.0, show_default=True,
              help="Sample only from the most likely characters whose probabilities sum to p.")
@click.option("--no-repeat-ngram-size", "no_repeat", default=0, show_default=True, metavar="N",
              help="Never write a piece of N characters that the text (prefix included) "
                   "already holds: greedy decoding without its loops, e.g. 4 (0: off).")
@click.option("--num-samples", default=1, show_default=True, help="How many samples to write.")
@click.option("--seed", default=0, show_default=True, help="Seed for sampling.")
@click.option("--stream/--no-stream", default=None,
              help="Print characters as they are generated (default: when stdout is a terminal).")
@click.option("--next", "next_k", type=int, default=None, metavar="K",
              help="Write nothing: show the K most likely characters after --prefix, with the "
                   "probability of each (as drawn with --temperature, --top-k, --top-p, "
                   "--no-repeat-ngram-size).")
@click.option("-i", "--interactive", is_flag=True,
              help="Ask for one prefix after another (\\n for a line break; an empty line for "
                   "none; Ctrl-D or exit ends) and write lyrics (or --next) for each, with these "
                   "options; the model loads once.")
@cache_set_option
@no_cache_option
@numpy_device_option("sample writes")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@verbosity
def sample_command(checkpoint_paths, prefixes, prefix_files, length, lines, temperature, top_k,
                   top_p, no_repeat, num_samples, seed, stream, next_k, interactive,
                   cache_overrides, no_cache, device, as_json):
    """Write lyrics that start with --prefix (or a file's text, or a line of their own)."""
    import numpy as np

    from jaylyrics import InputError
    prefix_file = only_one(prefix_files, "--prefix-file", "give one")
    if prefix_file is not None and (prefixes or interactive):
        raise InputError("--prefix-file gives the prefix: drop "
                         + ("--prefix" if prefixes else "--interactive"))
    if "" in prefixes:
        raise InputError("--prefix is empty: give at least one character, e.g. --prefix 分开 "
                         "(or leave --prefix out: the lyrics then start a line of their own)")
    if not prefixes and prefix_file is None and not interactive:
        prefixes = ("",)                        # no prefix: the model reads `_line_start` first
    if len(prefixes) > 1 and as_json:
        raise InputError(f"--json prints one object, for one prefix (--prefix was given "
                         f"{len(prefixes)} times): run sample once for each")
    if interactive and as_json:
        raise InputError("--interactive writes as you type; --json is for scripts: drop one")
    if stream and as_json:
        raise InputError("--stream prints characters as they come; --json prints one object at "
                         "the end: drop one")
    if num_samples < 1:
        raise InputError(f"--num-samples {num_samples}: expected at least 1")
    from jaylyrics.config import MAX_SEED
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"--seed {seed}: expected 0 to {MAX_SEED}")
    if lines is not None and lines < 1:
        raise InputError(f"--lines {lines}: expected at least 1")
    if temperature is not None and not 0 < temperature < float("inf"):
        raise InputError(f"--temperature {temperature}: expected a finite value > 0 (leave it "
                         "out for greedy decoding)")
    if next_k is not None:
        writing = [name for name, given in (("--length", length is not None),
                                            ("--lines", lines is not None),
                                            ("--num-samples", num_samples != 1),
                                            ("--stream/--no-stream", stream is not None)) if given]
        if writing:
            raise InputError(f"--next writes no lyrics, so {', '.join(writing)} "
                             f"{'does' if len(writing) == 1 else 'do'} not apply; leave "
                             f"{'it' if len(writing) == 1 else 'them'} out or drop --next")
    elif num_samples > 1 and temperature is None:
        raise InputError(f"--num-samples {num_samples}: greedy decoding (no --temperature) writes "
                         "the same lyrics every time; add --temperature, e.g. 0.8, for different "
                         "ones")
    temperature = temperature or 0.0                         # 0: greedy
    if length is None:
        length = 100 if lines is None else 2000
    stream = sys.stdout.isatty() if stream is None else stream

    from jaylyrics import checkpoint, sample

    check_device(device)
    nets = checkpoint.load_networks(checkpoint_paths, no_cache, cache_overrides)  # (NumPy)
    ck = nets.ck
    note_cache_edits(ck, cache_overrides, no_cache, "sample")
    if prefix_file is not None:                   # (read as the run's corpus was)
        prefixes = (_read_prefix_file(prefix_file, ck.config.data),)
    what = f"--prefix-file {prefix_file}" if prefix_file else "--prefix"
    prefixes = [_as_read(ck, prefix, what) for prefix in prefixes]     # all, before any is written
    if next_k is not None:
        sample.check_next(next_k, len(ck.vocab))
        sample.check_options(0, temperature, top_k, top_p, len(ck.vocab), no_repeat)
        write = functools.partial(_show_next, nets, k=next_k, temperature=temperature,
                                  top_k=top_k, top_p=top_p, no_repeat=no_repeat, as_json=as_json)
    else:
        if lines is not None and not ck.config.data.keep_newlines:
            raise InputError(f"--lines {lines}: {ck.path} was trained without line breaks "
                             "(data.keep_newlines false), so its lyrics have no lines; use "
                             "--length")
        sample.check_options(length, temperature, top_k, top_p, len(ck.vocab), no_repeat)
        write = functools.partial(
            _write_samples, nets, length=length, lines=lines, temperature=temperature, top_k=top_k,
            top_p=top_p, no_repeat=no_repeat, num_samples=num_samples, seed=seed, stream=stream,
            as_json=as_json,
            rng=np.random.RandomState(seed),               # one for all samples (and prefixes)
            said=set())                                    # notes given once per session
    for i, prefix in enumerate(prefixes):
        if i:
            click.echo("")                                 # a blank line between them
        write(prefix)
    if interactive:
        _ask_for_prefixes(functools.partial(_as_read, ck, what="the prefix"), write)


def _write_samples(nets, prefix, *, length, lines, temperature, top_k, top_p, no_repeat,
                   num_samples, seed, rng, stream, as_json, said):
    """`sample`'s lyrics for one prefix: printed (streamed), or as one JSON object."""
    from jaylyrics import sample

    ck = nets.ck
    texts, start = [], prefix or _line_start(ck)
    for i in range(num_samples):
        chars = sample.generate(ck.params, ck.config.model, ck.vocab, start, length,
                                temperature, top_k, top_p, rng, nets.others, no_repeat)
        if lines is not None:
            chars = sample.until_lines(chars, prefix, lines)
        if not as_json and num_samples > 1:
            click.echo(f"--- sample {i + 1} ---")
        shown = stream and not as_json                    # each character as it comes
        if shown:
            click.echo(prefix, nl=False)
        generated = []
        try:
            for c in chars:
                generated.append(c)
                if shown:
                    click.echo(c, nl=False)
                    sys.stdout.flush()
        except KeyboardInterrupt:     # Ctrl-C: what was generated is written, as on a terminal
            if not as_json:
                _end(prefix + "".join(generated), shown)
            raise
        text = prefix + "".join(generated)
        if not as_json:
            _end(text, shown)
        texts.append(text)
    if not (temperature or no_repeat) and sample.loops(texts[0][len(prefix):]) \
            and "loops" not in said:
        said.add("loops")                              # (once, also for many prefixes with -i)
        log("note: greedy decoding repeats itself, as small character models do; "
            "for livelier lyrics try --temperature 0.8, or --no-repeat-ngram-size 4 to stay "
            "greedy without the loops")
    elif temperature:
        _say_if_drawn_samples_loop(texts, prefix, temperature, ck.config.model.cache_size, said)
    if as_json:
        echo_json({**nets.json_fields(), "prefix": prefix, "samples": texts,
                   "temperature": temperature, "top_k": top_k, "top_p": top_p,
                   "no_repeat_ngram_size": no_repeat, "seed": seed,
                   "cache": ck.config.model.cache_size > 0})


def _end(text: str, shown: bool) -> None:
    """Write a sample's `text` (or, `shown` already, its last line break)."""
    if shown:
        click.echo("" if text.endswith("\n") else "\n", nl=False)
    else:
        click.echo(text.rstrip("\n"))


def _say_if_drawn_samples_loop(texts, prefix, temperature, cache_size, said) -> None:
    """A note (once a session) when samples drawn with a temperature end in a run that feeds
    itself: ten of one character (a code model's indentation, 霍霍霍...), five of a pair, ...;
    the cache lifts what was just written, and a low temperature sharpens that."""
    from jaylyrics import sample

    if "drawn loops" in said:
        return
    pieces = [sample.repeated_end(text[len(prefix):], span=10) for text in texts]
    looping = [piece for piece in pieces if piece]
    if not looping:
        return
    said.add("drawn loops")
    what = ("the sample ends" if len(texts) == 1 else
            f"all {len(texts)} samples end" if len(looping) == len(texts) else
            f"{len(looping)} of the {len(texts)} samples "
            f"{'ends' if len(looping) == 1 else 'end'}")
    why = ": the cache lifts what was just written, so a loop feeds itself" if cache_size else ""
    tries = (["--no-cache"] if cache_size else []) + \
        (["a higher --temperature"] if temperature < 1 else []) + ["--no-repeat-ngram-size 4"]
    advice = " or ".join(filter(None, (", ".join(tries[:-1]), tries[-1])))
    log(f"note: {what} in a loop ({looping[0]!r} over and over){why}; try {advice}")


def _ask_for_prefixes(as_read, write) -> None:
    """sample --interactive: read prefixes until Ctrl-D (or a line that says exit, quit, /bye,
    ...), `write` each as the model reads it (`as_read`; an empty line as no prefix: lyrics that
    start a line of their own); a prefix the model cannot read is said on stderr (/help: how
    the prompt works), and Ctrl-C while writing stops that sample: then
    the next prefix is asked for. Ctrl-C at the prompt ends the session like any interrupted
    command."""
    from jaylyrics import InputError

    while True:
        line = _read_prefix()
        if not line:                                  # Ctrl-D: the end of input
            click.echo("", err=True)
            return
        # a line break cannot be typed at a prompt; an empty line: a line of their own
        prefix = line.rstrip("\r\n").replace("\\n", "\n")
        word = prefix.strip().lower()
        if word in _QUIT:                             # as other prompts end (--prefix exit
            return                                    # writes lyrics that start with it)
        try:
            if word[:1] in ":/." and word[1:] in _HELP:
                raise InputError(f"{word}: there are no commands here, every line is a prefix "
                                 "(\\n types a line break; Enter alone asks for a line of "
                                 "their own); Ctrl-D or exit ends")
            prefix = as_read(prefix)
        except InputError as e:                       # (said with -q too: not progress)
            log(f"Error: {e}", level=0)
            continue
        try:
            write(prefix)
        except InputError as e:           # (an empty line, for a model with no line start)
            log(f"Error: {e}", level=0)
        except KeyboardInterrupt:                     # (what was written ends its line)
            log("(stopped)")


_PROMPT = "prefix> "
_QUIT = {"exit", "quit", ":q", "/exit", "/quit", "/bye", ".exit", ".quit"}
_HELP = {"help", "h", "?"}                  # after : / or . (help alone may be a prefix)


def _read_prefix_file(path: Path, data_cfg) -> str:
    """--prefix-file: the file's text (UTF-8, or UTF-16 with its byte-order mark, or else in the
    run's data.encoding, as a corpus file; an .lrc file's lyrics, and with the run's
    data.lrc_in_txt a timed .txt file's), or standard input's for -; not empty."""
    from jaylyrics import InputError, reading

    if str(path) != "-":
        reading.not_a_document(path)                     # (a .docx is a zip too)
        archive = reading.archive_kind(path)
        if archive:
            raise InputError(f"--prefix-file {path}: {archive}; a prefix is one text: unpack it "
                             "and give one of its files")
    if str(path) == "-":
        text = stdin_text("--prefix-file -")
    else:
        try:
            text = reading.file_text(path.read_bytes(), str(path), data_cfg.encoding,
                                     lrc_in_txt=data_cfg.lrc_in_txt)         # (.lrc: lyrics)
        except IsADirectoryError:
            raise InputError(f"--prefix-file {path}: a directory; expected a text file") from None
        except FileNotFoundError:
            words = reading.looks_like_words(str(path))          # (the text, not a file name)
            raise InputError(f"--prefix-file {path}: no such file" + (
                f"; to start with these words: --prefix {shell_word(str(path))}" if words
                else windows_path(path))) from None
    if not text:
        raise InputError(f"--prefix-file {path}: empty; give at least one character")
    return text


def _read_prefix() -> str:
    """One line typed at the prompt, with its line break; '' at the end of input.

    In a terminal (stdin and stdout both one), Python's `input` with readline: the arrow keys
    edit the line and go back through earlier prefixes. Otherwise (input from a pipe or a
    file, or the lyrics going to a file) the prompt goes to stderr and stdin is read as it is,
    so stdout holds nothing but lyrics. (Not click.prompt: click 8.1's test runner answers ""
    at the end of input, forever.) Bytes that are not UTF-8 come as lone surrogates, in any
    locale; a closed standard input (`<&-`) is the end of input."""
    if sys.stdin is None:
        return ""
    if sys.stdin.isatty() and sys.stdout.isatty():
        try:
            import readline  # noqa: F401  (importing it gives `input` line editing and history)
        except ImportError:                           # a Python built without it: plain input
            pass
        try:
            return input(_PROMPT) + "\n"
        except EOFError:
            return ""
        except UnicodeDecodeError as e:           # not UTF-8, in a locale that does not let
            return e.object.decode("utf-8", "surrogateescape") + "\n"  # through: `typed` says so
    click.echo(_PROMPT, nl=False, err=True)
    return sys.stdin.buffer.readline().decode("utf-8", "surrogateescape")


def _as_read(ck, prefix: str, what: str = "--prefix") -> str:
    """The prefix as the checkpoint's model reads it: its line breaks as spaces if it was trained
    without them (data.keep_newlines false), as `eval` reads a text; every character must be in
    the vocabulary, or an error names the others (a typed backslash-n gets a word on how a shell
    passes a line break, a run trained on part of its corpus a word on data.max_chars)."""
    from jaylyrics import InputError, corpus

    prefix = corpus.as_read(typed(prefix, what), ck.config.data.keep_newlines)
    read_at_most = ck.config.data.max_chars
    try:
        ck.vocab.encode(prefix, what)
    except InputError as e:
        if "\\n" in prefix and what == "--prefix":
            raise InputError(f"{e} (\\n is two characters here; for a line break in bash, write "
                             f"--prefix $'{prefix}')") from None
        parts = corpus.comma_separated(ck.vocab, prefix) if what == "--prefix" else None
        if parts:
            raise InputError(f"{e}; several prefixes are one --prefix each: "
                             f"{' '.join('--prefix ' + shell_word(p) for p in parts)}") from None
        if read_at_most:
            raise InputError(f"{e}; the run read at most the first {read_at_most:,} characters "
                             "of its corpus (data.max_chars)") from None
        raise
    return prefix


def _line_start(ck) -> str:
    """What the model reads first when `sample` has no prefix: a line break (a space, for a model
    trained without them), so that the lyrics start as a lyric line does. Not written out."""
    from jaylyrics import InputError

    for start in ("\n", " "):
        if start in ck.vocab.index:
            return start
    raise InputError(f"--prefix is missing, and {ck.path}'s vocabulary has neither a line break "
                     "nor a space to start a line from: give the text the lyrics start with")


def _show_next(nets, prefix, *, k, temperature, top_k, top_p, no_repeat, as_json):
    """sample --next K: the K most likely next characters after `prefix`, one per line."""
    from jaylyrics import counted, sample

    ck, model_cfg = nets.ck, nets.ck.config.model
    ranked = sample.next_chars(ck.params, model_cfg, ck.vocab, prefix or _line_start(ck), k,
                               temperature, top_k, top_p, nets.others, no_repeat)
    if as_json:
        echo_json({**nets.json_fields(), "prefix": prefix,
                   "temperature": temperature, "top_k": top_k, "top_p": top_p,
                   "no_repeat_ngram_size": no_repeat, "cache": model_cfg.cache_size > 0,
                   "next": [{"char": c, "p": p, "p_network": q} for c, p, q in ranked]})
        return
    changed = [what for what, on in (("the cache", model_cfg.cache_size > 0),
                                     ("the n-gram block", no_repeat > 0),
                                     ("the temperature", temperature > 0)) if on]
    blocked = (f", none that would repeat a piece of {counted(no_repeat, 'character')}"
               if no_repeat else "")
    after = repr(prefix) if prefix else "the start of a line (no --prefix)"
    if temperature:
        log(f"after {after}, drawn at temperature {temperature:g}"
            + (f", top-k {top_k}" if top_k else "") + (f", top-p {top_p:g}" if top_p < 1 else "")
            + blocked)
    else:
        log(f"after {after}, the most likely first (greedy takes it){blocked}")
    if changed:
        own = "the networks' mean probability" if nets.rest else "the network's own probability"
        log(f"(in brackets: {own}, before {', '.join(changed[:-1])}"
            f"{' and ' if len(changed) > 1 else ''}{changed[-1]})")
    for rank, (c, p, q) in enumerate(ranked, 1):
        click.echo(f"{rank:3d}  {quoted(c)} {p:6.3f}" + (f"  ({q:.3f})" if changed else ""))
