"""Fine-tuning (train.init_from): the extended vocabulary, the weights carried into it (checked
against the source network's own forward pass), and the CLI around it."""

from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from conftest import TINY, ZIP, last_json, run_cli
from jaylyrics import CheckpointError, checkpoint, config, finetune, model
from jaylyrics.backend import mx, nd
from jaylyrics.corpus import Corpus, Vocab

CTX = mx.cpu()


def test_the_vocabulary_keeps_the_source_ids_and_appends_new_characters_sorted():
    source = Vocab("\n分开我的")
    extended = finetune.extend_vocab(source, "你好, 分开 world\n")
    assert extended.chars == "\n分开我的" + "".join(sorted(set("你好, world")))
    assert extended.encode("分开")[0] == source.encode("分")[0]
    assert finetune.extend_vocab(source, "我的分开").chars == source.chars      # nothing new


@pytest.mark.parametrize("embed, tie", [(0, False), (6, False), (5, True)])
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_the_transferred_network_scores_old_characters_as_its_source_did(kind, embed, tie):
    cfg = config.from_dict({"model": {"type": kind, "hidden_size": 5, "embed_size": embed,
                                      "tie_weights": tie, "num_layers": 2, "dropout": 0.0,
                                      "weight_drop": 0.0, "embed_drop": 0.0}}).model
    V_old, V_new = 7, 11
    source = model.init_params(cfg, V_old, CTX, seed=1)
    for name, p in source.items():                       # non-zero biases too
        if p.ndim == 1:
            p[:] = nd.array(np.random.RandomState(len(name)).normal(0, 0.3, p.shape))
    fresh = model.init_params(cfg, V_new, CTX, seed=0)
    before = {name: p.asnumpy() for name, p in fresh.items()}
    params = finetune.transfer(source, fresh, "source.json")

    X = nd.array(np.random.RandomState(3).randint(0, V_old, (4, 6)))
    state = model.begin_state(cfg, 4, CTX)
    old_logits, old_state = model.forward(source, X, state, cfg)
    new_logits, new_state = model.forward(params, X, state, cfg)
    # equal but for rounding: a product with 11 output columns may round otherwise than with
    # 7 (on an AMD EPYC machine, 13 of 168 logits by one unit in the last place; the machines
    # before gave them equal)
    np.testing.assert_allclose(new_logits.asnumpy()[:, :V_old], old_logits.asnumpy(),
                               rtol=1e-5, atol=1e-6)
    for a, b in zip(new_state, old_state):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    for name, p in params.items():                      # new characters: as a fresh run has them
        axis = [i for i, (a, b) in enumerate(zip(source[name].shape, p.shape)) if a != b]
        if axis:
            new_part = np.take(p.asnumpy(), range(V_old, V_new), axis=axis[0])
            np.testing.assert_array_equal(new_part,
                                          np.take(before[name], range(V_old, V_new), axis=axis[0]))
        assert p.grad is not None


def test_a_source_of_another_shape_is_refused():
    small = config.from_dict({"model": {"hidden_size": 4, "embed_size": 4}}).model
    big = config.from_dict({"model": {"hidden_size": 6, "embed_size": 6}}).model
    with pytest.raises(CheckpointError, match=r"src.json: parameter .* has shape"):
        finetune.transfer(model.init_params(small, 5, CTX, 0), model.init_params(big, 5, CTX, 0),
                          "src.json")
    untied = config.from_dict({"model": {"hidden_size": 4, "embed_size": 4,
                                         "tie_weights": False}}).model
    with pytest.raises(CheckpointError, match=r"src.json: its parameters"):
        finetune.transfer(model.init_params(untied, 5, CTX, 0), model.init_params(small, 5, CTX, 0),
                          "src.json")


def test_the_network_comes_from_the_source_and_regularisation_from_the_config():
    ours = config.from_dict({"model": {"hidden_size": 512, "embed_size": 512, "dropout": 0.2}}).model
    theirs = config.from_dict({"model": {"type": "lstm", "dropout": 0.7}}).model
    adopted, changed = finetune.adopt_architecture(ours, theirs)
    assert (adopted.type, adopted.hidden_size, adopted.embed_size) == ("lstm", 256, 256)
    assert adopted.dropout == 0.2
    assert changed == {"type": ("gru", "lstm"), "hidden_size": (512, 256),
                       "embed_size": (512, 256)}


