"""cache.py against brute-force counts over the history."""

from types import SimpleNamespace

import numpy as np
import pytest

from jaylyrics.cache import Cache, mix_nll


def brute(ids, k, size, order):
    """(u, m) for predicting ids[k] from ids[:k], by scanning the window."""
    window = ids[max(0, k - size):k]
    u = np.mean(window == ids[k]) if len(window) else 0.0
    if k < order:
        return u, None
    context = list(ids[k - order:k])
    nexts = [ids[j] for j in range(max(order, k - size), k) if list(ids[j - order:j]) == context]
    return u, (np.mean(np.array(nexts) == ids[k]) if nexts else None)


@pytest.mark.parametrize("size,order", [(1, 1), (5, 2), (20, 1), (30, 3), (1000, 2)])
def test_cache_probabilities_match_brute_force(size, order):
    ids = np.random.RandomState(size).randint(0, 4, 150)
    cache = Cache(size, order, 4)
    for k in range(1, len(ids)):
        cache.push(int(ids[k - 1]))
        u, m = cache.prob_of(int(ids[k]))
        bu, bm = brute(ids, k, size, order)
        assert u == pytest.approx(bu)
        assert (m is None) == (bm is None)
        if m is not None:
            assert m == pytest.approx(bm)
        full = cache.mix(np.full(4, 0.25), 0.2, 0.3)
        assert full.sum() == pytest.approx(1.0)
        want = 0.5 * 0.25 + 0.2 * bu + 0.3 * (bm if bm is not None else 0.25)
        assert full[ids[k]] == pytest.approx(want)


def test_mixed_nll_and_off_switch():
    ids = np.array([1, 2, 1, 2, 1, 3])
    nll = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    off = SimpleNamespace(cache_size=0, cache_weight=0.2, cache_order=1, cache_match_weight=0.3)
    np.testing.assert_array_equal(mix_nll(nll, ids, off), nll)
    cfg = SimpleNamespace(cache_size=3, cache_weight=0.2, cache_order=1, cache_match_weight=0.3)
    want = []
    for k in range(1, len(ids)):
        u, m = brute(ids, k, 3, 1)
        p = np.exp(-nll[k - 1])
        want.append(-np.log(0.8 * p + 0.2 * u + (0.3 * (m - p) if m is not None else 0)))
    np.testing.assert_allclose(mix_nll(nll, ids, cfg), want)
