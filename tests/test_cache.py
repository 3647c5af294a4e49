"""cache.py against a brute-force count over the history."""

import numpy as np
import pytest

from jaylyrics import cache


def brute(ids, size):
    return np.array([np.mean(ids[max(0, i - size):i] == ids[i]) for i in range(1, len(ids))])


@pytest.mark.parametrize("size", [1, 3, 10, 1000])
def test_target_probs_match_a_brute_force_count(size):
    ids = np.random.RandomState(size).randint(0, 6, 200)
    np.testing.assert_allclose(cache.target_probs(ids, size), brute(ids, size))


def test_mixture_and_off_switch():
    ids = np.array([1, 2, 1, 2, 3])
    nll = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(cache.mix_nll(nll, ids, 0, 0.5), nll)
    want = -np.log(0.8 * np.exp(-nll) + 0.2 * brute(ids, 2))
    np.testing.assert_allclose(cache.mix_nll(nll, ids, 2, 0.2), want)


def test_window_counts_the_last_characters():
    w = cache.Window(3, 5, [0, 1, 1])
    for i in [4, 4, 2]:
        w.push(i)
    np.testing.assert_array_equal(w.counts, [0, 0, 1, 0, 2])
    probs = np.full(5, 0.2)
    np.testing.assert_allclose(w.mix(probs, 0.5), 0.5 * probs + 0.5 * np.array([0, 0, 1, 0, 2]) / 3)
    assert cache.Window(0, 5, [1]).mix(probs, 0.5) is probs
