"""train.py: clipping, the optimisers, evaluation, determinism, and the guards of the loop."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import ZIP
from jaylyrics import JaylyricsError, config, corpus, model, optim, resume, runs, train
from jaylyrics.backend import mx, nd

CTX = mx.cpu()


def params_with_grads(grads):
    params = {}
    for i, g in enumerate(grads):
        p = nd.zeros(g.shape)
        p.attach_grad()
        p.grad[:] = g
        params[f"p{i}"] = p
    return params


def test_clipping_by_the_global_norm():
    rng = np.random.RandomState(0)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    norm = math.sqrt(sum((g ** 2).sum() for g in grads))
    params = params_with_grads(grads)
    assert optim.global_norm(params) == pytest.approx(norm, rel=1e-6)
    assert optim.clip_scale(norm, norm / 2) == pytest.approx(0.5)
    assert optim.clip_scale(norm, norm * 2) == 1.0                 # below the threshold: untouched
    assert optim.clip_scale(norm, 0) == 1.0                        # 0: no clipping
    # the update applies the scale: the same as SGD on gradients clipped to norm / 2
    optim.Optimizer("sgd", lr=1.0).step(params, optim.clip_scale(norm, norm / 2))
    clipped = [-p.asnumpy() for p in params.values()]
    assert math.sqrt(sum((g ** 2).sum() for g in clipped)) == pytest.approx(norm / 2, rel=1e-5)
    np.testing.assert_allclose(clipped[0], grads[0] / 2, rtol=1e-5)


def test_sgd_step_with_weight_decay():
    params = params_with_grads([np.array([1.0, -2.0])])
    params["p0"][:] = np.array([0.5, 0.5])
    optim.Optimizer("sgd", lr=0.1, weight_decay=0.01).step(params)
    np.testing.assert_allclose(params["p0"].asnumpy(), [0.5 - 0.1 * (1.0 + 0.005),
                                                        0.5 - 0.1 * (-2.0 + 0.005)], rtol=1e-6)


def test_adam_matches_the_textbook_update():
    rng = np.random.RandomState(1)
    w = rng.normal(size=5)
    params = params_with_grads([np.zeros(5)])
    params["p0"][:] = w
    opt = optim.Optimizer("adam", lr=0.01)
    m = v = np.zeros(5)
    for t in range(1, 4):
        g = rng.normal(size=5)
        params["p0"].grad[:] = g
        opt.step(params)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(params["p0"].asnumpy(), w, rtol=1e-4, atol=1e-6)


def test_evaluate_carries_the_state_through_the_whole_text():
    """Chunked evaluation equals one pass, and equals the mean NLL of a NumPy softmax."""
    cfg = config.from_dict({"model": {"type": "lstm", "hidden_size": 8, "init_std": 0.3,
                                      "cache_size": 0, "tie_weights": False}})
    V = 11
    params = model.init_params(cfg.model, V, CTX, 0)
    ids = np.random.RandomState(2).randint(0, V, 50)
    small = train.evaluate(params, ids, cfg.model, CTX, chunk=7)
    whole = train.evaluate(params, ids, cfg.model, CTX, chunk=1000)
    assert small.chars == whole.chars == 49
    assert small.nll == pytest.approx(whole.nll, rel=1e-5)
    logits, _ = model.forward(params, nd.array(ids[None, :-1]), model.begin_state(cfg.model, 1, CTX),
                              cfg.model)
    z = logits.asnumpy().astype(np.float64)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    assert whole.nll * whole.chars == pytest.approx(-logp[np.arange(49), ids[1:]].sum(), rel=1e-5)


@pytest.mark.parametrize("kind, embed, layers, tie", [("rnn", 0, 1, False), ("gru", 6, 2, False),
                                                    ("lstm", 8, 2, True)])
def test_scoring_in_numpy_equals_the_training_devices_score(kind, embed, layers, tie):
    """`jaylyrics eval` scores with the network in NumPy (`score.evaluate`), the training loop on
    its MXNet device (`train.evaluate`): the same NLL per character, with and without the cache,
    in chunks that do not divide the text."""
    from jaylyrics import score

    cfg = config.from_dict({"model": {"type": kind, "hidden_size": 8, "embed_size": embed,
                                      "num_layers": layers, "tie_weights": tie, "init_std": 0.5,
                                      "cache_size": 30, "cache_weight": 0.1,
                                      "cache_match_weight": 0.3}})
    V = 13
    params = model.init_params(cfg.model, V, CTX, 4)
    ids = np.random.RandomState(5).randint(0, V, 150)
    ours = train.model_nll(params, ids, cfg.model, CTX, chunk=64)
    numpy_nll = score.network_nll({k: v.asnumpy() for k, v in params.items()}, ids, cfg.model,
                                  chunk=40)
    np.testing.assert_allclose(numpy_nll, ours, rtol=1e-5, atol=1e-6)
    on_device, in_numpy = train.evaluate(params, ids, cfg.model, CTX), score.evaluate(params, ids, cfg.model)
    assert in_numpy.chars == on_device.chars == 149
    assert in_numpy.nll == pytest.approx(on_device.nll, rel=1e-6)
    assert in_numpy.nll_model == pytest.approx(on_device.nll_model, rel=1e-6)
    assert in_numpy.nll != in_numpy.nll_model                  # the cache took part
    assert score.network_nll(params, ids[:1], cfg.model).shape == (0,)


@pytest.mark.parametrize("kind, embed, layers", [("rnn", 0, 1), ("gru", 6, 2), ("lstm", 8, 2)])
def test_lines_scored_in_batches_score_as_each_alone(kind, embed, layers):
    """`eval --per-line` scores its lines in padded batches (`score.evaluate_lines`): each
    line's score is the one the training's MXNet scoring gives it alone, from a zero state with
    its own cache, whatever batch it fell in (batches of at most 40 characters here: lines of
    different lengths side by side), for a line scored twice, and for one too long to batch; an
    ensemble's as `score.evaluate` gives it."""
    from jaylyrics import score

    cfg = config.from_dict({"model": {"type": kind, "hidden_size": 8, "embed_size": embed,
                                      "num_layers": layers, "tie_weights": False,
                                      "init_std": 0.5, "cache_size": 30, "cache_weight": 0.1,
                                      "cache_match_weight": 0.3}})
    V, rng = 13, np.random.RandomState(6)
    params = model.init_params(cfg.model, V, CTX, 4)
    texts = [rng.randint(0, V, n) for n in (2, 9, 5, 14, 3, 9, 60, 7)]
    texts.append(texts[1].copy())
    told = []
    got = score.evaluate_lines(params, texts, cfg.model, batch_chars=40, long=30,
                               progress=told.append)
    assert sum(told) == len(texts) and len(told) > 2                # (the duplicate counted)
    for ids, lines in zip(texts, got):
        alone = train.evaluate(params, ids, cfg.model, CTX)
        assert lines.chars == alone.chars == len(ids) - 1
        assert lines.nll == pytest.approx(alone.nll, rel=1e-5)
        assert lines.nll_model == pytest.approx(alone.nll_model, rel=1e-5)
    assert any(s.nll != s.nll_model for s in got)                 # the cache took part
    other = (model.init_params(cfg.model, V, CTX, 5), cfg.model)
    both = score.evaluate_lines(params, texts, cfg.model, others=(other,), batch_chars=40)
    for ids, lines in zip(texts, both):
        assert lines.nll == pytest.approx(
            score.evaluate(params, ids, cfg.model, others=(other,)).nll, rel=1e-5)


