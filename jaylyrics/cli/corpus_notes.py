"""The notes `train` writes on stderr about its corpus before training: what a user should know
before spending the minutes (a corpus much larger than the default dropout was set for, a held-
out part unlike the rest, repeated files, a table or web page read as lyrics, characters that do
not show, a .txt file read as an LRC, files read in data.encoding, the files joined). Notes
only: nothing here stops a run.
"""

from __future__ import annotations

import shlex
import unicodedata
from pathlib import Path

from jaylyrics import counted
from jaylyrics.cli.app import VERBOSITY, log


def log_corpus_notes(cfg, data, new: bool) -> None:
    """The notes on the corpus, on stderr before training: for a `new` run (not a resumed one)
    its size against the default dropout's, a held-out part unlike the rest, repeated files,
    markup, characters that do not show and timed .txt files read as LRC; for any, its files and those read in
    data.encoding."""
    from jaylyrics import reading

    if new and _regularised_for_less(cfg, data):
        log(f"note: {len(data.train):,} training characters, "
            f"{len(data.train) / DEFAULT_TRAIN_CHARS:.0f} times the lyrics that the default "
            f"dropout (model.dropout {cfg.model.dropout:g}, model.weight_drop "
            f"{cfg.model.weight_drop:g}) was set for: less may train better, e.g. --set "
            "model.dropout=0.2 --set model.weight_drop=0.1 (README: Your own lyrics)")
    held_out = _held_out_unlike(cfg.data, data) if new else None
    if held_out:
        log(held_out)
    if data.sources:
        if VERBOSITY["level"] >= 2:
            log(f"corpus files: {len(data.sources)} in {cfg.data.corpus}, joined in path order:\n"
                + "\n".join(f"  {path}" for path in data.sources))
        else:
            log(f"corpus files: {len(data.sources)} in {cfg.data.corpus}, joined in path order "
                f"({data.sources[0]} ... {data.sources[-1]}; -v lists them)")
    if data.repeats and new:
        log(_repeats_note(data.repeats))
    if data.markup and new:
        where, kind, learnt = data.markup
        log(f"note: {where} is {kind}, read as plain text: the model learns {learnt} as well as "
            "the lyrics; for a model of the lyrics alone, save them as a .txt file first")
    if data.unseen and new:
        kinds = "; ".join(f"{reading.unseen_name(c)} {counted(times, 'time')}, first in {where} "
                          f"line {line}" for c, times, where, line in data.unseen[:3])
        more = f"; {counted(len(data.unseen) - 3, 'more kind')}" if len(data.unseen) > 3 else ""
        log(f"note: the corpus holds characters that do not show, which the model learns and "
            f"writes as characters of their own: {kinds}{more}; if they are not part of the "
            f"lyrics, take them out of the files first: {_cleaning(data, cfg.data.corpus)}")
    if data.timed and new:
        them, they_are = ("them", "they are") if len(data.timed) > 1 else ("it", "it is")
        log(f"note: {_files_that(data.timed, data)} timed like an LRC file ([01:23.45] before "
            "most lines): read as one, the lyrics without the time tags and the credits "
            f"(data.lrc_in_txt false reads {them} as {they_are})")
    if data.read_as:                  # for the eye: in a wrong encoding, other characters
        where, line = data.read_as[0]
        what = _files_that([where for where, _ in data.read_as], data)
        it = where if data.sources else "it"
        log(f"note: {what} not UTF-8: read as data.encoding {cfg.data.encoding}, {it} begins "
            f"'{line}' (if that is not its text, set data.encoding to the encoding it is saved in)")


def _files_that(found, data) -> str:
    """How a note names the corpus files `found` (their names) before its verb: 'song.txt is'
    for a corpus of one file, '3 of the 40 corpus files are' for some of several."""
    if not data.sources:
        return f"{found[0]} is"
    n = len(found)
    return f"{n} of the {len(data.sources)} corpus files {'is' if n == 1 else 'are'}"


def _cleaning(data, corpus: str) -> str:
    """The command that takes the characters of `data.unseen` out of the corpus files (perl's,
    as on Linux and macOS alike): spaces become ' ', line and paragraph separators line breaks,
    the others go. It names the corpus when that is one text file, else FILE... (a directory's
    files, or an archive's once unpacked)."""
    def among(kinds: str) -> str:
        return "".join(f"\\x{{{ord(c):X}}}" for c, *_ in data.unseen
                       if unicodedata.category(c) in kinds.split())

    edits = [(among("Zs"), " "), (among("Zl Zp"), "\\n"), (among("Cc Cf"), "")]
    script = "; ".join(f"s/[{chars}]/{into}/g" for chars, into in edits if chars)
    single = not data.sources and Path(corpus).suffix.lower() in (".txt", ".lrc")
    return f"perl -CSD -pi -e '{script}' {shlex.quote(str(corpus)) if single else 'FILE...'}"


# The training split of Jay Chou's lyrics, which the default dropout was set on: on a corpus
# several times larger, less trains better (on 372,000 characters of English, val perplexity
# 3.67 with dropout 0.2 and weight drop 0.1 against 4.62 with the defaults; README, "Your own
# lyrics").
DEFAULT_TRAIN_CHARS = 55_233


def _regularised_for_less(cfg, data) -> bool:
    """Whether a new run has the default dropout on a corpus 4 or more times the one it was set
    for (a note then says to try less)."""
    from jaylyrics import config

    default, model = config.Config().model, cfg.model
    return len(data.train) >= 4 * DEFAULT_TRAIN_CHARS and \
        (model.dropout, model.weight_drop) == (default.dropout, default.weight_drop)


def _held_out_unlike(data_cfg, data) -> str | None:
    """A note when the validation split is far from data.val_fraction of the text (half or
    twice it): the split takes whole lines, so a text of a few long lines holds out a line's
    worth, a quarter of the text for one of four."""
    fraction, total = data_cfg.val_fraction, len(data.train) + len(data.val)
    held = len(data.val) / total if total else 0.0
    if not fraction or fraction / 2 <= held <= 2 * fraction:
        return None
    val_lines, train_lines = data.val.count("\n"), data.train.count("\n")
    lines = (f", here the last {val_lines:,} of {val_lines + train_lines:,}"
             if data_cfg.keep_newlines else "")
    return (f"note: data.val_fraction {fraction:g} holds out {held:.0%} of the characters "
            f"({len(data.val):,}) for validation: the split takes whole lines{lines}")


def _repeats_note(repeats: tuple) -> str:
    """A note on corpus files that repeat another's text (`reading.repeated_files`): the first
    pair, or with -v every one."""
    shown = repeats if VERBOSITY["level"] >= 2 else repeats[:1]
    pairs = ", ".join(f"{copy} = {first}" for copy, first in shown)
    more = f", ... {len(repeats) - 1:,} more; -v lists them" if len(shown) < len(repeats) else ""
    verb = "repeats" if len(repeats) == 1 else "repeat"
    return (f"note: {counted(len(repeats), 'corpus file')} {verb} another's text ({pairs}{more}): "
            "trained on twice, and a copy in the validation split (the last files) is scored as "
            "lyrics the model has learnt; leave the copies out for a fair val perplexity")
