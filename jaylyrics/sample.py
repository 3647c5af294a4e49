"""Generating text: warm the state up on a prefix, then pick one character at a time.

Greedy (the tutorial's prediction) when the temperature is 0; otherwise a draw from
softmax(logits / temperature), optionally restricted to the k most likely characters (top-k) or
to the smallest set whose probability reaches p (top-p, nucleus sampling). Either way, n-gram
blocking (`NoRepeat`) can first rule out every character that would repeat a piece of n
characters already in the text. Draws come from a NumPy generator, so a seed reproduces a
sample exactly. `next_chars` shows, instead of drawing, the distribution the next character
would come from (`sample --next`).
"""

from __future__ import annotations

from collections import deque
from typing import Iterator

import numpy as np

from jaylyrics import InputError, cache, ensemble
from jaylyrics.config import MAX_SAMPLE_LENGTH


def check_options(length: int, temperature: float, top_k: int, top_p: float, vocab_size: int,
                  no_repeat: int = 0) -> None:
    if length < 0:
        raise InputError(f"--length {length}: expected a number of characters >= 0")
    if length > MAX_SAMPLE_LENGTH:
        raise InputError(f"--length {length}: too long; at most {MAX_SAMPLE_LENGTH:,} characters")
    if temperature < 0:
        raise InputError(f"--temperature {temperature}: expected 0 (greedy) or a value > 0")
    if top_k < 0 or top_k > vocab_size:
        raise InputError(f"--top-k {top_k}: expected 0 (off) to {vocab_size} (the vocabulary size)")
    if not 0 < top_p <= 1:
        raise InputError(f"--top-p {top_p}: expected a value in (0, 1]")
    if no_repeat < 0:
        raise InputError(f"--no-repeat-ngram-size {no_repeat}: expected 0 (off) or a number of "
                         "characters >= 1, e.g. 4")


def check_next(k: int, vocab_size: int) -> None:
    if not 1 <= k <= vocab_size:
        raise InputError(f"--next {k}: expected 1 to {vocab_size} (the vocabulary size)")


def generate(params: dict, model_cfg, vocab, prefix: str, length: int,
             temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
             rng: np.random.RandomState | None = None, others: tuple = (),
             no_repeat: int = 0) -> Iterator[str]:
    """Yield `length` new characters that follow `prefix` (the prefix itself is not yielded).
    The network runs as `model.decoder`, on NumPy arrays, wherever it was trained; with
    `others` ((params, model_cfg) of more networks with the same vocabulary), the ensemble of
    them all (`ensemble.decoder`). The cache is `model_cfg`'s. With `no_repeat` n, no piece of
    n characters comes twice (`NoRepeat`)."""
    check_options(length, temperature, top_k, top_p, len(vocab), no_repeat)
    rng = rng or np.random.RandomState(0)
    reader = _Reader(params, model_cfg, vocab, prefix, others, no_repeat)
    for _ in range(length):
        probs, _ = reader.next_probs()
        i = pick(probs, temperature, top_k, top_p, rng)
        reader.read(i)
        yield vocab.chars[i]


def next_chars(params: dict, model_cfg, vocab, prefix: str, k: int, temperature: float = 0.0,
               top_k: int = 0, top_p: float = 1.0, others: tuple = (),
               no_repeat: int = 0) -> list[tuple[str, float, float]]:
    """The k most likely characters after `prefix`, most likely first, as (character, the
    probability that `generate` with these options draws it, the network's own probability);
    fewer when top-k or top-p leave fewer to draw from. Greedy (temperature 0) shows the model's
    probabilities, of which it takes the first. The two differ by the cache, the n-gram block,
    and by the temperature, top-k and top-p. `others`, `no_repeat`: as for `generate`."""
    check_next(k, len(vocab))
    check_options(0, temperature, top_k, top_p, len(vocab), no_repeat)
    probs, network = _Reader(params, model_cfg, vocab, prefix, others, no_repeat).next_probs()
    if temperature:
        probs = shape(probs, temperature, top_k, top_p)
    order = np.argsort(-probs, kind="stable")[:k]
    return [(vocab.chars[i], float(probs[i]), float(network[i])) for i in order if probs[i] > 0]


# A prefix is read this many characters at a time: the memory of a step through the network
# grows with its length (a whole corpus as --prefix-file, 253,000 characters, took 1.8 GB).
WARM_UP_CHUNK = 256