def tiny(tmp_path, **train_keys):
    raw = {"data": {"corpus": str(ZIP), "max_chars": 2000},
           "model": {"type": "gru", "hidden_size": 16, "embed_size": 8, "tie_weights": False,
                     "dropout": 0.2, "cache_size": 0},
           "train": dict({"epochs": 2, "batch_size": 4, "num_steps": 8, "optimizer": "adam",
                          "lr": 0.01, "loss": "mean", "sample_every": 0,
                          "out_dir": str(tmp_path / "run")}, **train_keys)}
    cfg = config.from_dict(raw)
    return cfg, corpus.load(cfg.data)


@pytest.mark.parametrize("sampler", ["random", "consecutive"])
def test_same_config_and_seed_give_the_same_run(tmp_path, monkeypatch, sampler):
    monkeypatch.chdir(tmp_path)
    results = []
    for name in ("a", "b"):
        cfg, data = tiny(tmp_path / name, sampler=sampler)
        train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
        results.append(json_params(Path(cfg.train.out_dir)))
    assert results[0] == results[1]
    cfg, data = tiny(tmp_path / "c", sampler=sampler, seed=1)
    train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
    assert json_params(Path(cfg.train.out_dir)) != results[0]


def json_params(run):
    from jaylyrics import checkpoint

    ck = checkpoint.load(run / "last.json", CTX)
    return {k: v.asnumpy().tolist() for k, v in ck.params.items()}


class Recorder(train.Reporter):
    def __init__(self):
        self.results, self.stops = [], []

    def epoch_end(self, result):
        self.results.append(result)

    def stopped(self, epoch, reason):
        self.stops.append((epoch, reason))


@pytest.mark.parametrize("bests,improving", [
    # a small corpus (3 batches an epoch): under 1% an epoch, 3.2% over the last three
    ([math.inf, 152.0, 151.2, 148.2, 145.8, 143.7, 142.3, 141.05], True),
    # the default run's last epochs: its best by a hair, 0.1% over three
    ([math.inf, 34.0336, 34.0336, 34.0336, 34.0336, 34.0107, 33.9953], False),
    ([math.inf, 50.3, 49.0], True),                     # two epochs: 2.6%
    ([math.inf, 50.3, 50.2], False),                    # 0.2%
    ([math.inf, 50.3], False),                          # one epoch: nothing to compare with
    ([60.0, 59.0], True),                               # resumed for one epoch: from its best
    ([math.inf, 50.0, 45.0, 45.0], False),              # the last epoch is not the best
    ([math.inf, 100.0, 90.0, 89.6, 89.4, 89.2], False),  # the fall of epoch 2 is out of the window
])
def test_a_run_is_still_improving_by_its_last_three_epochs(bests, improving):
    """Whether a run ends with "more epochs may help": its last epoch its best, and the best
    down by 1% over the last three epochs. Measured over the last epoch alone, a run on a small
    corpus falling steadily by under 1% an epoch (a 5,000-character corpus: 3 batches an epoch)
    ended without the note."""
    assert train.still_improving(bests) is improving