def test_fine_tuning_from_the_command_line(tiny_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = tiny_run / "runs" / "tiny"
    src = checkpoint.load(source, CTX)
    text = "分开的时候 hello\n不要说 world\n" * 60                # new: Latin letters
    (tmp_path / "mine.txt").write_text(text, encoding="utf-8")
    args = ("train", "--config", TINY, "--set", "data.corpus=mine.txt",
            "--set", "train.out_dir=runs/mine", "--set", "model.hidden_size=48", "--json")
    # a learning rate of ~0: what was saved after one epoch is what the run started from
    result = run_cli(*args, "--init-from", source, "--set", "train.lr=1.0e-12",
                     "--set", "train.epochs=1")
    assert result.exit_code == 0, result.stderr
    assert last_json(result)["best_epoch"] == 1
    new = sorted(set(text) - set(src.vocab.chars))
    assert f"{len(new)} new characters added" in result.stderr and len(new) > 1
    assert "model.hidden_size 32 (not 48)" in result.stderr
    tuned = checkpoint.load(tmp_path / "runs" / "mine", CTX)
    assert tuned.vocab.chars == src.vocab.chars + "".join(new)
    assert tuned.config.model.hidden_size == 32
    assert tuned.config.train.init_from == str(source)
    V_old = len(src.vocab)
    for name, value in src.params.items():
        got = tuned.params[name].asnumpy()
        region = tuple(slice(0, n) for n in value.shape)
        np.testing.assert_allclose(got[region], value.asnumpy(), atol=1e-6)
        if name in ("embed", "W_hq", "b_q"):
            assert got.shape[0] == V_old + len(new)

    listed = {r["name"]: r for r in last_json(run_cli("runs", "--json"))["runs"]}
    assert listed["mine"]["init_from"] == str(source)
    assert f"(fine-tuned from {source})" in run_cli("runs").stdout

    # the fine-tuned run samples (new characters too) and resumes with its own vocabulary
    result = run_cli("sample", "--checkpoint", "runs/mine", "--prefix", "hello", "--length", "5")
    assert result.exit_code == 0, result.stderr
    result = run_cli("train", "--resume", "runs/mine", "--set", "train.epochs=2", "--json")
    assert result.exit_code == 0, result.stderr
    assert last_json(result)["epochs"] == 2
    # a character the fine-tuned vocabulary lacks: the corpus has changed, no resume
    (tmp_path / "mine.txt").write_text(text + "Ж\n", encoding="utf-8")
    result = run_cli("train", "--resume", "runs/mine", "--set", "train.epochs=3")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: mine.txt: the corpus has changed since runs/mine was trained (its vocabulary "
        "differs); cannot resume")


def test_prefixes_are_checked_against_the_fine_tuned_vocabulary(tiny_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = tiny_run / "runs" / "tiny"
    text = "hello world\nthe quick brown fox\n" * 60
    (tmp_path / "en.txt").write_text(text, encoding="utf-8")
    only_source = checkpoint.load(source, CTX).vocab.chars[-1]       # not in en.txt
    assert only_source not in text
    args = ("train", "--config", TINY, "--set", "data.corpus=en.txt", "--set", "train.epochs=1",
            "--set", "train.out_dir=runs/en", "--init-from", source)
    prefixes = f'train.prefixes=["{only_source}", "he"]'
    result = run_cli(*args, "--set", prefixes)
    assert result.exit_code == 0, result.stderr
    assert f"  - {only_source}" in result.stderr and "  - he" in result.stderr      # sampled
    # resumed with its own (extended) vocabulary, its saved prefixes still fit
    result = run_cli("train", "--resume", "runs/en", "--set", "train.epochs=2")
    assert result.exit_code == 0, result.stderr
    assert f"  - {only_source}" in result.stderr
    # a character neither the source nor en.txt has is still a one-line error
    result = run_cli(*args, "--set", "train.out_dir=runs/en2", "--set", 'train.prefixes=["★"]')
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: train.prefixes entry '★' has 1 character not in the model's vocabulary: '★'")


@pytest.mark.parametrize("args, message", [
    (("--init-from", "nowhere"), "Error: train.init_from: nowhere: no such checkpoint"),
    (("--init-from", ""), "Error: --init-from: expected a run directory or a checkpoint file"),
    (("--set", "train.init_from=runs/tiny/metrics.csv"),
     "Error: train.init_from: runs/tiny/metrics.csv: not a checkpoint"),
    (("--init-from", str(TINY)),             # the config for the run it trains: that run
     f"Error: train.init_from: {TINY}: not a checkpoint (expected a run directory, a .json "
     "sidecar or a weights .params file); this is a config, whose run is its train.out_dir "
     "runs/tiny: --init-from runs/tiny"),
])
def test_a_bad_source_is_one_line_naming_the_key(in_tiny_run, args, message):
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                     "--set", "train.out_dir=runs/x", *args)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_fine_tuning_into_the_source_run_directory_is_refused(in_tiny_run):
    before = (in_tiny_run / "runs" / "tiny" / "best.json").read_bytes()
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                     "--init-from", "runs/tiny/best.json")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: train.out_dir runs/tiny is the run train.init_from starts from; its checkpoints "
        "would be overwritten: choose another train.out_dir")
    assert (in_tiny_run / "runs" / "tiny" / "best.json").read_bytes() == before


