"""`jaylyrics eval`: the perplexity of a checkpoint on its corpus's held-out lyrics, on a text
file or on standard input, as a whole, line by line or character by character. The network runs
in NumPy (`score`), as for `sample`: no MXNet is loaded."""

from __future__ import annotations

import os
from pathlib import Path

import click

from jaylyrics import JaylyricsError, counted
from jaylyrics.cli.app import (check_device, checkpoint_option, echo_json, log, main,
                               no_cache_option, note_cache_edits, numpy_device_option, only_one,
                               progress_bar, quoted, stdin_text, verbosity)
from jaylyrics.cli.completion import eval_keys


@main.command("eval")
@checkpoint_option
@click.option("--split", type=click.Choice(["train", "val"]), default=None,
              help="Which part of the checkpoint's corpus to score (default: val).")
@click.option("--text", "text_paths", type=click.Path(path_type=Path), multiple=True,
              help="Score this text file (or a zip or directory of them, or - for standard "
                   "input) instead of a split: UTF-8, or as the run's data.encoding reads it.")
@click.option("--per-line", is_flag=True,
              help="Score each line on its own, sorted: which lines sound most like the lyrics.")
@click.option("--per-char", is_flag=True,
              help="Also list every character with its probability and the likeliest character "
                   "in its place: where the model is surprised.")
@click.option("--skip-unknown", is_flag=True,
              help="Leave out the lines of --text that have characters the model has never seen "
                   "(and say how many), instead of stopping.")
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", shell_complete=eval_keys,
    help="Read the network with other cache settings than it was trained with, e.g. --set "
         "model.cache_weight=0.08 (model.cache_* keys: the cache has no trained weights), or "
         "its corpus from where it is now: --set data.corpus=PATH (repeatable).")
@no_cache_option
@numpy_device_option("eval scores")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@verbosity
def eval_command(checkpoint_paths, split, text_paths, per_line, per_char, skip_unknown,
                 overrides, no_cache, device, as_json):
    """Perplexity of a checkpoint on held-out lyrics (or on any text)."""
    from jaylyrics import InputError, checkpoint, config as config_mod, corpus, reading
    from jaylyrics import score as score_mod

    text_path = only_one(text_paths, "--text", "give one (the files of a directory or a zip "
                         "are scored as one text)")

    if per_line and per_char:
        raise InputError("--per-line and --per-char: choose one (--per-char scores the text as "
                         "one, --per-line each line on its own)")
    if split and text_path is not None:
        raise InputError(f"--split {split} and --text: choose one (--split scores a part of the "
                         "checkpoint's corpus, --text a file)")
    if skip_unknown and text_path is None:
        raise InputError("--skip-unknown applies to --text (the checkpoint's own corpus has no "
                         "unknown characters): give --text FILE or drop it")
    moved = [item for item in overrides if config_mod.parse_override(item)[0] == "data.corpus"]
    if moved and text_path is not None:
        raise InputError(f"--set {moved[-1]} and --text: choose one (data.corpus is where the "
                         "checkpoint's corpus is, for its split; --text scores a file of its own)")
    split = split or "val"
    check_device(device)
    nets = checkpoint.load_networks(checkpoint_paths, no_cache, overrides,       # (NumPy)
                                    allowed=("model.cache_", "data.corpus"))
    ck = nets.ck
    note_cache_edits(ck, overrides, no_cache, "eval")
    changed = ""
    if text_path is not None and str(text_path) == "-":
        source = "standard input"
        text = stdin_text("--text -")
        if not text.strip():
            raise InputError("--text -: standard input is empty; pipe the lines to score into it")
    elif text_path is not None:
        text = reading.read_text(text_path, "--text", ck.config.data.encoding,  # as its corpus
                                 ck.config.data.lrc_in_txt)
        source = str(text_path)
    else:
        text, source, changed = _split(ck, split, bool(moved))
    left_out = None
    if skip_unknown:
        text, left_out = _known_lines(ck.vocab, text, source)
    # a model trained without line breaks reads them as spaces (--per-line still splits lines)
    flat = corpus.as_read(text, ck.config.data.keep_newlines)
    try:
        ids = ck.vocab.encode(flat, source)
    except InputError as e:
        if text_path is None:                          # a corpus that has changed
            raise InputError("; ".join(filter(None, (str(e), changed)))) from None
        raise InputError(f"{e}{_read_in_part(ck, text_path)}; --skip-unknown leaves out the "
                         "lines that have them") from None
    if changed:
        log(f"note: {changed}: its {split} split is not the one the run was "
            f"{'scored' if split == 'val' else 'trained'} on")
    if per_line:
        return _eval_per_line(nets, text, source, as_json, no_cache, left_out)
    if len(ids) < 2:
        raise JaylyricsError(f"{source}: {counted(len(ids), 'character')}; needs at least two "
                             "to score (each is scored given the ones before it: the first has "
                             "none)")
    chars = None
    bar = progress_bar(len(ids) - 1, "scoring")
    if per_char:
        chars = score_mod.per_char(ck.params, ids, ck.config.model, others=nets.others,
                                   progress=bar.update)
        score = score_mod.from_chars(chars)
    else:
        score = score_mod.evaluate(ck.params, ids, ck.config.model, others=nets.others,
                                   progress=bar.update)
    bar.close()
    result = {**nets.json_fields(), "source": source, "perplexity": score.perplexity,
              "nll": score.nll, "chars": score.chars, "perplexity_model": score.perplexity_model,
              "epoch": ck.meta.get("epoch"), "cache": ck.config.model.cache_size > 0}
    if left_out is not None:
        result["lines_left_out"] = left_out
    if chars is not None:
        _show_chars(nets, chars, result, as_json)
    if as_json:
        echo_json(result)
    else:
        alone = _alone(nets, score, no_cache)
        click.echo(f"perplexity {score.perplexity:.2f} (mean NLL {score.nll:.4f} nats over "
                   f"{counted(score.chars, 'character')}{alone}) on {source}, "
                   f"checkpoint{'s' * bool(nets.rest)} {nets.name()}")


