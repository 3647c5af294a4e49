"""Scoring a text: per-character negative log-likelihood, the cache mixed in, and perplexity.

`evaluate` runs a trained network in NumPy (`model.decoder`, as `sample` does), so `jaylyrics
eval` needs no MXNet and starts at once; the training loop scores its validation split on its
MXNet device (`train.evaluate`) and sums up the same way (`from_nll`). The protocol is the same
for both: ids[1:] are predicted from what precedes them, from a zero state carried through the
whole text with batch 1. `evaluate_lines` scores many short texts each by itself (`eval
--per-line`), in batches. `per_char` says the same character by character: how likely each
was, and what the model found likeliest in its place. NumPy only.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from dataclasses import dataclass

import numpy as np

from jaylyrics import cache, ensemble, numpy_ops

# A mean NLL above this (nats per character) has a perplexity beyond the largest float.
MAX_NLL = math.log(sys.float_info.max)                                  # about 709.8


def exp_nll(nll: float) -> float:
    """The perplexity of a mean NLL: infinite where math.exp would overflow."""
    return math.exp(nll) if nll <= MAX_NLL else math.inf


@dataclass(frozen=True)
class Score:
    """How well a model predicts a text: mean NLL per character with the model's cache, and by
    the network alone (the two are equal when the model has no cache)."""

    nll: float
    nll_model: float
    chars: int

    @property
    def perplexity(self) -> float:
        return exp_nll(self.nll)

    @property
    def perplexity_model(self) -> float:
        return exp_nll(self.nll_model)


def from_nll(network_nll: np.ndarray, ids: np.ndarray, model_cfg) -> Score:
    """The Score of ids[1:], from the network's own per-character NLL of them (len-1,)."""
    mixed = cache.mix_nll(network_nll, ids, model_cfg)
    return Score(float(mixed.mean()), float(network_nll.mean()), len(network_nll))


def evaluate(params: dict, ids: np.ndarray, model_cfg, chunk: int = 64,
             others: tuple = (), progress=None) -> Score:
    """Score ids[1:] (at least two ids) given what precedes them, with the network in NumPy;
    `params` are NumPy arrays or NDArrays. With `others` ((params, model_cfg) of more networks
    with the same vocabulary), the ensemble of them all; the cache is `model_cfg`'s.
    `progress(n)`, if given, is told of every n characters scored (for a progress bar)."""
    return from_nll(network_nll(params, ids, model_cfg, chunk, others, progress), ids, model_cfg)


def network_nll(params: dict, ids: np.ndarray, model_cfg, chunk: int = 64,
                others: tuple = (), progress=None) -> np.ndarray:
    """The network's own NLL (float64) of each of ids[1:] (len-1,), its state carried through
    the text, read `chunk` characters at a time (the output layer is one product per chunk);
    with `others`, the ensemble's. `progress`: as for `evaluate`."""
    parts = [-logp[np.arange(len(y)), y]
             for y, logp in _log_probs(params, ids, model_cfg, chunk, others, progress)]
    return np.concatenate(parts) if parts else np.zeros(0)


def _log_probs(params: dict, ids: np.ndarray, model_cfg, chunk: int, others: tuple, progress):
    """The text read `chunk` characters at a time, the state carried: for each chunk, the ids it
    predicts (T,) and the network's log-probabilities (float64) of every character at each of
    them (T, V). `progress(T)` is told once a chunk's are used."""
    run, state = ensemble.decoder_for(params, model_cfg, others)
    for start in range(0, len(ids) - 1, chunk):
        y = np.asarray(ids[start + 1:start + 1 + chunk])
        x = np.asarray(ids[start:start + len(y)])
        logits, state = run(x[None, :], state)                                  # (T, V)
        yield y, numpy_ops.log_softmax(logits)
        if progress is not None:
            progress(len(y))


def pooled(scores: list[Score]) -> Score:
    """The Score of several texts scored apart, together: the mean NLL of all their
    characters."""
    chars = sum(s.chars for s in scores)
    return Score(sum(s.nll * s.chars for s in scores) / chars,
                 sum(s.nll_model * s.chars for s in scores) / chars, chars)