def test_early_stopping_and_learning_rate_decay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scores = iter([100.0, 90.0, 95.0, 96.0, 97.0, 98.0, 99.0])
    monkeypatch.setattr(train, "model_nll", lambda *a, **k: np.full(1, math.log(next(scores))))
    cfg, data = tiny(tmp_path, epochs=7, patience=3, lr_decay=0.5, lr_patience=1)
    rec = Recorder()
    summary = train.fit(cfg, data, CTX, Path(cfg.train.out_dir), rec)
    assert [r.epoch for r in rec.results] == [1, 2, 3, 4, 5]
    assert rec.stops and rec.stops[0][0] == 5
    assert [r.lr for r in rec.results] == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.0025])
    assert summary["best_epoch"] == 2 and summary["best"] == pytest.approx(90.0)
    from jaylyrics import checkpoint
    assert checkpoint.load(tmp_path / "run", CTX).meta["epoch"] == 2


def test_min_improvement_lets_small_gains_run_out_the_patience(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # 1% needed: 89.5 is not enough after 90, 89.0 is (89.1 needed); then 88.9, 88.8, 88.7
    # each improve the best but not by 1% of 89.0, so the patience of 3 runs out at epoch 7
    scores = iter([100.0, 90.0, 89.5, 89.0, 88.9, 88.8, 88.7, 88.6])
    monkeypatch.setattr(train, "model_nll", lambda *a, **k: np.full(1, math.log(next(scores))))
    cfg, data = tiny(tmp_path, epochs=8, patience=3, lr_decay=0.5, lr_patience=2,
                     min_improvement=0.01)
    rec = Recorder()
    summary = train.fit(cfg, data, CTX, Path(cfg.train.out_dir), rec)
    assert [r.epoch for r in rec.results] == [1, 2, 3, 4, 5, 6, 7]
    assert [r.best for r in rec.results] == [True] * 7                # every epoch a new best
    assert rec.stops == [(7, "no improvement of 1.0% or more for 3 epochs (train.patience, "
                              "train.min_improvement)")]
    assert [r.lr for r in rec.results] == pytest.approx([0.01] * 6 + [0.005])   # stale 2 at 6
    assert summary["best_epoch"] == 7 and summary["best"] == pytest.approx(88.7)
    from jaylyrics import checkpoint
    assert checkpoint.load(tmp_path / "run", CTX).meta["epoch"] == 7        # the best, saved
    ck, arrays = checkpoint.load_resume(tmp_path / "run", CTX)             # --resume goes on
    progress = resume.restore(ck, arrays, cfg)[2]                      # from there
    assert (progress.stale, progress.reference, progress.best) == (3, pytest.approx(89.0),
                                                                   pytest.approx(88.7))
    del ck.meta["resume"]["reference"]              # saved before the key: the best, as then
    assert resume.restore(ck, arrays, cfg)[2].reference == pytest.approx(88.7)


@pytest.mark.parametrize("poison, message", [
    (float("nan"), "the loss became NaN in epoch 2: lower train.lr"),
    # finite, but its perplexity would overflow math.exp (found with --set train.lr=1e20)
    (1e6, r"the loss grew to [\d,]+ nats a character \(a perplexity beyond any float\) in epoch 2"),
])
def test_a_diverged_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(
        tmp_path, monkeypatch, poison, message):
    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path, epochs=3)
    real_compiled, calls = model.compiled, {"n": 0}
    batches = corpus.num_batches(len(data.train), 4, 8, "random")

    def poisoned(*args, **kwargs):
        run = real_compiled(*args, **kwargs)

        def wrapped(params, X, state, Y=None):
            loss, nll_sum, state = run(params, X, state, Y)
            calls["n"] += 1
            scale = poison if calls["n"] > batches else 1.0
            return loss * scale, nll_sum * scale, state
        return wrapped

    monkeypatch.setattr(model, "compiled", poisoned)
    monkeypatch.setattr(train, "model_nll", lambda *a, **k: np.ones(1))
    with pytest.raises(train.TrainingDiverged, match=message):
        train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
    from jaylyrics import checkpoint
    assert checkpoint.load(tmp_path / "run", CTX).meta["epoch"] == 1


@pytest.mark.parametrize("nll, grad_norm, message", [
    (float("nan"), 1.0, "the loss became NaN in epoch 1"),
    (3.0, float("nan"), "the gradient became NaN in epoch 1"),
    (float("inf"), float("nan"), "the loss became infinite in epoch 1"),
    (1000.0, 1.0, "the loss grew to 1,000 nats a character"),
    (3.0, float("inf"), "the gradient became infinite in epoch 1"),
])
def test_what_a_diverged_step_is_called(tmp_path, monkeypatch, nll, grad_norm, message):
    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path)

    def step(params, optimizer, X, Y, state, cfg, aggregator=None):
        return state, nll * X.size, grad_norm                   # (summed over the batch)

    monkeypatch.setattr(train, "step", step)
    with pytest.raises(train.TrainingDiverged, match=re.escape(message) + ".*no checkpoint was "
                                                                         "written"):
        train.fit(cfg, data, CTX, Path(cfg.train.out_dir))


