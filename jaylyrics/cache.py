"""The unigram cache: recently seen characters are likely to come again.

Lyrics repeat themselves: a chorus comes back, a rare name is sung twice. A cache language model
(Kuhn and De Mori, 1990; the neural cache of Grave et al., 2017, is its refinement) mixes the
network's prediction with the frequencies of the last K characters of the text being read:

    p(c) = (1 - w) * p_model(c) + w * count of c in the last K characters / K

It is still a causal model (each prediction uses only the text before it) and it has no trained
parameters (K = model.cache_size, w = model.cache_weight). It matters most for characters that
never occur in the training text: the network gives them almost nothing, the cache gives them
real probability from their second occurrence on. NumPy only.
"""

from __future__ import annotations

from collections import deque

import numpy as np


def target_probs(ids: np.ndarray, size: int) -> np.ndarray:
    """For each i >= 1, the cache's probability of ids[i] given ids[max(0, i - size):i]. (len-1,)"""
    out = np.zeros(len(ids) - 1)
    positions: dict[int, list[int]] = {}
    for i in range(1, len(ids)):
        positions.setdefault(int(ids[i - 1]), []).append(i - 1)
        seen = positions.get(int(ids[i]), [])
        start = max(0, i - size)
        count = len(seen) - int(np.searchsorted(seen, start))
        out[i - 1] = count / min(i, size)
    return out


def mix_nll(nll: np.ndarray, ids: np.ndarray, size: int, weight: float) -> np.ndarray:
    """Per-character NLL of the mixture, from the model's NLL of ids[1:] (len-1,)."""
    if not size or not weight:
        return nll
    p = (1 - weight) * np.exp(-nll) + weight * target_probs(ids, size)
    return -np.log(p)


class Window:
    """The last `size` characters, as counts, for generation."""

    def __init__(self, size: int, vocab_size: int, ids=()):
        self.size = size
        self.counts = np.zeros(vocab_size)
        self.recent: deque[int] = deque()
        for i in ids:
            self.push(int(i))

    def push(self, i: int) -> None:
        if not self.size:
            return
        self.recent.append(i)
        self.counts[i] += 1
        if len(self.recent) > self.size:
            self.counts[self.recent.popleft()] -= 1

    def mix(self, probs: np.ndarray, weight: float) -> np.ndarray:
        if not self.size or not weight or not self.recent:
            return probs
        return (1 - weight) * probs + weight * self.counts / len(self.recent)
