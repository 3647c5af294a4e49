"""Ensembles (--checkpoint given more than once): the mean of the networks' probabilities,
checked against each network's own MXNet forward pass, and through the CLI."""

import shutil

import numpy as np
import pytest

from conftest import TINY, ZIP, last_json, run_cli
from jaylyrics import cache, config, ensemble, model, sample, score, train
from jaylyrics.backend import mx, nd
from jaylyrics.corpus import Vocab

CTX = mx.cpu()
VOCAB = Vocab.build("abcdefg\n")


def network(kind, hidden, layers, embed, seed, cache_size=0):
    cfg = config.from_dict({"model": {"type": kind, "hidden_size": hidden, "num_layers": layers,
                                      "embed_size": embed, "tie_weights": False, "init_std": 0.6,
                                      "cache_size": cache_size, "cache_weight": 0.1,
                                      "cache_match_weight": 0.3}}).model
    return model.init_params(cfg, len(VOCAB), CTX, seed), cfg


def softmax_rows(logits):
    z = logits.asnumpy().astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def test_the_ensemble_predicts_the_mean_of_its_networks_probabilities():
    """Three networks of different cells and sizes, run by MXNet one by one: the ensemble's
    probabilities are the mean of theirs, at every step of a text, also after a warm-up."""
    members = [network("gru", 6, 1, 4, 1), network("lstm", 5, 2, 0, 2), network("rnn", 7, 1, 3, 3)]
    ids = np.random.RandomState(0).randint(0, len(VOCAB), 40)
    run, state = ensemble.decoder([(p, c) for p, c in members])
    _, state = run(ids[None, :10], state, project=False)
    logits, _ = run(ids[None, 10:], state)
    got = np.exp(logits)
    want = []
    for params, cfg in members:
        out, _ = model.forward(params, nd.array(ids[None, :]), model.begin_state(cfg, 1, CTX), cfg)
        want.append(softmax_rows(out)[10:])
    np.testing.assert_allclose(got, np.mean(want, axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-12)


def test_scores_and_samples_of_an_ensemble():
    """The ensemble's NLL per character is -log of the mean of the networks' probabilities
    (from the training's MXNet scoring of each), the first network's cache mixes into it, and a
    network in an ensemble with itself samples what it samples alone."""
    (p1, c1), (p2, c2) = network("gru", 6, 1, 4, 1, cache_size=20), network("lstm", 5, 1, 0, 2)
    ids = np.tile(np.random.RandomState(4).randint(0, len(VOCAB), 30), 3)
    each = [train.model_nll(p, ids, c, CTX) for p, c in ((p1, c1), (p2, c2))]
    mean_nll = -np.log(np.mean(np.exp(-np.array(each)), axis=0))
    np.testing.assert_allclose(score.network_nll(p1, ids, c1, chunk=16, others=((p2, c2),)),
                               mean_nll, rtol=1e-5)
    both = score.evaluate(p1, ids, c1, others=((p2, c2),))
    assert both.nll_model == pytest.approx(mean_nll.mean(), rel=1e-6)
    assert both.nll == pytest.approx(cache.mix_nll(mean_nll, ids, c1).mean(), rel=1e-6)
    assert both.nll != both.nll_model                        # (c1's cache took part)
    alone = score.evaluate(p1, ids, c1)
    twice = score.evaluate(p1, ids, c1, others=((p1, c1),))
    assert twice.nll == pytest.approx(alone.nll, rel=1e-9)
    for temperature in (0.0, 0.9):
        rng = [np.random.RandomState(7) for _ in range(2)]
        one = "".join(sample.generate(p1, c1, VOCAB, "abc", 40, temperature, rng=rng[0]))
        two = "".join(sample.generate(p1, c1, VOCAB, "abc", 40, temperature, rng=rng[1],
                                      others=((p1, c1),)))
        assert one == two


def test_ensembles_from_the_command_line(tiny_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                 # (its runs/latest is not the shared run's)
    shutil.copytree(tiny_run / "runs" / "tiny", tmp_path / "runs" / "tiny")
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                     "--set", "train.out_dir=runs/other", "--set", "train.seed=5",
                     "--set", "model.hidden_size=24", "-q")
    assert result.exit_code == 0, result.stderr
    alone = [last_json(run_cli("eval", "--checkpoint", r, "--no-cache", "--json"))
             for r in ("runs/tiny", "runs/other")]
    both = last_json(run_cli("eval", "--checkpoint", "runs/tiny", "--checkpoint", "runs/other",
                             "--no-cache", "--json"))
    assert both["ensemble"] == ["runs/tiny/best.json", "runs/other/best.json"]
    assert both["checkpoint"] == "runs/tiny/best.json" and "ensemble" not in alone[0]
    # the mean of two distributions scores no worse than the worse of them (Jensen)
    assert both["perplexity"] <= max(a["perplexity"] for a in alone)
    text = run_cli("eval", "--checkpoint", "runs/tiny", "--checkpoint", "runs/other").stdout
    assert "the networks alone" in text
    assert "checkpoints runs/tiny/best.json + runs/other/best.json" in text
    result = run_cli("sample", "--checkpoint", "runs/tiny", "--checkpoint", "runs/other",
                     "--prefix", "分开", "--temperature", "0.8", "--length", "20", "--json")
    assert result.exit_code == 0, result.stderr
    written = last_json(result)
    assert written["ensemble"] == both["ensemble"] and written["samples"][0].startswith("分开")
    ranked = last_json(run_cli("sample", "--checkpoint", "runs/tiny", "--checkpoint",
                               "runs/other", "--prefix", "分开", "--next", "3", "--json"))
    assert len(ranked["next"]) == 3 and ranked["ensemble"] == both["ensemble"]
    shown = run_cli("sample", "--checkpoint", "runs/tiny", "--checkpoint", "runs/other",
                    "--prefix", "分开", "--next", "3")
    assert "(in brackets: the networks' mean probability, before the cache)" in shown.stderr

    # the same checkpoint twice (here by its directory and its sidecar): refused, not averaged
    twice = run_cli("eval", "--checkpoint", "runs/tiny", "--checkpoint", "runs/tiny/best.json")
    assert twice.exit_code == 1 and twice.stderr.strip() == (
        "Error: --checkpoint runs/tiny/best.json is given twice; an ensemble of a network with "
        "itself is that network (give each checkpoint once)")

    # networks of another corpus have other ids for the same characters: refused
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                     "--set", "train.out_dir=runs/small", "--set", "data.max_chars=1500", "-q")
    assert result.exit_code == 0, result.stderr
    result = run_cli("eval", "--checkpoint", "runs/tiny", "--checkpoint", "runs/small")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "Error: --checkpoint runs/small/best.json: its vocabulary (")
    assert result.stderr.strip().endswith("an ensemble needs networks trained on the same corpus")