def test_an_infinite_validation_perplexity_stops_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path, epochs=3)
    nll = {"epoch 1": 3.0, "epoch 2": 800.0}                  # exp(800) overflows a float
    monkeypatch.setattr(train, "model_nll", lambda *a, **k: np.full(5, nll.pop(next(iter(nll)))))
    with pytest.raises(train.TrainingDiverged,
                       match="the validation perplexity became infinite after epoch 2"):
        train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
    assert train.perplexity(800.0 * 5, 5) == math.inf and train.perplexity(3.0, 1) == math.exp(3)


def test_evaluate_with_the_cache_is_the_mixture_of_the_model_nll():
    from jaylyrics import cache

    cfg = config.from_dict({"model": {"type": "gru", "hidden_size": 8, "tie_weights": False,
                                      "cache_size": 20, "cache_weight": 0.1,
                                      "cache_match_weight": 0.4}})
    params = model.init_params(cfg.model, 5, CTX, 0)
    ids = np.tile([0, 1, 2, 3, 4, 2], 10)
    raw = train.model_nll(params, ids, cfg.model, CTX)
    score = train.evaluate(params, ids, cfg.model, CTX)
    assert score.chars == len(ids) - 1
    assert score.nll * score.chars == pytest.approx(cache.mix_nll(raw, ids, cfg.model).sum())
    assert score.nll_model * score.chars == pytest.approx(raw.sum())
    assert score.nll < score.nll_model                # a repeating text is what a cache is for


@pytest.mark.parametrize("sampler", ["random", "consecutive"])
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path, monkeypatch, sampler):
    """Adam moments, learning rate, best-so-far and the per-epoch seeds all come back."""
    from jaylyrics import checkpoint

    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path / "whole", sampler=sampler, epochs=4, lr_decay=0.5, lr_patience=1)
    train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
    whole = json_params(Path(cfg.train.out_dir))

    short, _ = tiny(tmp_path / "split", sampler=sampler, epochs=2, lr_decay=0.5, lr_patience=1)
    train.fit(short, data, CTX, Path(short.train.out_dir))
    ck, arrays = checkpoint.load_resume(short.train.out_dir, CTX)
    assert ck.meta["resume"]["epoch"] == 2 and arrays          # Adam moments are saved
    longer = config.override(ck.config, ["train.epochs=4"], allowed="train.")
    train.fit(longer, data, CTX, Path(short.train.out_dir), resume=resume.restore(ck, arrays, longer))
    resumed = json_params(Path(short.train.out_dir))
    for name in whole:
        np.testing.assert_allclose(resumed[name], whole[name], rtol=1e-6, atol=1e-7)
    rows = (Path(short.train.out_dir) / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4"]


def interrupt_step(monkeypatch, n: int, signals: int = 1):
    """From now on, training step number `n` (counting from 1) gets `signals` SIGINTs as it
    starts: they arrive mid-step, as a user's Ctrl-C does. Returns the real step, to put back."""
    import os
    import signal

    real_step, calls = train.step, {"n": 0}

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            for _ in range(signals):
                os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train, "step", interrupting)
    return real_step


@pytest.mark.parametrize("sampler, state_reset", [("random", 0.0), ("consecutive", 0.0),
                                                  ("consecutive", 0.3)])
def test_ctrl_c_mid_epoch_saves_a_checkpoint_that_resumes_exactly(tmp_path, monkeypatch, sampler,
                                                                 state_reset):
    """SIGINT after batch 7 of epoch 2: the loop stops at the batch boundary, saves the weights,
    the optimiser, the carried state and the epoch's progress, and a resume ends where an
    uninterrupted run ends (also with train.state_reset, whose draws are the batch's own)."""
    from jaylyrics import checkpoint

    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path / "whole", sampler=sampler, epochs=3, state_reset=state_reset)
    train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
    whole = json_params(Path(cfg.train.out_dir))

    cut, _ = tiny(tmp_path / "cut", sampler=sampler, epochs=3, state_reset=state_reset)
    batches = corpus.num_batches(len(data.train), 4, 8, sampler)
    real_step = interrupt_step(monkeypatch, batches + 7)      # honoured after that step
    with pytest.raises(train.Interrupted, match="saved after batch 7 of epoch 2: continue with"):
        train.fit(cut, data, CTX, Path(cut.train.out_dir))
    monkeypatch.setattr(train, "step", real_step)
    ck, arrays = checkpoint.load_resume(cut.train.out_dir, CTX)
    assert ck.meta["resume"]["partial"]["batches"] == 7 and ck.meta["epoch"] == 1
    train.fit(cut, data, CTX, Path(cut.train.out_dir), resume=resume.restore(ck, arrays, cut))
    resumed = json_params(Path(cut.train.out_dir))
    for name in whole:
        np.testing.assert_allclose(resumed[name], whole[name], rtol=1e-6, atol=1e-7)
    # the interrupted epoch's gradient statistics include the batches before the interrupt
    np.testing.assert_allclose(gradient_columns(cut.train.out_dir),
                               gradient_columns(cfg.train.out_dir), rtol=1e-3)