class _Reader:
    """The network, the cache and the n-gram block after reading a text: what comes next, one
    character at a time."""

    def __init__(self, params: dict, model_cfg, vocab, prefix: str, others: tuple = (),
                 no_repeat: int = 0):
        if not prefix:
            raise InputError("the prefix is empty: give at least one character, e.g. --prefix 分开")
        ids = vocab.encode(prefix, "the prefix")
        self.model_cfg = model_cfg
        self.run, self.state = ensemble.decoder_for(params, model_cfg, others)
        for start in range(0, len(ids) - 1, WARM_UP_CHUNK):      # all but the last character
            chunk = ids[start:min(start + WARM_UP_CHUNK, len(ids) - 1)]
            _, self.state = self.run(chunk[None, :], self.state, project=False)
        self.window = cache.Cache(model_cfg.cache_size, model_cfg.cache_order, len(vocab), ids)
        self.block = NoRepeat(no_repeat, ids)
        self.X = np.array([[ids[-1]]])                            # the next input: (1, 1)

    def next_probs(self) -> tuple[np.ndarray, np.ndarray]:
        """(the mixture's, the network's own) probabilities (V,) of the next character, the
        mixture's without the characters the n-gram block rules out. Each call moves the
        network on by the pending character: the prefix's last, then the one given to `read`."""
        logits, self.state = self.run(self.X, self.state)
        logits = logits[0].astype(np.float64)                                         # (V,)
        network = np.exp(logits - logits.max())
        network /= network.sum()
        return self.block.apply(self.window.mix(network, self.model_cfg)), network

    def read(self, i: int) -> None:
        self.X[0, 0] = i
        self.window.push(i)
        self.block.push(i)


class NoRepeat:
    """n-gram blocking (fairseq's and Hugging Face's `no_repeat_ngram_size`): no piece of n
    characters comes twice in the text, prefix included. After the last n-1 characters, every
    character that has followed them before is ruled out, so greedy decoding cannot fall into
    a loop (`我不能再想 / 我不能再想 / ...`); a chorus cannot come back either. n = 0: off.
    Should it rule out every character (a tiny vocabulary, a small n), it rules out none at
    that step."""

    def __init__(self, n: int, ids=()):
        self.n = n
        self.recent: deque[int] = deque(maxlen=max(n - 1, 0))     # the last n-1 ids
        self.follow: dict[tuple, set[int]] = {}      # each (n-1)-gram -> the ids that followed it
        for i in ids:
            self.push(int(i))

    def push(self, i: int) -> None:
        if not self.n:
            return
        if len(self.recent) == self.n - 1:
            self.follow.setdefault(tuple(self.recent), set()).add(i)
        self.recent.append(i)

    def banned(self) -> list[int]:
        """The ids that would complete an n-gram the text already holds."""
        if not self.n or len(self.recent) < self.n - 1:
            return []
        return sorted(self.follow.get(tuple(self.recent), ()))

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """`probs` (V,) without the banned ids, renormalised (a new array; `probs` itself when
        nothing is banned, or everything with any probability is)."""
        banned = self.banned()
        if not banned:
            return probs
        kept = probs.copy()
        kept[banned] = 0
        total = kept.sum()
        return kept / total if total > 0 else probs


def pick(probs: np.ndarray, temperature: float, top_k: int, top_p: float,
         rng: np.random.RandomState) -> int:
    """Choose the next character id from probabilities (V,)."""
    if temperature == 0:
        return int(np.argmax(probs))
    return draw(shape(probs, temperature, top_k, top_p), rng)


def draw(probs: np.ndarray, rng: np.random.RandomState) -> int:
    """One id drawn with probabilities (V,): the same id, from the same uniform number of
    `rng`, as `rng.choice(V, p=probs)`, in half the time (choice first checks that `probs` is a
    distribution, which `shape` has made sure of)."""
    cdf = np.cumsum(probs)
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random_sample(), side="right"))


def shape(probs: np.ndarray, temperature: float, top_k: int, top_p: float) -> np.ndarray:
    """The distribution a draw comes from: probs (V,) sharpened or flattened by the temperature
    (> 0), then cut to the top-k characters and to the top-p mass, and renormalised."""
    with np.errstate(divide="ignore", over="ignore"):       # log(0); a temperature near 0
        logp = np.log(probs)
        z = (logp - logp.max()) / temperature                # <= 0: the likeliest at 0
    if top_k:
        kth = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= kth, z, -np.inf)
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    if top_p < 1:
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        keep = order[:int(np.searchsorted(cumulative, top_p) + 1)]
        mask = np.zeros_like(probs)
        mask[keep] = probs[keep]
        probs = mask / mask.sum()
    return probs


def loops(text: str, longest: int = 30, times: int = 3) -> bool:
    """Whether `text` ends in a piece of at most `longest` characters repeated `times` times
    (`我不能再想我 / 我不能再想我 / ...`): what greedy decoding falls into."""
    return bool(repeated_end(text, longest, times))


def repeated_end(text: str, longest: int = 30, times: int = 3, span: int = 0) -> str:
    """The shortest piece of at most `longest` characters that `text` ends with `times` times
    over, and over at least `span` characters in all (span 10: a run of ten of one character,
    five of a pair, four of a triple); '' if there is none."""
    for n in range(1, longest + 1):
        repeats = max(times, -(-span // n))
        if len(text) >= repeats * n and text[-repeats * n:] == text[-n:] * repeats:
            return text[-n:]
    return ""


def until_lines(chars: Iterator[str], prefix: str, lines: int) -> Iterator[str]:
    """Pass characters on until prefix + generated text holds `lines` complete lines (the
    line break that ends the last of them is not passed on)."""
    done = prefix.count("\n")
    if done >= lines:
        return
    for c in chars:
        if c == "\n":
            done += 1
            if done >= lines:
                return
        yield c