def _read_in_part(ck, text_path: Path) -> str:
    """When --text is the run's own corpus, of which it read only the first data.max_chars
    characters (so the rest may hold characters its vocabulary has not): a word that says so."""
    from jaylyrics import checkpoint

    data = checkpoint.data_config(ck)
    try:
        own = data.max_chars and os.path.samefile(text_path, data.corpus)
    except OSError:                              # the corpus is not where the config says
        own = False
    return (f"; the run read only its first {data.max_chars:,} characters (data.max_chars)"
            if own else "")


def _split(ck, split: str, moved: bool) -> tuple[str, str, str]:
    """The text of the `split` of the checkpoint's corpus, where the run says it is or, if
    `moved` (--set data.corpus), where the checkpoint's config now says; its name; and, if it is
    not the text the run was trained on, a word that says so (else '')."""
    from jaylyrics import checkpoint, corpus

    if moved:
        data_cfg = ck.config.data
    else:
        data_cfg = checkpoint.data_config(ck)
        checkpoint.corpus_gone(ck, data_cfg, f", which the {split} split is read from",
                               "give its new place with --set data.corpus=PATH, or score a text "
                               "of your own with --text FILE")
    data = corpus.load(data_cfg)
    text = data.val if split == "val" else data.train
    source = f"{data_cfg.corpus} ({split} split)"
    if not text:
        raise JaylyricsError(f"{source} is empty (data.val_fraction is 0 in this checkpoint's "
                             "config): use --split train or --text FILE")
    changed = (f"{data_cfg.corpus} is not the text {ck.path.parent} was trained on (it has "
               "changed, or it is another)") if checkpoint.corpus_changed(ck, data) else ""
    return text, source, changed


def _alone(nets, score, no_cache: bool) -> str:
    """What a summary line says of the network(s) without the cache: its perplexity, or, with
    --no-cache, that the number before is already theirs alone."""
    networks = "the networks" if nets.rest else "the network"
    if score.nll_model != score.nll:
        return f"; {networks} alone {score.perplexity_model:.2f}"
    return f"; {networks} alone" if no_cache else ""