@pytest.mark.parametrize("sampler", ["random", "consecutive"])
def test_save_every_keeps_a_resumable_checkpoint_inside_an_epoch(tmp_path, monkeypatch, sampler):
    """train.save_every 3: last.json after every third batch. Saving changes nothing in the
    training (the same parameters to the bit), and a run that dies two batches after such a save
    (no Ctrl-C: nothing is saved as it dies) resumes from it and ends where an uninterrupted run
    ends."""
    from jaylyrics import checkpoint

    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path / "whole", sampler=sampler, epochs=3)
    train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
    whole = json_params(Path(cfg.train.out_dir))
    saving, _ = tiny(tmp_path / "saving", sampler=sampler, epochs=3, save_every=3)
    train.fit(saving, data, CTX, Path(saving.train.out_dir))
    assert json_params(Path(saving.train.out_dir)) == whole
    assert checkpoint.load_resume(saving.train.out_dir, CTX)[0].meta["resume"].get("partial") is None

    died, _ = tiny(tmp_path / "died", sampler=sampler, epochs=3, save_every=3)
    batches = corpus.num_batches(len(data.train), 4, 8, sampler)
    assert batches > 8
    real_step, calls = train.step, {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == batches + 9:                # epoch 2's ninth batch: saved after 6
            raise MemoryError("the process dies")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train, "step", dying)
    with pytest.raises(MemoryError):
        train.fit(died, data, CTX, Path(died.train.out_dir))
    monkeypatch.setattr(train, "step", real_step)
    ck, arrays = checkpoint.load_resume(died.train.out_dir, CTX)
    assert ck.meta["epoch"] == 1 and ck.meta["resume"]["partial"]["batches"] == 6
    assert runs.run_summary(Path(died.train.out_dir))["status"] == "interrupted"
    train.fit(died, data, CTX, Path(died.train.out_dir), resume=resume.restore(ck, arrays, died))
    resumed = json_params(Path(died.train.out_dir))
    for name in whole:
        np.testing.assert_allclose(resumed[name], whole[name], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("epoch, message", [
    (2, "interrupted in epoch 2; the checkpoint of epoch 1 is kept: continue with "),
    (1, "interrupted in epoch 1, before the first checkpoint: nothing to resume"),
])
def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_epochs_checkpoint(
        tmp_path, monkeypatch, epoch, message):
    """Two SIGINTs inside one step: the second raises at once, nothing of the unfinished epoch is
    saved, and the last epoch's checkpoint (if any) is left as it was."""
    import signal

    from jaylyrics import checkpoint

    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path, epochs=3)
    batches = corpus.num_batches(len(data.train), 4, 8, cfg.train.sampler)
    # the first asks for a stop, the second stops at once
    interrupt_step(monkeypatch, batches * (epoch - 1) + 3, signals=2)
    before = signal.getsignal(signal.SIGINT)      # (ignored where the tests run in the background)
    with pytest.raises(train.Interrupted, match=re.escape(message)):
        train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
    assert signal.getsignal(signal.SIGINT) is before                          # put back
    if epoch == 1:
        assert not (tmp_path / "run" / "last.json").exists()
    else:
        ck, _ = checkpoint.load_resume(cfg.train.out_dir, CTX)
        assert ck.meta["epoch"] == 1 and "partial" not in ck.meta["resume"]


def gradient_columns(run_dir):
    import csv

    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return [(float(r["grad_norm"]), float(r["clipped"])) for r in csv.DictReader(f)]


def test_metrics_record_the_mean_gradient_norm_and_how_often_it_was_clipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    norms = []

    def recording(params):
        norms.append(global_norm(params))
        return norms[-1]

    global_norm = train.global_norm
    monkeypatch.setattr(train, "global_norm", recording)
    cfg, data = tiny(tmp_path, epochs=1)
    train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
    clip = float(np.median(norms))                 # about half the batches above it
    norms.clear()
    cfg, data = tiny(tmp_path / "again", epochs=2, clip=clip)
    recorder = Recorder()
    train.fit(cfg, data, CTX, Path(cfg.train.out_dir), recorder)
    per_epoch = np.array_split(np.array(norms), 2)
    want = [(n.mean(), float(np.mean(n > clip))) for n in per_epoch]
    assert 0 < want[0][1] < 1
    got = [(r.grad_norm, r.clipped) for r in recorder.results]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    np.testing.assert_allclose(gradient_columns(cfg.train.out_dir), want, atol=1e-3)


