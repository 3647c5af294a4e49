"""sample.py: greedy, temperature, top-k and top-p choices, and warm-up on a prefix."""

import numpy as np
import pytest

from jaylyrics import InputError, config, model, sample
from jaylyrics.backend import mx, nd
from jaylyrics.corpus import Vocab

CTX = mx.cpu()


def test_greedy_takes_the_most_likely():
    assert sample.pick(np.array([0.1, 0.6, 0.3]), 0, 0, 1.0, np.random.RandomState(0)) == 1


def frequencies(probs, **kw):
    rng = np.random.RandomState(0)
    draws = [sample.pick(np.array(probs), kw.get("t", 1.0), kw.get("k", 0), kw.get("p", 1.0), rng)
             for _ in range(4000)]
    return np.bincount(draws, minlength=len(probs)) / len(draws)


def test_temperature_one_samples_the_distribution():
    np.testing.assert_allclose(frequencies([0.1, 0.6, 0.3]), [0.1, 0.6, 0.3], atol=0.03)


def test_low_temperature_sharpens():
    f = frequencies([0.1, 0.6, 0.3], t=0.25)
    want = np.array([0.1, 0.6, 0.3]) ** 4
    np.testing.assert_allclose(f, want / want.sum(), atol=0.03)


def test_top_k_and_top_p_cut_the_tail():
    f = frequencies([0.1, 0.5, 0.15, 0.25], k=2)
    assert f[0] == f[2] == 0
    np.testing.assert_allclose(f[[1, 3]], [0.5 / 0.75, 0.25 / 0.75], atol=0.03)
    f = frequencies([0.1, 0.5, 0.15, 0.25], p=0.7)          # 0.5 + 0.25 reaches 0.7
    assert f[0] == f[2] == 0 and f[1] > 0 and f[3] > 0


def test_generation_continues_the_state_of_the_prefix():
    """Warming up on the prefix in chunks gives the same text as one chunk."""
    cfg = config.from_dict({"model": {"type": "lstm", "hidden_size": 8, "init_std": 0.5, "cache_size": 0}})
    vocab = Vocab.build("abcdefg\n")
    params = model.init_params(cfg.model, len(vocab), CTX, 3)
    prefix = "abcabcgfedcba" * 3
    a = "".join(sample.generate(params, cfg.model, vocab, prefix, 30, CTX, warmup_chunk=4))
    b = "".join(sample.generate(params, cfg.model, vocab, prefix, 30, CTX, warmup_chunk=1000))
    assert a == b and len(a) == 30
    # greedy by hand: forward the whole prefix, then argmax step by step
    state = model.begin_state(cfg.model, 1, CTX)
    logits, state = model.forward(params, nd.array(vocab.encode(prefix)[None, :]), state, cfg.model)
    first = int(np.argmax(logits.asnumpy()[-1]))
    assert a[0] == vocab.chars[first]


@pytest.mark.parametrize("kw,message", [
    (dict(length=-1), "--length"), (dict(temperature=-0.5), "--temperature"),
    (dict(top_k=99), "--top-k"), (dict(top_p=0.0), "--top-p"),
])
def test_bad_options(kw, message):
    args = dict(length=10, temperature=0.0, top_k=0, top_p=1.0, vocab_size=8)
    args.update(kw)
    with pytest.raises(InputError, match=message):
        sample.check_options(**args)
