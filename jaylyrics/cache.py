"""The cache: what was just sung is likely to be sung again.

Lyrics repeat themselves: a chorus comes back, a rare name is sung twice. A cache language model
(Kuhn and De Mori, 1990; Grave et al., 2017, "Improving neural language models with a continuous
cache") mixes the network's prediction with statistics of the text being read. Ours has two parts,
both over the last K characters (model.cache_size):

    u(c)  = count of c in the last K characters / K                  (unigram cache)
    m(c)  = how often c followed the current context of n characters  (match cache,
            in the last K characters, when that context occurred        n = model.cache_order)

    p(c) = (1 - w_u - w_m) * p_model(c) + w_u * u(c) + w_m * m(c)
           (w_m counts only when the current context occurred before: otherwise it goes to
           the model)

The unigram cache of only k characters read so far (k < K) is a poor estimate: after the prefix
`你` it says 你 with certainty, more than the network, which is unsure of everything so early,
gives any character, and greedy writing repeats 你你你. So its weight grows with what it holds,
w_u * k / (k + a) (a = model.cache_prior): the same as counting `a` characters drawn from the
model's own prediction into the cache (a Dirichlet prior): half of w_u after `a` characters,
98% of it with the default 1,000 characters and a = 20.

It is still a causal model: each prediction uses only the text before it. It has no trained
parameters (w_u = model.cache_weight, w_m = model.cache_match_weight). It matters most where the
network is weakest: characters that never occur in the training text get real probability from
their second occurrence on, and a repeated chorus is predicted from its first time round.
NumPy only; the same code serves evaluation and generation.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class Cache:
    """The last `size` characters read, as unigram counts and context -> next-character counts."""

    def __init__(self, size: int, order: int, vocab_size: int, ids=()):
        self.size, self.order, self.vocab_size = size, order, vocab_size
        self.history: deque[int] = deque()          # the last size characters
        self.recent: deque[int] = deque(maxlen=order + 1)
        self.events: deque[tuple] = deque()         # (context, next id), oldest first
        self.unigram = np.zeros(vocab_size)
        self.follow: dict[tuple, dict[int, int]] = {}
        self.seen: dict[tuple, int] = {}
        for i in ids:
            self.push(int(i))

    def push(self, i: int) -> None:
        if not self.size:
            return
        self.history.append(i)
        self.recent.append(i)
        self.unigram[i] += 1
        if len(self.history) > self.size:
            self.unigram[self.history.popleft()] -= 1
        if self.order and len(self.recent) > self.order:
            context = tuple(self.recent)[:-1]
            self.events.append((context, i))
            self._count(context, i, +1)
            if len(self.events) > self.size:
                self._count(*self.events.popleft(), -1)

    def _count(self, context: tuple, i: int, delta: int) -> None:
        nexts = self.follow.setdefault(context, {})
        nexts[i] = nexts.get(i, 0) + delta
        self.seen[context] = self.seen.get(context, 0) + delta
        if not self.seen[context]:
            del self.follow[context], self.seen[context]

    def _context(self):
        if not self.order or len(self.recent) < self.order:
            return None
        return tuple(self.recent)[-self.order:]

    def prob_of(self, i: int) -> tuple[float, float | None]:
        """(u(i), m(i)) for the next character; m is None when the context has not occurred."""
        n = len(self.history)
        u = self.unigram[i] / n if n else 0.0
        context = self._context()
        if context is None or context not in self.seen:
            return u, None
        return u, self.follow[context].get(i, 0) / self.seen[context]

    def mix(self, probs: np.ndarray, model_cfg) -> np.ndarray:
        """The mixture for every character, from the model's probabilities (V,), with the
        weights of `model_cfg` (cache_weight, cache_match_weight, cache_prior)."""
        n = len(self.history)
        if not n:
            return probs
        m = None
        context = self._context()
        if context is not None and context in self.seen:
            m = np.zeros(self.vocab_size)
            for i, count in self.follow[context].items():
                m[i] = count / self.seen[context]
        return mixture(probs, self.unigram / n, m, *weights(model_cfg, n))


def weights(model_cfg, n: int) -> tuple[float, float]:
    """(w_u, w_m) for a cache that holds n characters: w_u grows with n (model.cache_prior)."""
    return (model_cfg.cache_weight * n / (n + model_cfg.cache_prior),
            model_cfg.cache_match_weight)


def mixture(p_model, u, m, weight: float, match_weight: float):
    """The cache formula, for one probability or an array of them (m None: no match)."""
    p = (1 - weight) * p_model + weight * u
    return p if m is None else p + match_weight * (m - p_model)


def mix_nll(nll: np.ndarray, ids: np.ndarray, model_cfg) -> np.ndarray:
    """Per-character NLL of the mixture for ids[1:], from the model's own NLL (len-1,)."""
    size = model_cfg.cache_size
    if not size or not (model_cfg.cache_weight or model_cfg.cache_match_weight):
        return nll
    p_model = np.exp(-nll)
    out = np.empty_like(nll)
    cache = Cache(size, model_cfg.cache_order, int(ids.max()) + 1)
    for k in range(len(nll)):
        cache.push(int(ids[k]))
        u, m = cache.prob_of(int(ids[k + 1]))
        out[k] = -np.log(mixture(p_model[k], u, m, *weights(model_cfg, len(cache.history))))
    return out