@pytest.mark.parametrize("loss,optimizer,lr", [("mean", "adam", 0.01), ("sum", "sgd", 0.05)])
def test_two_devices_in_one_process_equal_one_device(tmp_path, monkeypatch, loss, optimizer, lr):
    """--device cpu:0,1: the batch split over two contexts, gradients summed through a local
    KVStore; the parameters end as with the whole batch on one device."""
    monkeypatch.chdir(tmp_path)
    ends = []
    for name, ctx in (("one", CTX), ("two", [mx.cpu(0), mx.cpu(1)])):
        cfg, data = tiny(tmp_path / name, loss=loss, sampler="consecutive", optimizer=optimizer,
                         lr=lr)
        cfg = config.from_dict(dict(config.to_dict(cfg), model=dict(config.to_dict(cfg)["model"],
                                                                     dropout=0.0, weight_drop=0.0,
                                                                     embed_drop=0.0)))
        train.fit(cfg, data, ctx, Path(cfg.train.out_dir))
        ends.append(json_params(Path(cfg.train.out_dir)))
    for name in ends[0]:
        np.testing.assert_allclose(ends[1][name], ends[0][name], rtol=1e-5, atol=1e-5)


def test_devices_must_divide_the_batch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path, batch_size=5)
    with pytest.raises(JaylyricsError, match="multiple of the 2 devices"):
        train.fit(cfg, data, [mx.cpu(0), mx.cpu(1)], Path(cfg.train.out_dir))


def test_what_a_resume_may_change(tmp_path, monkeypatch):
    """Inside an interrupted epoch, the keys that cut it into batches must stay (a new batch size
    crashed in MXNet on the carried state; a new num_steps, sampler or seed silently trained
    other batches than the epoch's); after a whole epoch they may change. The optimiser never
    may (its moments). A new train.lr is used; without one, the rate the run left off with."""
    from jaylyrics import checkpoint

    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path, epochs=3, lr_decay=0.5, lr_patience=1, min_improvement=0.99)
    batches = corpus.num_batches(len(data.train), 4, 8, cfg.train.sampler)
    real_step = interrupt_step(monkeypatch, batches + 5)                 # inside epoch 2
    with pytest.raises(train.Interrupted):
        train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
    ck, arrays = checkpoint.load_resume(cfg.train.out_dir, CTX)
    assert ck.meta["resume"]["partial"]["batches"] == 5
    progress = resume.restore(ck, arrays, ck.config)[2]
    resume.check_settings(ck, ck.config, progress)             # nothing changed
    resume.check_settings(ck, config.override(ck.config, ["train.epochs=9",
                                                                "train.clip=0.5"]), progress)
    for change in ("batch_size=3", "num_steps=5", "sampler=random", "seed=7"):
        key = change.split("=")[0]
        with pytest.raises(JaylyricsError, match=rf"interrupted inside epoch 2 \(after batch 5\), "
                                                 rf"whose other batches need what it started "
                                                 rf"with: train.{key} .*--set train.epochs=2"):
            resume.check_settings(ck, config.override(ck.config, [f"train.{change}"]),
                                        progress)
    with pytest.raises(JaylyricsError, match=r"--set train.optimizer=sgd: .* trains with adam, "
                                             r"whose saved state cannot go on as sgd"):
        resume.check_settings(ck, config.override(ck.config, ["train.optimizer=sgd"]),
                                    progress)
    with pytest.raises(JaylyricsError, match=r"interrupted inside epoch 2 \(after batch 5\) in a "
                                             r"single process, whose batches 2 workers would cut "
                                             r"differently: .*--set train.epochs=2"):
        resume.check_settings(ck, ck.config, progress, workers=2)
    # was ignored for writing but saved in the config, so the run named another directory
    with pytest.raises(JaylyricsError, match=r"--set train.out_dir=runs/e: a resumed run goes on "
                                             r"in its own directory \(.*run\); to go on "
                                             r"elsewhere, copy that directory"):
        resume.check_settings(ck, config.override(ck.config, ["train.out_dir=runs/e"]),
                                    progress)

    monkeypatch.setattr(train, "step", real_step)
    train.fit(ck.config, data, CTX, Path(cfg.train.out_dir),
              resume=resume.restore(ck, arrays, ck.config))          # epochs 2 and 3
    ck, arrays = checkpoint.load_resume(cfg.train.out_dir, CTX)
    assert "partial" not in ck.meta["resume"]
    resume.check_settings(ck, config.override(ck.config, ["train.batch_size=3"]),  # now
                                resume.restore(ck, arrays, ck.config)[2])           # free
    left = float(ck.meta["resume"]["lr"])
    assert left < cfg.train.lr                                # decayed by min_improvement's rule
    same = resume.restore(ck, arrays, ck.config)[1]
    assert same.lr == left
    new = resume.restore(ck, arrays, config.override(ck.config, ["train.lr=0.123"]))[1]
    assert new.lr == 0.123


