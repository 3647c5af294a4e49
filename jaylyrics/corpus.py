"""The corpus: the text that `reading` read, as a model sees it: the vocabulary (and the
look-alikes of characters outside it), the split into train and validation parts, and the
tutorial's two samplers that cut it into batches.

NumPy only; nothing here knows about MXNet or the model, nor how files are read (`load` asks
`reading` for their texts). Shapes: N = batch size, T = steps.

The vocabulary is the *sorted* list of distinct characters, so character ids never depend on the
hash seed (the tutorial's `list(set(...))` does).
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np

from jaylyrics import CorpusError, InputError, counted, reading


@dataclass(frozen=True)
class Vocab:
    """Characters <-> ids. `chars` is sorted, so ids are stable across runs and machines (a
    fine-tuned run's: its source's, then the new characters sorted; see `finetune`)."""

    chars: str

    @classmethod
    def build(cls, text: str) -> "Vocab":
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Character -> id, built once (`eval --per-line` encodes thousands of lines)."""
        return {c: i for i, c in enumerate(self.chars)}

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of `text` that are not in the vocabulary, in order of
        appearance."""
        known = self.index
        return list(dict.fromkeys(c for c in text if c not in known))

    @functools.cached_property
    def _folded(self) -> dict[str, str]:
        """Each character's folded form (`_fold`) -> the first character of the vocabulary
        with it."""
        folded: dict[str, str] = {}
        for c in self.chars:
            folded.setdefault(_fold(c), c)
        return folded

    def look_alike(self, c: str) -> str | None:
        """The character of the vocabulary that `c` (not in it) is likely typed for: its other
        case, its full- or half-width form (`，` for `,`), another space (U+3000, the ideographic
        space of Chinese text, or a no-break space for ` `), the curly quote or dash for the
        typewriter's (`’` for `'`) or the other way, a Latin letter with or without its accent;
        None if there is none."""
        return self._folded.get(_fold(c))

    def show_unknown(self, missing: list[str], limit: int = 20) -> str:
        """The characters `missing` (from `unknown`) quoted, the first `limit` of them, each with
        the look-alike the vocabulary has, if any: `',' (the vocabulary has '，')`."""
        shown = []
        for c in missing[:limit]:
            alike = self.look_alike(c)
            shown.append(repr(c) + (f" (the vocabulary has {alike!r})" if alike else ""))
        return " ".join(shown) + (" ..." if len(missing) > limit else "")

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        """Ids of `text` (int32). Characters outside the vocabulary are an InputError naming
        them (and their look-alikes in it)."""
        missing = self.unknown(text)
        if missing:
            raise InputError(f"{what} has {counted(len(missing), 'character')} not in the model's "
                             f"vocabulary: {self.show_unknown(missing)}")
        index = self.index
        return np.fromiter((index[c] for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def __repr__(self) -> str:         # (a notebook shows a few characters, not thousands)
        return f"Vocab({len(self):,} characters: {_glimpse(self.chars, 24)})"


# The typewriter's marks for the typographic ones (which the compatibility form keeps apart):
# lyrics saved from the web have I’m and “...”, a terminal types I'm and "..."
_TYPEWRITER = str.maketrans("‘’‚‛′" "“”„‟″" "‐‑‒–—―−", "'" * 5 + '"' * 5 + "-" * 7)


def _fold(c: str) -> str:
    """What a character and its look-alikes have in common: Unicode's compatibility form (full-
    and half-width alike, every space a space) without case, typographic quotes and dashes as
    the typewriter's, and a Latin letter without its accents (é as e; other scripts' marks,
    such as kana's voicing marks, make another character and stay)."""
    folded = unicodedata.normalize("NFKC", c).casefold().translate(_TYPEWRITER)
    base = unicodedata.normalize("NFD", folded)
    if base[:1].isascii() and all(unicodedata.combining(m) for m in base[1:]):
        return base[:1]
    return folded


def _glimpse(text: str, n: int) -> str:
    """The first `n` characters of `text` quoted, and how many more."""
    more = f" ... {len(text) - n:,} more" if len(text) > n else ""
    return repr(text[:n]) + more


@dataclass(frozen=True)
class Corpus:
    """The prepared text: vocabulary over all of it, and its train and validation parts."""

    vocab: Vocab
    train: str
    val: str
    sources: tuple[str, ...] = ()      # the files it was read from, when there were several
    # those of them that were not UTF-8, read in data.encoding: (where, its first line), to show
    read_as: tuple[tuple[str, str], ...] = ()
    # those of them not named .lrc whose timed lines were read as an LRC file's (data.lrc_in_txt)
    timed: tuple[str, ...] = ()
    # those of them whose text an earlier one already holds: (where, the earlier one's where)
    repeats: tuple[tuple[str, str], ...] = ()
    # a single file whose name says it holds more than lyrics: (where, reading.MARKUP's two words)
    markup: tuple[str, str, str] = ()
    # characters that do not show (`reading.unseen`): (character, times, first file, its line)
    unseen: tuple[tuple[str, int, str, int], ...] = ()

    def __repr__(self) -> str:
        return (f"Corpus(train {_glimpse(self.train, 16)}, val {_glimpse(self.val, 16)}, "
                f"vocabulary of {len(self.vocab):,})")


def fingerprint(data: Corpus) -> str:
    """The sha256 of the training and validation text: a resumed run checks that it is the text
    it was trained on (its vocabulary could stay the same while the lines change)."""
    return hashlib.sha256(f"{data.train}\0{data.val}".encode("utf-8")).hexdigest()


def prepare(text: str, max_chars: int = 0, keep_newlines: bool = True,
            val_fraction: float = 0.1) -> Corpus:
    """Truncate, split by lines (first `1 - val_fraction` of them train, the rest validation),
    and optionally replace line breaks by spaces as the tutorial does.

    The split protocol: lines = text.split("\\n"); the first int((1 - f) * n) lines are train,
    the rest validation; each part is its lines joined by "\\n" plus a final "\\n".
    """
    if max_chars:
        text = text[:max_chars]
    if val_fraction > 0:
        lines = text.split("\n")
        k = int((1 - val_fraction) * len(lines))
        train = "\n".join(lines[:k]) + "\n"
        val = "\n".join(lines[k:]) + "\n"
        no_train = k == 0 or not "".join(lines[:k]).strip()
        if no_train or not "".join(lines[k:]).strip():
            raise CorpusError(_unsplit(text, lines, val_fraction, no_train))
    else:
        train, val = text, ""
    train, val = as_read(train, keep_newlines), as_read(val, keep_newlines)
    return Corpus(Vocab.build(train + val), train, val)


def _unsplit(text: str, lines: list[str], val_fraction: float, no_train: bool) -> str:
    """Why the split by lines left the training (`no_train`) or the validation part without
    text: a text of one line (prose pasted without line breaks), or too few lines for the
    fraction, counted as an editor counts them (a last line break starts no line)."""
    filled = [line for line in lines if line.strip()]
    if len(filled) == 1:
        return (f"the text is one line ({len(filled[0]):,} characters), and the split into "
                "training and validation text takes whole lines: break it into lines, or set "
                "data.val_fraction 0 (no validation)")
    count = counted(text.count("\n") + (not text.endswith("\n")), "line")
    if no_train:
        return (f"the training split is empty: {count} with data.val_fraction {val_fraction} "
                "(the split is by lines: use text with more line breaks, or data.val_fraction 0)")
    return (f"the validation split has no characters: {count} with data.val_fraction "
            f"{val_fraction} (use more text or data.val_fraction 0)")


def as_read(text: str, keep_newlines: bool) -> str:
    """`text` as a model reads it: with data.keep_newlines false, its line breaks as spaces (in
    training, and in what `eval` scores and `sample` starts from)."""
    return text if keep_newlines else text.replace("\n", " ").replace("\r", " ")


def load(data_cfg) -> Corpus:
    """Read and prepare the corpus that a `DataConfig` names."""
    found = reading.read_each(data_cfg.corpus, "data.corpus", data_cfg.encoding,
                              data_cfg.lrc_in_txt)
    files = [(f.where, f.text) for f in found]
    try:
        data = prepare(reading.join(files), data_cfg.max_chars, data_cfg.keep_newlines,
                       data_cfg.val_fraction)
    except CorpusError as e:                              # a split that cannot be made: where
        raise CorpusError(f"{data_cfg.corpus}: {e}") from None
    return replace(data, sources=tuple(where for where, _ in files) if len(files) > 1 else (),
                   read_as=tuple((f.where, line_starts(f.text, 1, 40)[0])
                                 for f in found if f.in_encoding),
                   timed=tuple(f.where for f in found if f.timed),
                   repeats=reading.repeated_files(files) if len(files) > 1 else (),
                   markup=reading.markup(files[0][0]) if len(files) == 1 else (),
                   unseen=reading.unseen(files))


def line_starts(text: str, n: int = 3, length: int = 2) -> tuple[str, ...]:
    """The first `length` characters of the first `n` lines of `text` that start differently:
    prefixes to sample from when the configured ones do not fit a corpus."""
    starts: dict[str, None] = {}
    for line in text.split("\n"):
        if line.strip() and len(starts) < n:
            starts.setdefault(line.strip()[:length])
    return tuple(starts)


def check_trainable(data: Corpus, train_cfg) -> None:
    """Everything about the data that would stop training: too short a text for one batch, or
    a sampling prefix with characters outside the vocabulary."""
    check_batchable(len(data.train), train_cfg.batch_size, train_cfg.num_steps, train_cfg.sampler)
    check_prefixes(data.vocab, train_cfg)


def check_prefixes(vocab: Vocab, train_cfg) -> None:
    """Raise an InputError naming a sampling prefix's characters that `vocab` lacks (for
    prefixes written with commas, `分开,不分开`, which is one prefix, how to write several)."""
    for prefix in train_cfg.prefixes if train_cfg.sample_every else ():
        try:
            vocab.encode(prefix, f"train.prefixes entry {prefix!r}")
        except InputError as e:
            parts = comma_separated(vocab, prefix)
            if parts:
                raise InputError(f"{e}; several prefixes are a list: "
                                 f"train.prefixes=[{', '.join(parts)}]") from None
            raise


def comma_separated(vocab: Vocab, prefix: str) -> list[str] | None:
    """The prefixes that `prefix` lists with commas (`分开,不分开`, `分开, 不分开`), when its comma
    is not in `vocab` but each of them is: several prefixes given as one. Else None."""
    parts = [part.strip() for part in prefix.split(",")]
    if len(parts) > 1 and "," not in vocab.index and all(parts) \
            and not vocab.unknown("".join(parts)):
        return parts
    return None


def check_batchable(num_ids: int, batch_size: int, num_steps: int, sampler: str,
                    workers: int = 1) -> None:
    """Raise a CorpusError if an epoch of this sampler would hold no batch at all (for each of
    several data-parallel `workers`, on its share of the text)."""
    share = num_ids // workers
    if num_batches(share, batch_size, num_steps, sampler) <= 0:
        need = batch_size * num_steps + 1 if sampler == "random" else batch_size * (num_steps + 1)
        what, fewer = (f"the training text ({num_ids:,} characters)", "") if workers == 1 else (
            f"each of the {workers} workers' share of the training text ({share:,} of "
            f"{num_ids:,} characters)", ", fewer workers")
        raise CorpusError(
            f"{what} is too short for one batch of train.batch_size {batch_size} x "
            f"train.num_steps {num_steps} with the {sampler} sampler; need at least {need:,} "
            f"characters: use a longer corpus{fewer} or a smaller batch_size / num_steps")


def num_batches(num_ids: int, batch_size: int, num_steps: int, sampler: str) -> int:
    """How many batches one epoch of a sampler yields."""
    if sampler == "random":
        return max(0, ((num_ids - 1) // num_steps) // batch_size)
    return max(0, (num_ids // batch_size - 1) // num_steps)


def random_batches(ids: np.ndarray, batch_size: int, num_steps: int,
                   rng: np.random.RandomState) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The tutorial's random sampler: non-overlapping windows of T ids, in shuffled order.

    Yields (X, Y), each (N, T), Y shifted by one. Neighbouring batches are unrelated in the
    text, so the hidden state must be reset before each batch.
    """
    num_examples = (len(ids) - 1) // num_steps          # minus one: labels are shifted by one
    order = rng.permutation(num_examples)
    for b in range(num_examples // batch_size):
        starts = order[b * batch_size:(b + 1) * batch_size] * num_steps       # (N,)
        rows = starts[:, None] + np.arange(num_steps)[None, :]               # (N, T)
        yield ids[rows], ids[rows + 1]


def consecutive_batches(ids: np.ndarray, batch_size: int,
                        num_steps: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The tutorial's consecutive sampler: the text cut into N parallel streams, read T at a time.

    Row i of a batch continues row i of the previous batch, so the hidden state is carried from
    batch to batch (detached from the graph), and reset only at the start of an epoch.
    """
    batch_len = len(ids) // batch_size
    streams = ids[:batch_size * batch_len].reshape(batch_size, batch_len)     # (N, L)
    for b in range((batch_len - 1) // num_steps):
        i = b * num_steps
        yield streams[:, i:i + num_steps], streams[:, i + 1:i + num_steps + 1]