def test_resume_and_init_from_together_are_refused(in_tiny_run):
    result = run_cli("train", "--resume", "runs/tiny", "--init-from", "runs/tiny")
    assert result.exit_code == 1
    assert "--init-from (train.init_from) starts a new run" in result.stderr


def test_an_empty_init_from_in_yaml_means_from_scratch(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"train": {"init_from": None}}), encoding="utf-8")
    assert config.load(path).train.init_from == ""
    path.write_text("train:\n  init_from: ''\n", encoding="utf-8")
    assert config.load(path).train.init_from == ""


def test_the_note_names_the_overruled_network_and_the_regularisation_that_differs():
    theirs = config.from_dict({"model": {"type": "rnn", "hidden_size": 4, "embed_size": 4,
                                         "tie_weights": True, "dropout": 0.0, "weight_drop": 0.0,
                                         "embed_drop": 0.0}})
    ours = config.from_dict({"model": {"hidden_size": 8, "embed_size": 8, "tie_weights": False,
                                       "dropout": 0.5, "weight_drop": 0.0, "embed_drop": 0.0}})
    source = SimpleNamespace(path="src/best.json", meta={"epoch": 7}, vocab=Vocab("ab\n"),
                             config=theirs, params=model.init_params(theirs.model, 3, CTX, 1))
    data = Corpus(Vocab("abc"), "abcabc", "")
    cfg, data, params, note = finetune.start(source, ours, data, CTX)
    assert note == ("init: weights of src/best.json (epoch 7); 1 new character added to its "
                    "vocabulary of 3: 'c'; the network as trained there: model.type rnn (not gru), "
                    "model.hidden_size 4 (not 8), model.embed_size 4 (not 8), model.tie_weights "
                    "true (not false); from the config: "
                    "model.dropout 0.5 (trained with 0.0)")
    assert data.vocab.chars == "ab\nc" and params["embed"].shape == (4, 4)
    assert (cfg.model.type, cfg.model.hidden_size, cfg.model.dropout) == ("rnn", 4, 0.5)


def test_the_memory_check_sizes_the_network_the_fine_tune_trains(in_tiny_run, monkeypatch):
    """A fine-tune trains its source's network: a --set model.hidden_size it overrules is not what
    the memory check sizes, and a source too big for the machine is refused naming the source."""
    from jaylyrics import machine

    base = ("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set",
            "train.out_dir=runs/x", "--init-from", "runs/tiny", "--dry-run")
    result = run_cli(*base, "--set", "model.hidden_size=100000000")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("dry run: gru 1x32 with "), result.stdout
    # ... and the dry run says which keys its source overrules, as training's note does
    assert "starting from runs/tiny/best.json (the network as trained there: model.hidden_size " \
           "32 (not 100000000))." in result.stdout, result.stdout
    typed = last_json(run_cli(*base, "--set", "model.type=lstm", "--json"))
    assert typed["model"] == "gru 1x32" and typed["config"]["model"]["type"] == "gru"
    monkeypatch.setattr(machine, "physical_memory", lambda: 2**16)      # a 64 KiB machine
    monkeypatch.setattr(machine, "memory_limit", lambda: None)
    result = run_cli(*base)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        "this machine has 64 KiB: train.init_from runs/tiny/best.json sets the network (gru 1x32): fine-tune a "
        "smaller run, or train from scratch"), result.stderr