def test_a_resumed_run_must_have_an_epoch_left():
    """check_epochs_left: a run that trained train.epochs, or stopped early and would stop again
    after one more epoch, is refused with the key to change; an interrupted epoch always goes on."""
    tc = config.from_dict({"train": {"epochs": 10, "patience": 3}}).train
    run = Path("runs/x")
    resume.check_epochs_left(resume.Progress(epoch=5, stale=2), tc, run)              # trains on
    partial = resume.Partial(3, 1.0, 10, ())
    resume.check_epochs_left(resume.Progress(epoch=9, stale=3, partial=partial), tc, run)
    with pytest.raises(JaylyricsError, match=r"runs/x has trained its 10 epochs \(train.epochs 10\)"
                                             r": to train longer, .* train.epochs=N \(N > 10\)"):
        resume.check_epochs_left(resume.Progress(epoch=10), tc, run)
    with pytest.raises(JaylyricsError, match=r"stopped early after epoch 7 \(no improvement for 3 "
                                             r"epochs, train.patience 3\).*train.patience=N \(N > 3\)"):
        resume.check_epochs_left(resume.Progress(epoch=7, stale=3), tc, run)
    for patience in (0, 4):                        # early stopping off, or raised with --set
        raised = config.from_dict({"train": {"epochs": 10, "patience": patience}}).train
        resume.check_epochs_left(resume.Progress(epoch=7, stale=3), raised, run)


def test_validation_and_scoring_report_their_progress(tmp_path, monkeypatch):
    """Reporter.validating(chars) is told how many characters each validation scores, and the
    progress it returns is told of every one of them (the CLI draws a bar from it); eval's
    NumPy scoring tells its progress chunk by chunk likewise."""
    from jaylyrics import score

    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path, epochs=2)

    class Counting(train.Reporter):
        def __init__(self):
            self.told, self.done = [], []

        def validating(self, chars):
            self.told.append(chars)
            self.done.append([])
            return self.done[-1].append

    reporter = Counting()
    train.fit(cfg, data, CTX, Path(cfg.train.out_dir), reporter=reporter)
    n = len(data.val) - 1
    assert reporter.told == [n, n] and [sum(d) for d in reporter.done] == [n, n]
    assert max(reporter.done[0]) == 64                          # a chunk at a time

    params = model.init_params(cfg.model, len(data.vocab), CTX, 0)
    ids = np.arange(30) % len(data.vocab)
    for scoring in (score.network_nll, score.per_char):
        calls = []
        scoring(params, ids, cfg.model, chunk=7, progress=calls.append)
        assert calls == [7, 7, 7, 7, 1]


def test_ctrl_c_during_validation_is_heard_at_once_and_stops_after_it(tmp_path, monkeypatch):
    """SIGINT while epoch 1 validates: the reporter hears of it at the next chunk (a long
    validation said nothing till its end), the validation goes on to the end, and the run stops
    saved after epoch 1 with its full val score. A stop asked during the batches stops at a
    batch boundary, before any validation; one asked during the last batch is said as the
    validation begins."""
    import os
    import signal

    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path, epochs=3)

    class Interrupting(train.Reporter):
        def __init__(self):
            self.heard, self.scored = [], 0

        def validating(self, chars):
            def progress(n):
                if not self.scored:
                    os.kill(os.getpid(), signal.SIGINT)
                self.scored += n
            return progress

        def stop_heard(self, epoch):
            self.heard.append((epoch, self.scored))

    reporter = Interrupting()
    with pytest.raises(train.Interrupted, match="saved after epoch 1"):
        train.fit(cfg, data, CTX, Path(cfg.train.out_dir), reporter=reporter)
    assert reporter.heard == [(1, 64)]                           # after the first chunk
    assert reporter.scored == len(data.val) - 1                   # and all of it scored
    rows = (Path(cfg.train.out_dir) / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].split(",")[2]               # epoch 1, with its val_ppl

    real_step = interrupt_step(monkeypatch, 3)                   # asked during the batches
    reporter = Interrupting()
    reporter.scored = 1                                           # (no SIGINT of its own)
    with pytest.raises(train.Interrupted, match="after batch 3 of epoch 1"):
        train.fit(cfg, data, CTX, Path(cfg.train.out_dir) / "again", reporter=reporter)
    assert reporter.heard == []                                   # (no validation began)
    monkeypatch.setattr(train, "step", real_step)
    batches = train.corpus_mod.num_batches(len(data.train), cfg.train.batch_size,
                                           cfg.train.num_steps, cfg.train.sampler)
    interrupt_step(monkeypatch, batches)                        # during the epoch's last batch
    reporter = Interrupting()
    reporter.scored = 1
    with pytest.raises(train.Interrupted, match="saved after epoch 1"):
        train.fit(cfg, data, CTX, Path(cfg.train.out_dir) / "last", reporter=reporter)
    assert reporter.heard == [(1, 1 + 64)]                      # said at the first chunk