def evaluate_lines(params: dict, texts: list, model_cfg, others: tuple = (), progress=None,
                   batch_chars: int = 8192, long: int = 512) -> list[Score]:
    """The Score of each of `texts` (arrays of at least two ids) by itself, as `evaluate` gives
    it: from a zero state, with a cache of its own text only. Texts of similar length go through
    the network together, a batch of at most `batch_chars` characters padded at their ends (the
    padding comes after every position a text's scores are read from, so it changes nothing);
    a text longer than `long` goes alone, read as `evaluate` reads it. Texts that are the same
    are scored once. `progress(n)`, if given, is told of every n texts scored."""
    keys = [tuple(int(i) for i in ids) for ids in texts]
    times = Counter(keys)
    decoder = ensemble.decoder_for(params, model_cfg, others)          # (built once)
    scored: dict = {}

    def done(group: list, scores: list) -> None:
        scored.update(zip(group, scores))
        if progress is not None:
            progress(sum(times[ids] for ids in group))

    batch: list = []
    for ids in sorted(times, key=len):
        if len(ids) > long:
            done([ids], [evaluate(params, np.array(ids), model_cfg, others=others)])
            continue
        if batch and (len(batch) + 1) * (len(ids) - 1) > batch_chars:
            done(batch, _batch_scores(decoder, batch, model_cfg))
            batch = []
        batch.append(ids)
    if batch:
        done(batch, _batch_scores(decoder, batch, model_cfg))
    return [scored[ids] for ids in keys]


def _batch_scores(decoder: tuple, texts: list, model_cfg) -> list[Score]:
    """`evaluate_lines`'s Scores of `texts` (tuples of ids), all run through the network
    (`decoder`: `ensemble.decoder_for`'s run and zero state) as one batch (N texts, T the
    longest one's inputs); the cache is `model_cfg`'s."""
    run, zero = decoder
    N, T = len(texts), max(len(ids) for ids in texts) - 1
    X = np.zeros((N, T), dtype=np.int64)
    for row, ids in enumerate(texts):
        X[row, :len(ids) - 1] = ids[:-1]
    logits, _ = run(X, _repeated(zero, N))                                 # (T*N, V)
    logp = numpy_ops.log_softmax(logits).reshape(T, N, -1)                # time-major
    scores = []
    for row, ids in enumerate(texts):
        ids = np.array(ids)
        nll = -logp[np.arange(len(ids) - 1), row, ids[1:]]
        scores.append(from_nll(nll, ids, model_cfg))
    return scores


def _repeated(state, n: int):
    """A batch-1 state (arrays (L, 1, H), in tuples: one per member of an ensemble) for a
    batch of n."""
    if isinstance(state, np.ndarray):
        return np.repeat(state, n, axis=1)
    return tuple(_repeated(part, n) for part in state)


@dataclass(frozen=True)
class CharScore:
    """One character of a scored text: its id, its probability (with the cache, as scored), the
    network's own, and the likeliest character in its place (what greedy decoding would have
    written) with that one's probability."""

    id: int
    p: float
    p_network: float
    likeliest: int
    p_likeliest: float


def per_char(params: dict, ids: np.ndarray, model_cfg, chunk: int = 64,
             others: tuple = (), progress=None) -> list[CharScore]:
    """ids[1:] (at least two ids) scored one by one with the protocol of `evaluate` (whose mean
    NLL is the mean of their -log p): the network's whole distribution at each step, mixed with
    the cache of the text read so far, as `sample` mixes it. `progress`: as for `evaluate`."""
    window = cache.Cache(model_cfg.cache_size, model_cfg.cache_order, params["b_q"].shape[0],
                         ids[:1])
    out = []
    for y, logp in _log_probs(params, ids, model_cfg, chunk, others, progress):
        for t, network in enumerate(np.exp(logp)):
            mixed = window.mix(network, model_cfg)
            best = int(np.argmax(mixed))
            out.append(CharScore(int(y[t]), float(mixed[y[t]]), float(network[y[t]]), best,
                                 float(mixed[best])))
            window.push(int(y[t]))
    return out


def from_chars(chars: list[CharScore]) -> Score:
    """The Score of the characters `per_char` scored (the same as `evaluate`'s, to rounding)."""
    return Score(float(np.mean([-np.log(c.p) for c in chars])),
                 float(np.mean([-np.log(c.p_network) for c in chars])), len(chars))