def _show_chars(nets, chars: list, result: dict, as_json: bool) -> None:
    """eval --per-char: each scored character in a row (before the summary line), or as the
    "per_char" list of the JSON `result`."""
    vocab, cached = nets.ck.vocab, nets.ck.config.model.cache_size > 0
    if as_json:
        result["per_char"] = [{"char": vocab.chars[c.id], "p": c.p, "p_network": c.p_network,
                               "likeliest": vocab.chars[c.likeliest],
                               "p_likeliest": c.p_likeliest} for c in chars]
        return
    if cached:
        own = "the networks' mean" if nets.rest else "the network's own"
        log(f"(network: {own} probability, before the cache)")
    log(f"{'#':>6s}  {'char':6s} {'prob':>8s}" + (f"  {'network':>8s}" if cached else "")
        + "  the likeliest in its place")
    for k, c in enumerate(chars, 1):
        click.echo(f"{k:6d}  {quoted(vocab.chars[c.id])} {_probability(c.p)}"
                   + (f"  {_probability(c.p_network)}" if cached else "")
                   + f"  {quoted(vocab.chars[c.likeliest])} {c.p_likeliest:.4f}")


def _probability(p: float) -> str:
    """Eight columns: 0.0123, or 3.2e-05 below a thousandth (where four decimals say 0.0000)."""
    return f"{p:8.4f}" if p >= 1e-3 else f"{p:8.1e}"


def _known_lines(vocab, text: str, source: str) -> tuple[str, int]:
    """`text` without the lines that have characters outside `vocab`, and how many those were
    (said on stderr too)."""
    unknown = vocab.unknown(text)
    lines = text.split("\n")
    bad = set(unknown)
    kept = [line for line in lines if bad.isdisjoint(line)]
    left_out = len(lines) - len(kept)
    shown = vocab.show_unknown(unknown, limit=10)
    if not "".join(kept).strip():                       # the error alone, on one line
        raise JaylyricsError(f"{source}: every line has characters outside the model's "
                             f"vocabulary: {shown}")
    if left_out:
        log(f"left out {counted(left_out, 'line')} of {source} with characters not in the model's "
            f"vocabulary: {shown}")
    return "\n".join(kept), left_out


def _eval_per_line(nets, text, source, as_json, no_cache, left_out=None):
    """Each non-empty line scored from a fresh state as it would start a lyric line: the
    line and its end, after a line break."""
    from jaylyrics import score as score_mod

    ck = nets.ck
    sep = "\n" if ck.config.data.keep_newlines else " "
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        raise JaylyricsError(f"{source}: no non-empty line to score")
    bar = progress_bar(len(lines), "scoring", unit="line")
    scores = score_mod.evaluate_lines(ck.params, [ck.vocab.encode(sep + line + sep)
                                                  for line in lines],
                                      ck.config.model, nets.others, bar.update)
    bar.close()
    scored = [{"line": line, "perplexity": score.perplexity, "chars": score.chars}
              for line, score in zip(lines, scores)]
    scored.sort(key=lambda r: r["perplexity"])
    whole = score_mod.pooled(scores)
    if as_json:
        result = {**nets.json_fields(), "source": source, "lines": scored,
                  "perplexity": whole.perplexity, "nll": whole.nll, "chars": whole.chars,
                  "perplexity_model": whole.perplexity_model,
                  "cache": ck.config.model.cache_size > 0}
        if left_out is not None:
            result["lines_left_out"] = left_out
        echo_json(result)
    else:
        for r in scored:
            click.echo(f"{r['perplexity']:10.2f}  {r['line']}")
        which = ("the line, from a fresh state" if len(lines) == 1 else
                 f"all {len(lines):,} lines together, each from a fresh state")
        log(f"{which}: perplexity {whole.perplexity:.2f} over {whole.chars:,} characters"
            f"{_alone(nets, whole, no_cache)}")
