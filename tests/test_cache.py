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
        for prior in (0.0, 7.0):
            cfg = SimpleNamespace(cache_weight=0.2, cache_match_weight=0.3, cache_prior=prior)
            full = cache.mix(np.full(4, 0.25), cfg)
            assert full.sum() == pytest.approx(1.0)
            n = min(k, size)                                 # the characters the cache holds
            w_u = 0.2 * n / (n + prior)
            want = (1 - w_u - 0.3) * 0.25 + w_u * bu + 0.3 * (bm if bm is not None else 0.25)
            assert full[ids[k]] == pytest.approx(want)


@pytest.mark.parametrize("prior", [0.0, 2.0])
def test_mixed_nll_and_off_switch(prior):
    ids = np.array([1, 2, 1, 2, 1, 3])
    nll = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    off = SimpleNamespace(cache_size=0, cache_weight=0.2, cache_order=1, cache_match_weight=0.3,
                          cache_prior=prior)
    np.testing.assert_array_equal(mix_nll(nll, ids, off), nll)
    cfg = SimpleNamespace(cache_size=3, cache_weight=0.2, cache_order=1, cache_match_weight=0.3,
                          cache_prior=prior)
    want = []
    for k in range(1, len(ids)):
        u, m = brute(ids, k, 3, 1)
        p = np.exp(-nll[k - 1])
        n = min(k, 3)
        w_u = 0.2 * n / (n + prior)                # the weight grows with what the cache holds
        want.append(-np.log((1 - w_u) * p + w_u * u + (0.3 * (m - p) if m is not None else 0)))
    np.testing.assert_allclose(mix_nll(nll, ids, cfg), want)


def test_a_one_character_prefix_is_not_repeated_for_the_cache_alone():
    """After the prefix 你 the network is unsure of everything (its likeliest 0.7%); a cache of
    that one character said 你 with the unigram weight, 5%, and greedy writing went 你你你...
    With model.cache_prior the cache of one character counts 1/21 of it."""
    network = np.full(10, 0.07)
    network[1], network[0] = 0.37, 0.0                         # 1 the likeliest, 0 the prefix
    window = Cache(1000, 3, 10, [0])
    cfg = SimpleNamespace(cache_weight=0.5, cache_match_weight=0.0, cache_prior=0.0)
    assert np.argmax(window.mix(network, cfg)) == 0
    cfg.cache_prior = 20.0
    assert np.argmax(window.mix(network, cfg)) == 1
