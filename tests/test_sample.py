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


def test_a_draw_takes_what_numpys_choice_takes():
    """sample.draw (an inverse-CDF draw, twice as fast) picks the id `rng.choice(V, p=...)`
    picks from the same seed, and leaves the generator where choice leaves it, also for
    distributions with zeros (top-k, top-p) and all the mass on one id: seeded samples stay
    what they were."""
    rng = np.random.RandomState(0)
    cases = [rng.dirichlet(np.ones(50) * a) for a in (0.05, 1.0, 20.0)]
    cases.append(np.where(np.arange(50) % 3 == 0, cases[1], 0.0))
    cases.append(np.eye(50)[17])
    for probs in cases:
        probs = probs / probs.sum()
        mine, numpys = np.random.RandomState(5), np.random.RandomState(5)
        got = [sample.draw(probs, mine) for _ in range(500)]
        assert got == [int(numpys.choice(50, p=probs)) for _ in range(500)]
        assert mine.random_sample() == numpys.random_sample()
        assert all(probs[i] > 0 for i in got)


def test_low_temperature_sharpens():
    f = frequencies([0.1, 0.6, 0.3], t=0.25)
    want = np.array([0.1, 0.6, 0.3]) ** 4
    np.testing.assert_allclose(f, want / want.sum(), atol=0.03)