def test_samples_are_kept_in_the_run_directory(tmp_path, monkeypatch):
    """Every sampling epoch appends its samples to samples.txt under a header line (a sample's
    own blank lines stay in it); a resumed run goes on after the epoch it resumes from, dropping
    what a later epoch had written, and a new run starts it afresh."""
    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path, epochs=2, sample_every=1, prefixes=["分开", "我"])
    run = Path(cfg.train.out_dir)
    calls = []

    def generate(params, prefix):
        calls.append(prefix)
        return f"{prefix}{len(calls)}\n\n第二行"

    train.fit(cfg, data, CTX, run, generate=generate)
    want = "".join(f"=== epoch {e}: {p} ===\n{p}{k}\n\n第二行\n\n"
                   for k, (e, p) in enumerate([(1, "分开"), (1, "我"), (2, "分开"), (2, "我")], 1))
    assert (run / "samples.txt").read_text(encoding="utf-8") == want

    from jaylyrics import checkpoint
    with open(run / "samples.txt", "a", encoding="utf-8") as f:     # an epoch 3 that was lost
        f.write("=== epoch 3: 分开 ===\nlost\n\n")
    ck, arrays = checkpoint.load_resume(run, CTX)
    longer = config.override(ck.config, ["train.epochs=3"], allowed="train.")
    train.fit(longer, data, CTX, run, resume=resume.restore(ck, arrays, longer), generate=generate)
    text = (run / "samples.txt").read_text(encoding="utf-8")
    assert text.startswith(want) and "lost" not in text
    assert text[len(want):] == "=== epoch 3: 分开 ===\n分开5\n\n第二行\n\n=== epoch 3: 我 ===\n我6\n\n第二行\n\n"

    train.fit(cfg, data, CTX, run, generate=generate)               # a new run in its place
    assert (run / "samples.txt").read_text(encoding="utf-8").startswith("=== epoch 1: 分开 ===\n分开7")


def test_a_sample_header_keeps_to_one_line():
    """A prefix with a line break (--set 'train.prefixes=["分开\\n我"]') still gives a header
    that a resumed run can find."""
    assert train._sample_header(3, "分开\n我") == "=== epoch 3: 分开\\n我 ==="


def record_states(monkeypatch) -> list:
    """From now on, every training step appends (the state it is given, the state it returns),
    each a tuple of NumPy arrays (L, N, H), to the list returned."""
    real_step, seen = train.step, []

    def recording(params, optimizer, X, Y, state, cfg, aggregator=None):
        got = tuple(s.asnumpy() for s in state)
        out = real_step(params, optimizer, X, Y, state, cfg, aggregator)
        seen.append((got, tuple(s.asnumpy() for s in out[0])))
        return out

    monkeypatch.setattr(train, "step", recording)
    return seen


@pytest.mark.parametrize("sampler, hidden_state, carried", [
    ("random", "auto", False), ("consecutive", "auto", True),
    ("random", "carry", True),                   # the tutorial's exercise: zeros once an epoch
    ("consecutive", "reset", False)])
def test_the_hidden_state_between_batches(tmp_path, monkeypatch, sampler, hidden_state, carried):
    """train.hidden_state: each batch starts from zeros (reset) or from the state the batch
    before ended with (carry, cut from its graph); auto is the tutorial's pairing (reset for
    the random sampler, carry for the consecutive one). Every epoch starts from zeros."""
    monkeypatch.chdir(tmp_path)
    cfg, data = tiny(tmp_path, epochs=2, sampler=sampler, hidden_state=hidden_state)
    seen = record_states(monkeypatch)
    train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
    per_epoch = corpus.num_batches(len(data.train), 4, 8, sampler)
    assert len(seen) == 2 * per_epoch
    for i, (given, _) in enumerate(seen):
        if i % per_epoch == 0 or not carried:
            assert all(not g.any() for g in given)                  # zeros
        else:
            for g, before in zip(given, seen[i - 1][1]):
                np.testing.assert_array_equal(g, before)            # where the last one ended
                assert g.any()


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_state_reset_starts_some_carried_sequences_from_zeros(tmp_path, monkeypatch, kind):
    """train.state_reset p: with the state carried, each sequence (a row of the batch) starts a
    batch from zeros with chance p, all its layers and (LSTM) its cell too, else from where it
    ended; the same rows in a second run. p = 1 is hidden_state reset, to the bit."""
    monkeypatch.chdir(tmp_path)
    real_step = train.step

    def run(name, **keys):
        monkeypatch.setattr(train, "step", real_step)
        seen = record_states(monkeypatch)
        cfg, data = tiny(tmp_path / name, epochs=2, **keys)
        cfg = config.override(cfg, [f"model.type={kind}", "model.num_layers=2"])
        train.fit(cfg, data, CTX, Path(cfg.train.out_dir))
        return seen, json_params(Path(cfg.train.out_dir)), data

    seen, _, data = run("half", state_reset=0.5)
    per_epoch = corpus.num_batches(len(data.train), 4, 8, "consecutive")
    zeroed = kept = 0
    for i, (given, _) in enumerate(seen):
        if i % per_epoch == 0:
            continue                                                # an epoch starts from zeros
        for row in range(4):
            now = [g[:, row] for g in given]
            before = [b[:, row] for b in seen[i - 1][1]]
            if not any(n.any() for n in now):
                zeroed += 1
            else:
                kept += 1
                for n, b in zip(now, before):
                    np.testing.assert_array_equal(n, b)
    assert 0.35 < zeroed / (zeroed + kept) < 0.65, (zeroed, kept)
    again, _, _ = run("again", state_reset=0.5)
    assert all((a[0][0] == 0).all(axis=(0, 2)).tolist() == (b[0][0] == 0).all(axis=(0, 2)).tolist()
               for a, b in zip(seen, again))
    _, always, _ = run("always", state_reset=1.0)
    _, reset, _ = run("reset", hidden_state="reset")
    assert always == reset