def test_a_temperature_near_zero_is_greedy_without_warnings():
    """1e-320 made log(p) / T overflow to -inf everywhere: NumPy warned twice on stderr and the
    draw came from NaNs (a line break over and over). Near 0 the draw is the greedy choice."""
    import warnings

    probs = np.array([0.1, 0.0, 0.6, 0.3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t in (1e-320, 1e-300, 1e-9):
            np.testing.assert_array_equal(sample.shape(probs, t, 0, 1.0), [0, 0, 1, 0])
            assert sample.pick(probs, t, 2, 0.5, np.random.RandomState(0)) == 2
        np.testing.assert_allclose(sample.shape(probs, 0.5, 0, 1.0),
                                   probs ** 2 / (probs ** 2).sum())


def test_top_k_and_top_p_cut_the_tail():
    f = frequencies([0.1, 0.5, 0.15, 0.25], k=2)
    assert f[0] == f[2] == 0
    np.testing.assert_allclose(f[[1, 3]], [0.5 / 0.75, 0.25 / 0.75], atol=0.03)
    f = frequencies([0.1, 0.5, 0.15, 0.25], p=0.7)          # 0.5 + 0.25 reaches 0.7
    assert f[0] == f[2] == 0 and f[1] > 0 and f[3] > 0


@pytest.mark.parametrize("kind,layers,embed,tie", [("rnn", 1, 0, False), ("gru", 2, 4, False),
                                                   ("lstm", 1, 8, True)])
def test_greedy_generation_equals_mxnet_step_by_step(kind, layers, embed, tie):
    """The NumPy decoder continues the prefix's state and picks what MXNet's own forward pass,
    run character by character, would pick."""
    cfg = config.from_dict({"model": {"type": kind, "hidden_size": 8, "num_layers": layers,
                                      "embed_size": embed, "tie_weights": tie, "init_std": 0.5,
                                      "cache_size": 0, "dropout": 0.3}})
    vocab = Vocab.build("abcdefg\n")
    params = model.init_params(cfg.model, len(vocab), CTX, 3)
    prefix = "abcabcgfedcba" * 3
    got = "".join(sample.generate(params, cfg.model, vocab, prefix, 30))
    state = model.begin_state(cfg.model, 1, CTX)
    logits, state = model.forward(params, nd.array(vocab.encode(prefix)[None, :]), state, cfg.model)
    want = ""
    for _ in range(30):
        last = int(np.argmax(logits.asnumpy()[-1]))
        want += vocab.chars[last]
        logits, state = model.forward(params, nd.array([[last]]), state, cfg.model)
    assert got == want and len(set(got)) > 1


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_the_numpy_decoder_gives_mxnets_logits_and_state(kind):
    cfg = config.from_dict({"model": {"type": kind, "hidden_size": 6, "num_layers": 2,
                                      "embed_size": 5, "tie_weights": False, "init_std": 0.5}})
    params = model.init_params(cfg.model, 9, CTX, 1)
    X = np.random.RandomState(0).randint(0, 9, (1, 7))
    run, zero = model.decoder(params, cfg.model)
    logits, state = run(X, zero)
    ref, ref_state = model.forward(params, nd.array(X), model.begin_state(cfg.model, 1, CTX), cfg.model)
    assert logits.dtype == np.float32 and len(state) == len(ref_state)
    np.testing.assert_allclose(logits, ref.asnumpy(), rtol=1e-5, atol=1e-6)
    for s, r in zip(state, ref_state):
        np.testing.assert_allclose(s, r.asnumpy(), rtol=1e-5, atol=1e-6)


def test_a_long_prefix_is_read_in_chunks_with_its_state_carried(monkeypatch):
    """A prefix longer than WARM_UP_CHUNK (a whole file as --prefix-file) goes through the
    network a chunk at a time, so its memory does not grow with it; the state is carried, so the
    next character's distribution is MXNet's after the whole prefix in one pass."""
    cfg = config.from_dict({"model": {"type": "gru", "hidden_size": 8, "embed_size": 4,
                                      "tie_weights": False, "init_std": 0.5, "cache_size": 0}})
    vocab = Vocab.build("abcdefg\n")
    params = model.init_params(cfg.model, len(vocab), CTX, 3)
    monkeypatch.setattr(sample, "WARM_UP_CHUNK", 16)
    lengths = []
    decoder = model.decoder

    def spied(params, model_cfg):
        run, zero = decoder(params, model_cfg)

        def counted_run(X, state, project=True):
            lengths.append(X.shape[1])
            return run(X, state, project)
        return counted_run, zero
    monkeypatch.setattr(model, "decoder", spied)
    prefix = "abcabcgfedcba\n" * 5                                  # 70 characters
    probs = dict((c, p) for c, p, _ in sample.next_chars(params, cfg.model, vocab, prefix, 8))
    assert lengths == [16, 16, 16, 16, 5, 1]                       # 69 read, then the last
    logits, _ = model.forward(params, nd.array(vocab.encode(prefix)[None, :]),
                              model.begin_state(cfg.model, 1, CTX), cfg.model)
    want = np.exp(logits.asnumpy()[-1].astype(np.float64))
    np.testing.assert_allclose([probs[c] for c in vocab.chars], want / want.sum(), rtol=1e-5)


@pytest.mark.parametrize("kw,message", [
    (dict(length=-1), "--length"), (dict(temperature=-0.5), "--temperature"),
    (dict(top_k=99), "--top-k"), (dict(top_p=0.0), "--top-p"),
])
def test_bad_options(kw, message):
    args = dict(length=10, temperature=0.0, top_k=0, top_p=1.0, vocab_size=8)
    args.update(kw)
    with pytest.raises(InputError, match=message):
        sample.check_options(**args)


@pytest.mark.parametrize("cache_size", [0, 50])
def test_next_chars_ranks_the_whole_distribution(cache_size):
    """sample --next: the network's probabilities are the softmax of MXNet's forward pass over
    the prefix; with a cache the mixture differs but still sums to 1; ranked most likely first,
    and the first is what greedy generation writes."""
    cfg = config.from_dict({"model": {"type": "gru", "hidden_size": 8, "embed_size": 4,
                                      "tie_weights": False,
                                      "init_std": 0.5, "cache_size": cache_size}})
    vocab = Vocab.build("abcdefg\n")
    params = model.init_params(cfg.model, len(vocab), CTX, 3)
    prefix = "abcabcgfedcba" * 3
    ranked = sample.next_chars(params, cfg.model, vocab, prefix, len(vocab))
    chars, p, p_network = zip(*ranked)
    assert sorted(chars) == sorted(vocab.chars) and list(p) == sorted(p, reverse=True)
    assert abs(sum(p) - 1) < 1e-9 and abs(sum(p_network) - 1) < 1e-9
    logits, _ = model.forward(params, nd.array(vocab.encode(prefix)[None, :]),
                              model.begin_state(cfg.model, 1, CTX), cfg.model)
    last = logits.asnumpy()[-1].astype(np.float64)
    softmax = np.exp(last - last.max()) / np.exp(last - last.max()).sum()
    np.testing.assert_allclose([p_network[chars.index(c)] for c in vocab.chars], softmax, atol=1e-5)
    assert (p != p_network) == bool(cache_size)
    assert chars[0] == next(sample.generate(params, cfg.model, vocab, prefix, 1))
    assert sample.next_chars(params, cfg.model, vocab, prefix, 3) == list(ranked[:3])
    with pytest.raises(InputError, match="--next 0: expected 1 to 8"):
        sample.next_chars(params, cfg.model, vocab, prefix, 0)


def test_next_chars_at_a_temperature_are_the_draw_probabilities():
    """With --temperature (and top-k), p is proportional to p_model ** (1 / T) over the top-k
    characters: the distribution `generate` draws from."""
    cfg = config.from_dict({"model": {"type": "lstm", "hidden_size": 8, "embed_size": 4,
                                      "tie_weights": False,
                                      "init_std": 0.5, "cache_size": 50}})
    vocab = Vocab.build("abcdefg\n")
    params = model.init_params(cfg.model, len(vocab), CTX, 5)
    prefix = "gfedcbaabc"
    greedy = sample.next_chars(params, cfg.model, vocab, prefix, len(vocab))
    top3 = greedy[:3]
    want = np.array([p for _, p, _ in top3]) ** (1 / 0.7)
    shaped = sample.next_chars(params, cfg.model, vocab, prefix, len(vocab), temperature=0.7, top_k=3)
    assert [c for c, _, _ in shaped] == [c for c, _, _ in top3]
    np.testing.assert_allclose([p for _, p, _ in shaped], want / want.sum(), rtol=1e-9)
    assert [q for _, _, q in shaped] == [q for _, _, q in top3]      # the network's own, unchanged
    draws = [next(sample.generate(params, cfg.model, vocab, prefix, 1, 0.7, 3, 1.0,
                                  np.random.RandomState(seed))) for seed in range(400)]
    counts = [draws.count(c) / len(draws) for c, _, _ in shaped]
    np.testing.assert_allclose(counts, want / want.sum(), atol=0.08)


def test_loops_finds_a_repeated_ending():
    assert sample.loops("分开\n我不能再想我\n我不能再想我\n我不能再想我\n")
    assert sample.loops("xyz" + "ab" * 3) and sample.loops("aaa")
    assert not sample.loops("abcdefghij") and not sample.loops("aab") and not sample.loops("")
    assert not sample.loops("ab" * 2)                                   # twice is not a loop
    piece = "".join(chr(0x4E00 + i) for i in range(40))                # 40 distinct characters
    assert not sample.loops(piece * 3) and sample.loops(piece * 3, longest=40)


def test_repeated_end_names_the_piece_and_asks_for_a_span():
    assert sample.repeated_end("分开\n" + "我不能再想\n" * 3) == "我不能再想\n"
    assert sample.repeated_end("xyz" + "ab" * 3) == "ab" and sample.repeated_end("xyz") == ""
    # span 10: ten of one character, five of a pair, four of a triple, three of longer pieces
    assert sample.repeated_end("分开" + " " * 10, span=10) == " "
    assert sample.repeated_end("分开" + " " * 9, span=10) == ""
    assert sample.repeated_end("啦啦啦啦啦啦啦", span=10) == ""         # the lyrics' longest run
    assert sample.repeated_end("x" + "ab" * 5, span=10) == "ab"
    assert sample.repeated_end("x" + "ab" * 4, span=10) == ""
    assert sample.repeated_end("x" + "abc" * 4, span=10) == "abc"
    assert sample.repeated_end("x" + "abc" * 3, span=10) == ""
    assert sample.repeated_end("x" + "abcd" * 3, span=10) == "abcd"


def ngram_counts(text, n):
    return {text[j:j + n]: text.count(text[j:j + n]) for j in range(len(text) - n + 1)}


@pytest.mark.parametrize("n,temperature", [(2, 0.0), (3, 0.0), (4, 0.0), (3, 1.5)])
def test_no_repeat_writes_no_piece_of_n_characters_twice(n, temperature):
    """--no-repeat-ngram-size n: in prefix + lyrics no piece of n characters occurs twice
    (counted by brute force over the text; the prefix has none), where greedy decoding without
    it repeats itself; the block rules out only what would repeat, so shorter pieces still come
    back."""
    cfg = config.from_dict({"model": {"type": "gru", "hidden_size": 8, "embed_size": 4,
                                      "tie_weights": False, "init_std": 0.5, "cache_size": 50}})
    vocab = Vocab.build("abcdefghijklmnop\n")
    params = model.init_params(cfg.model, len(vocab), CTX, 3)
    prefix = "abcde"
    for seed in range(3):
        kw = dict(temperature=temperature, rng=np.random.RandomState(seed))
        free = prefix + "".join(sample.generate(params, cfg.model, vocab, prefix, 60, **kw))
        kw["rng"] = np.random.RandomState(seed)
        blocked = prefix + "".join(sample.generate(params, cfg.model, vocab, prefix, 60,
                                                   no_repeat=n, **kw))
        assert max(ngram_counts(free, n).values()) > 1 or temperature
        assert max(ngram_counts(blocked, n).values()) == 1, blocked
        assert max(ngram_counts(blocked, n - 1).values()) > 1 or n == 2


def test_no_repeat_is_greedy_over_what_is_not_ruled_out():
    """Greedy with the block takes, at every step, the likeliest of the characters that do not
    complete an n-gram already written: the same as a reference loop over `next_chars` (the
    whole ranked distribution, unblocked) that skips those characters itself."""
    cfg = config.from_dict({"model": {"type": "lstm", "hidden_size": 8, "embed_size": 4,
                                      "tie_weights": False, "init_std": 0.5, "cache_size": 20}})
    vocab = Vocab.build("abcdefg\n")
    params = model.init_params(cfg.model, len(vocab), CTX, 5)
    text = "gfedcbaabc"
    got = text + "".join(sample.generate(params, cfg.model, vocab, text, 25, no_repeat=3))
    for _ in range(25):
        seen = {text[j:j + 3] for j in range(len(text) - 2)}
        ranked = sample.next_chars(params, cfg.model, vocab, text, len(vocab))
        text += next(c for c, _, _ in ranked if text[-2:] + c not in seen)
    assert got == text


def test_no_repeat_rules_out_and_renormalises():
    block = sample.NoRepeat(3, [0, 1, 2, 0, 1])        # after (0, 1): 2 followed it before
    assert block.banned() == [2]
    np.testing.assert_allclose(block.apply(np.array([0.1, 0.2, 0.5, 0.2])),
                               [0.2, 0.4, 0.0, 0.4])
    block.push(3)                                        # (1, 3) is new: nothing ruled out
    probs = np.array([0.25] * 4)
    assert block.banned() == [] and block.apply(probs) is probs
    assert sample.NoRepeat(0, [0, 0, 0]).banned() == []
    once = sample.NoRepeat(1, [0, 1, 0])                 # n = 1: every character once
    assert once.banned() == [0, 1]
    everything = np.array([0.5, 0.5, 0.0])              # all with any probability ruled out:
    assert once.apply(everything) is everything         # nothing is (no division by zero)


def test_no_repeat_in_next_chars_and_bad_values():
    cfg = config.from_dict({"model": {"type": "rnn", "hidden_size": 8, "embed_size": 4,
                                      "tie_weights": False, "init_std": 0.5, "cache_size": 0}})
    vocab = Vocab.build("abcdefg\n")
    params = model.init_params(cfg.model, len(vocab), CTX, 1)
    ranked = sample.next_chars(params, cfg.model, vocab, "abcdab", len(vocab), no_repeat=3)
    chars, p, _ = zip(*ranked)
    assert "c" not in chars and abs(sum(p) - 1) < 1e-9 and len(chars) == len(vocab) - 1
    with pytest.raises(InputError, match="--no-repeat-ngram-size -1: expected 0"):
        sample.check_options(10, 0.0, 0, 1.0, 8, no_repeat=-1)
