"""checkpoint.py: round trip, atomic pairs, and every kind of broken checkpoint."""

import errno
import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from jaylyrics import CheckpointError, checkpoint, config, model, runs
from jaylyrics.backend import mx
from jaylyrics.corpus import Vocab

CTX = mx.cpu()
VOCAB = Vocab.build("分开不战争中部队\n")


def tiny_cfg(**model_keys):
    return config.from_dict({"model": dict({"type": "gru", "hidden_size": 4, "embed_size": 3,
                                            "tie_weights": False},
                                           **model_keys)})


def save(run, params, cfg, tag="best", epoch=1):
    return checkpoint.save(run, tag, params, cfg, VOCAB, epoch, {"val_ppl": 3.0})


def test_round_trip(tmp_path):
    cfg = tiny_cfg()
    params = model.init_params(cfg.model, len(VOCAB), CTX, 0)
    path = save(tmp_path, params, cfg)
    ck = checkpoint.load(tmp_path, CTX)
    assert ck.path == path and ck.config == cfg and ck.vocab == VOCAB
    assert ck.meta["epoch"] == 1 and ck.meta["metrics"] == {"val_ppl": 3.0}
    for name, p in params.items():
        np.testing.assert_array_equal(ck.params[name].asnumpy(), p.asnumpy())
    weights = tmp_path / ck.meta["weights"]
    assert checkpoint.resolve(weights) == path        # a weights file finds its sidecar


def test_a_checkpoint_replaced_while_it_is_read_loads_the_new_one(tmp_path, monkeypatch):
    """`sample` run while `train` saves a better epoch: the sidecar read first names weights that
    the training removed a moment later; the load reads the new sidecar and its weights. A
    sidecar that names missing weights and did not change is still an error."""
    cfg = tiny_cfg()
    save(tmp_path, model.init_params(cfg.model, len(VOCAB), CTX, 0), cfg, epoch=1)
    stale = (tmp_path / "best.json").read_bytes()              # what the reader got first ...
    newer = model.init_params(cfg.model, len(VOCAB), CTX, 1)
    save(tmp_path, newer, cfg, epoch=2)                         # ... before the training saved
    real = checkpoint._read_sidecar
    reads = []

    def first_stale(path):
        reads.append(path)
        return stale if len(reads) == 1 else real(path)

    monkeypatch.setattr(checkpoint, "_read_sidecar", first_stale)
    ck = checkpoint.load(tmp_path, CTX)
    assert ck.meta["epoch"] == 2 and len(reads) == 3
    for name, p in newer.items():
        np.testing.assert_array_equal(ck.params[name].asnumpy(), p.asnumpy())
    monkeypatch.setattr(checkpoint, "_read_sidecar", real)
    (tmp_path / "best.json").write_bytes(stale)                 # names weights that are gone
    with pytest.raises(CheckpointError, match="weights file .* is missing"):
        checkpoint.load(tmp_path, CTX)


def test_run_directory_prefers_best_then_last(tmp_path):
    cfg = tiny_cfg()
    params = model.init_params(cfg.model, len(VOCAB), CTX, 0)
    save(tmp_path, params, cfg, tag="last")
    assert checkpoint.resolve(tmp_path).name == "last.json"
    save(tmp_path, params, cfg, tag="best")
    assert checkpoint.resolve(tmp_path).name == "best.json"


def test_old_weights_are_removed_once_no_sidecar_names_them(tmp_path):
    cfg = tiny_cfg()
    save(tmp_path, model.init_params(cfg.model, len(VOCAB), CTX, 0), cfg)
    save(tmp_path, model.init_params(cfg.model, len(VOCAB), CTX, 1), cfg)
    assert len(list(tmp_path.glob("weights-*.params"))) == 1


def test_a_failed_save_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    cfg = tiny_cfg()
    old = model.init_params(cfg.model, len(VOCAB), CTX, 0)
    save(tmp_path, old, cfg)
    new = model.init_params(cfg.model, len(VOCAB), CTX, 1)
    real_replace = os.replace

    def full_disk(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        save(tmp_path, new, cfg)
    monkeypatch.undo()
    ck = checkpoint.load(tmp_path, CTX)
    for name, p in old.items():
        np.testing.assert_array_equal(ck.params[name].asnumpy(), p.asnumpy())
    assert not list(tmp_path.glob(".*tmp*"))


def test_a_crash_while_writing_weights_keeps_the_old_pair(tmp_path, monkeypatch):
    cfg = tiny_cfg()
    old = model.init_params(cfg.model, len(VOCAB), CTX, 0)
    save(tmp_path, old, cfg)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path, model.init_params(cfg.model, len(VOCAB), CTX, 1), cfg)
    monkeypatch.undo()
    ck = checkpoint.load(tmp_path, CTX)
    np.testing.assert_array_equal(ck.params["b_q"].asnumpy(), old["b_q"].asnumpy())
    np.testing.assert_array_equal(ck.params["embed"].asnumpy(), old["embed"].asnumpy())


def test_what_a_process_killed_mid_write_left_goes_with_the_next_save(tmp_path):
    """kill -9 (or a power cut) inside atomic_write leaves its hidden temporary file, as large
    as a weights or optimiser file, for ever; the next save removes it once its process is
    gone and it is a minute old. A live writer's (this process's, another running one's) and
    a young one (a writer on another machine sharing the directory) stay."""
    import subprocess
    import sys

    cfg = tiny_cfg()
    save(tmp_path, model.init_params(cfg.model, len(VOCAB), CTX, 0), cfg)
    writer = subprocess.Popen(                  # stopped for good between write and rename
        [sys.executable, "-c", "import os, sys, time; from pathlib import Path; "
         "from jaylyrics import files; os.fsync = lambda fd: (print(flush=True), time.sleep(600));"
         "files.atomic_write(Path(sys.argv[1]), b'x' * 100000)",
         str(tmp_path / "weights-0123456789abcdef.params")], stdout=subprocess.PIPE, text=True)
    writer.stdout.readline()
    writer.kill()
    writer.wait()
    killed = tmp_path / f".weights-0123456789abcdef.params.tmp{writer.pid}"
    assert killed.stat().st_size == 100000
    young = tmp_path / f".optimizer-0123456789abcdef.params.tmp{writer.pid}0"
    live = tmp_path / f".perplexity.png.tmp{os.getpid()}"
    for path in (young, live):
        path.write_bytes(b"x")
    a_minute_ago = time.time() - 61
    os.utime(killed, (a_minute_ago, a_minute_ago))
    os.utime(live, (a_minute_ago, a_minute_ago))
    save(tmp_path, model.init_params(cfg.model, len(VOCAB), CTX, 1), cfg)
    assert not killed.exists()
    assert young.exists() and live.exists()
    assert checkpoint.load(tmp_path, CTX).meta["epoch"] == 1


@pytest.fixture
def saved(tmp_path):
    cfg = tiny_cfg()
    save(tmp_path, model.init_params(cfg.model, len(VOCAB), CTX, 0), cfg)
    return tmp_path


def edit_sidecar(run, change):
    path = run / "best.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def test_truncated_weights(saved):
    weights = next(saved.glob("weights-*.params"))
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt weights"):
        checkpoint.load(saved, CTX)


def test_missing_weights(saved):
    next(saved.glob("weights-*.params")).unlink()
    with pytest.raises(CheckpointError, match="weights file .* is missing"):
        checkpoint.load(saved, CTX)


def test_weights_whose_hash_matches_but_that_mx_cannot_read(saved):
    weights = next(saved.glob("weights-*.params"))
    weights.write_bytes(b"not an mx.nd.save file")
    edit_sidecar(saved, lambda m: m.update(sha256=hashlib.sha256(weights.read_bytes()).hexdigest()))
    with pytest.raises(CheckpointError, match="unreadable weights file"):
        checkpoint.load(saved, CTX)


@pytest.fixture
def resumable(tmp_path):
    cfg = tiny_cfg()
    params = model.init_params(cfg.model, len(VOCAB), CTX, 0)
    checkpoint.save(tmp_path, "last", params, cfg, VOCAB, 1, {}, resume={"epoch": 1},
                    optimizer_arrays={"b_q.mean": params["b_q"] + 1})
    return tmp_path, next(tmp_path.glob("optimizer-*.params"))


@pytest.mark.parametrize("damage,message", [
    (lambda f: f.unlink(), "optimiser state file optimizer-.* is missing"),
    (lambda f: f.write_bytes(f.read_bytes()[:50]),
     "truncated or corrupt optimiser state .sha256 does not match last.json"),
])
def test_a_damaged_optimiser_state(resumable, damage, message):
    run, optimizer_file = resumable
    np.testing.assert_array_equal(checkpoint.load_resume(run, CTX)[1]["b_q.mean"].asnumpy(), 1)
    damage(optimizer_file)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load_resume(run, CTX)


@pytest.mark.parametrize("content,message", [
    ("{not json", "corrupt checkpoint sidecar"),
    ("", "corrupt checkpoint sidecar"),
    ("[1, 2]", "not a jaylyrics checkpoint"),
    ("[" * 100000 + "]" * 100000, r"corrupt checkpoint sidecar \(RecursionError"),
    ('{"format": 1}', "no 'weights'"),
])
def test_corrupt_sidecar(saved, content, message):
    (saved / "best.json").write_text(content)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(saved, CTX)
    assert runs.run_summary(saved)["name"] == saved.name          # `jaylyrics runs` lists it


def test_a_damaged_best_checkpoint_points_at_the_last_one_which_loads(tmp_path):
    """Only a last checkpoint that loads is suggested (best and last may share a weights file,
    which a damaged one damages for both)."""
    cfg = tiny_cfg()
    best = model.init_params(cfg.model, len(VOCAB), CTX, 0)
    save(tmp_path, best, cfg, tag="best")
    save(tmp_path, model.init_params(cfg.model, len(VOCAB), CTX, 1), cfg, tag="last", epoch=2)
    (tmp_path / "best.json").write_text("{not json")
    hint = f"; the run's last checkpoint loads: --checkpoint {tmp_path / 'last.json'}"
    with pytest.raises(CheckpointError, match="corrupt checkpoint sidecar .*" + hint.replace(".", r"\.")):
        checkpoint.load(tmp_path, CTX)
    assert checkpoint.load(tmp_path / "last.json", CTX).meta["epoch"] == 2
    (tmp_path / "last.json").write_text("{not json either")     # a last one that does not load
    with pytest.raises(CheckpointError) as both:
        checkpoint.load(tmp_path, CTX)
    assert "corrupt checkpoint sidecar" in str(both.value)
    assert "last checkpoint" not in str(both.value)
    shared = tmp_path / "shared"                     # best and last share one weights file
    save(shared, best, cfg, tag="best")
    save(shared, best, cfg, tag="last", epoch=2)
    weights, = shared.glob("weights-*.params")
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError) as hurt:
        checkpoint.load(shared, CTX)
    assert "truncated or corrupt weights" in str(hurt.value)
    assert "last checkpoint" not in str(hurt.value)
    (tmp_path / "last.json").unlink()
    with pytest.raises(CheckpointError) as no_last:
        checkpoint.load(tmp_path, CTX)
    assert "last checkpoint" not in str(no_last.value)


def test_a_file_that_is_no_checkpoint(saved):
    (saved / "metrics.csv").write_text("epoch,train_ppl\n")
    with pytest.raises(CheckpointError, match=r"metrics\.csv: not a checkpoint \(expected a run "
                                              r"directory, a \.json sidecar or a weights \.params"):
        checkpoint.load(saved / "metrics.csv", CTX)


def test_missing_sidecar(saved):
    (saved / "best.json").unlink()
    with pytest.raises(CheckpointError, match="no checkpoint in this directory"):
        checkpoint.load(saved, CTX)


def test_a_config_or_a_corpus_given_as_a_checkpoint_says_what_it_is(tmp_path, monkeypatch):
    """--checkpoint configs/x.yaml said only "not a checkpoint": now the run that config trains
    (its train.out_dir), with the option that was given, or how to train it; a corpus, what
    takes one."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.yaml").write_text("train:\n  out_dir: runs/x\n", encoding="utf-8")
    base = ("x.yaml: not a checkpoint (expected a run directory, a .json sidecar or a weights "
            ".params file); this is a config, whose run is its train.out_dir runs/x")
    with pytest.raises(CheckpointError) as e:
        checkpoint.resolve("x.yaml")
    assert str(e.value) == base + ", not trained yet: jaylyrics train --config x.yaml"
    cfg = tiny_cfg()
    save(tmp_path / "runs" / "x", model.init_params(cfg.model, len(VOCAB), CTX, 0), cfg)
    for option, said in (("--checkpoint PATH", "--checkpoint"), ("--resume RUN", "--resume")):
        with pytest.raises(CheckpointError) as e:
            checkpoint.resolve("x.yaml", option)
        assert str(e.value) == f"{base}: {said} runs/x"
    (tmp_path / "songs.zip").write_bytes(b"PK")
    with pytest.raises(CheckpointError, match=r"; this is a corpus: --set data\.corpus=songs\.zip "
                                              r"trains on it .*, and eval --text songs\.zip scores"):
        checkpoint.resolve("songs.zip")
    for name in ("songs.tar.gz", "songs.TGZ", "song.lrc.xz"):
        (tmp_path / name).write_bytes(b"\x1f\x8b")
        with pytest.raises(CheckpointError, match=f"; this is a corpus: --set data\\.corpus={name}"):
            checkpoint.resolve(name)
    (tmp_path / "broken.yaml").write_text("train: [", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"weights \.params file\)$"):        # no more
        checkpoint.resolve("broken.yaml")


def test_a_run_is_found_by_its_name_under_runs(tmp_path, monkeypatch):
    """`--checkpoint large` for runs/large, as `jaylyrics runs` names it; a file or directory
    of that name in the working directory comes first, and a path is never looked up in runs/."""
    monkeypatch.chdir(tmp_path)
    cfg = tiny_cfg()
    save(tmp_path / "runs" / "large", model.init_params(cfg.model, len(VOCAB), CTX, 0), cfg)
    assert checkpoint.resolve("large") == Path("runs") / "large" / "best.json"
    assert checkpoint.load("large", CTX).path == Path("runs") / "large" / "best.json"
    (tmp_path / "large").mkdir()                     # ./large is what the user names
    with pytest.raises(CheckpointError, match=r"^large: no checkpoint in this directory"):
        checkpoint.resolve("large")
    with pytest.raises(CheckpointError, match=r"^sub/large: no such checkpoint"):
        checkpoint.resolve("sub/large")
    with pytest.raises(CheckpointError, match=r"^small: no such checkpoint"):
        checkpoint.resolve("small")
    # a misspelt name: the closest run first (it gave the first run, whatever the name)
    save(tmp_path / "runs" / "default", model.init_params(cfg.model, len(VOCAB), CTX, 0), cfg)
    with pytest.raises(CheckpointError, match=r"^runs/lareg: no such checkpoint \(.*\); did you "
                                              r"mean runs/large\? \(the runs in runs/: default, "
                                              r"large\)$"):
        checkpoint.resolve("runs/lareg")
    with pytest.raises(CheckpointError, match=r"; the runs in runs/: default, large \(give one, "
                                              r"such as runs/default\)$"):
        checkpoint.resolve("zzz")


def test_a_run_linked_into_runs_is_listed_by_its_name(tmp_path, monkeypatch):
    """`ln -s /data/big runs/big`: the run was found by name (--checkpoint big) but not listed
    by `runs` nor offered by completion, which left out every symbolic link to leave out
    runs/latest. Now a link is left out only where it leads to a run listed already."""
    monkeypatch.chdir(tmp_path)
    cfg = tiny_cfg()
    for where in ("runs/mine", "data/big"):
        save(tmp_path / where, model.init_params(cfg.model, len(VOCAB), CTX, 0), cfg)
    (tmp_path / "runs" / "big").symlink_to(tmp_path / "data" / "big")
    (tmp_path / "runs" / "again").symlink_to("mine")                  # the same run twice
    (tmp_path / "runs" / "gone").symlink_to(tmp_path / "nowhere")
    runs.set_latest(tmp_path / "runs" / "mine")
    listed = {r["name"]: r for r in runs.list_runs(Path("runs"))}
    assert set(listed) == {"big", "mine"}
    assert listed["mine"]["latest"] and not listed["big"]["latest"]
    assert checkpoint.resolve("big") == Path("runs") / "big" / "best.json"


def test_the_runs_root_given_for_a_run_names_the_runs_in_it(saved, tmp_path):
    """`--checkpoint runs` (the directory of runs, not a run): the runs in it are named, not
    other directories, nor the runs/latest link."""
    root = tmp_path / "runs"
    root.mkdir()
    for name in ("b", "a"):
        (root / name).mkdir()
        (root / name / ("best.json" if name == "a" else "last.json")).write_text("{}")
    (root / "notes").mkdir()                                     # a directory without a run
    (root / "latest").symlink_to("a")
    (root / "c.json").write_text("{}")                           # files are not runs either
    with pytest.raises(CheckpointError) as error:
        checkpoint.resolve(root)
    assert str(error.value) == (f"{root}: no checkpoint in this directory (expected best.json or "
                                f"last.json); the runs in it: a, b (give one, such as {root / 'a'})")
    for i in range(5):
        (root / f"r{i}").mkdir()
        (root / f"r{i}" / "best.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"the runs in it: a, b, r0, r1, r2 and 2 more \("):
        checkpoint.resolve(root)
    with pytest.raises(CheckpointError) as error:
        checkpoint.resolve(root / "notes")
    assert str(error.value).endswith("(expected best.json or last.json)")


def test_weights_file_given_directly_finds_its_sidecar_or_says_none_names_it(saved):
    weights = next(saved.glob("weights-*.params"))
    assert checkpoint.load(weights, CTX).path == saved / "best.json"
    (saved / "notes.json").write_text("[1, 2]")              # a .json that is no sidecar
    (saved / "best.json").unlink()
    with pytest.raises(CheckpointError, match=f"{weights.name}: no sidecar \\(.json\\) in .* names "
                                              "these weights"):
        checkpoint.load(weights, CTX)


def test_an_optimiser_file_given_as_a_checkpoint_says_what_it_is(resumable):
    run, optimiser = resumable
    with pytest.raises(CheckpointError, match=f"{optimiser.name}: the optimiser state that "
                                              f".*last.json saved for --resume, not weights: "
                                              f"pass .*last.json or {re.escape(str(run))}"):
        checkpoint.load(optimiser, CTX)


def test_newer_format(saved):
    edit_sidecar(saved, lambda m: m.update(format=99))
    with pytest.raises(CheckpointError, match="format 99 is newer"):
        checkpoint.load(saved, CTX)


@pytest.mark.parametrize("tie", [False, True])
def test_a_format_1_checkpoint_is_read_in_todays_layout(tmp_path, tie):
    """Format 1 stored W_xh, W_hh and W_hq as (in, out); loading (and resuming) one gives the
    same model as today's layout. The old files are written here by hand, transposed."""
    cfg = tiny_cfg(num_layers=2, tie_weights=tie, embed_size=4 if tie else 3)
    params = model.init_params(cfg.model, len(VOCAB), CTX, 0)
    moments = {f"{name}.{part}": p * (2 if part == "mean" else 3)
               for name, p in params.items() for part in ("mean", "var")}

    def old(arrays):                     # "l0.W_xh", "l0.W_xh.mean", "W_hq.var", ... transposed
        legacy = {"W_xh", "W_hh", "W_hq"}
        return {k: v.T if legacy & set(k.split(".")) else v for k, v in arrays.items()}
    assert sum(v.shape != p.shape for v, p in zip(old(params).values(), params.values())) >= 4
    checkpoint.save(tmp_path, "last", old(params), cfg, VOCAB, 1, {}, resume={"epoch": 1},
                    optimizer_arrays=old(moments))
    path = tmp_path / "last.json"
    meta = json.loads(path.read_text())
    meta["format"] = 1
    path.write_text(json.dumps(meta))
    ck, arrays = checkpoint.load_resume(tmp_path, CTX)
    for name, p in params.items():
        np.testing.assert_array_equal(ck.params[name].asnumpy(), p.asnumpy())
    assert set(arrays) == set(moments)
    for name, m in moments.items():
        np.testing.assert_array_equal(arrays[name].asnumpy(), m.asnumpy())
    numpy_ck = checkpoint.load(path)                   # as `sample` loads it: NumPy, no device
    for name, p in params.items():
        assert isinstance(numpy_ck.params[name], np.ndarray)
        np.testing.assert_array_equal(numpy_ck.params[name], p.asnumpy())


def test_without_a_device_the_weights_are_the_same_numpy_arrays(saved):
    on_device, as_numpy = checkpoint.load(saved, CTX), checkpoint.load(saved)
    assert set(as_numpy.params) == set(on_device.params)
    for name, p in on_device.params.items():
        assert isinstance(as_numpy.params[name], np.ndarray)
        assert as_numpy.params[name].dtype == np.float32
        np.testing.assert_array_equal(as_numpy.params[name], p.asnumpy())


def test_weights_that_do_not_match_the_sidecar_shapes(saved):
    edit_sidecar(saved, lambda m: m["config"]["model"].update(hidden_size=8))
    with pytest.raises(CheckpointError, match="has shape .* needs"):
        checkpoint.load(saved, CTX)


def test_a_checkpoint_of_another_model_type(saved):
    edit_sidecar(saved, lambda m: m["config"]["model"].update(type="lstm"))
    with pytest.raises(CheckpointError, match="do not match a lstm model"):
        checkpoint.load(saved, CTX)


def test_a_sidecar_with_a_broken_config(saved):
    edit_sidecar(saved, lambda m: m["config"]["model"].update(type="transformer"))
    with pytest.raises(CheckpointError, match="corrupt checkpoint config.*model.type"):
        checkpoint.load(saved, CTX)


def test_keys_added_since_a_checkpoint_was_saved_keep_the_old_behaviour(saved):
    """A sidecar written before model.weight_drop existed trained without it: resuming must not
    switch it on, whatever today's default. A value that was saved is kept."""
    assert set(config.ADDED_KEYS) <= set(config.all_keys())
    for key, old_value in config.ADDED_KEYS.items():
        section, name = key.split(".")
        edit_sidecar(saved, lambda m: m["config"][section].pop(name))
        assert getattr(getattr(checkpoint.load(saved, CTX).config, section), name) == old_value
    assert checkpoint.load(saved, CTX).config.model.embed_drop == 0.0 != config.ModelConfig().embed_drop
    assert config.from_dict({}).model.weight_drop == config.ModelConfig().weight_drop
    edit_sidecar(saved, lambda m: m["config"]["model"].update(weight_drop=0.3))
    assert checkpoint.load(saved, CTX).config.model.weight_drop == 0.3


def test_latest_pointer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runs.latest_run() is None
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    runs.set_latest(tmp_path / "runs" / "a")
    assert runs.latest_run() == (tmp_path / "runs" / "a").resolve()
    runs.set_latest(tmp_path / "elsewhere")
    assert runs.latest_run() == (tmp_path / "elsewhere").resolve()


def test_a_second_training_into_the_same_directory_is_refused(tmp_path):
    import subprocess
    import sys

    with runs.lock(tmp_path):
        with pytest.raises(CheckpointError, match="another training .* is writing here"):
            with runs.lock(tmp_path):
                pass
    assert not (tmp_path / ".lock").exists()
    # a lock left behind by a process that has exited is taken over
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / ".lock").write_text(dead)
    with runs.lock(tmp_path):
        assert (tmp_path / ".lock").read_text() == runs.identity(os.getpid())


def test_a_lock_that_a_full_disk_has_no_room_for_names_its_file_and_leaves_nothing(
        tmp_path, monkeypatch):
    write = os.write

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    opened = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError) as e:
        with runs.lock(tmp_path):
            pass
    monkeypatch.setattr(os, "write", write)
    assert (e.value.errno, e.value.filename) == (errno.ENOSPC, str(tmp_path / ".lock"))
    assert not (tmp_path / ".lock").exists()
    if opened is not None:                                  # its file descriptor closed
        assert len(os.listdir("/proc/self/fd")) == opened


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="Linux's /proc")
def test_a_lock_whose_process_id_came_back_as_another_process_is_taken_over(tmp_path):
    """A training killed with its container (or machine) left its lock; restarted, the resuming
    process can have the same id (pid 1, or the same order of start-up): it is not the holder.
    A process id alone (an older lock, or no /proc) is taken as its holder while it runs."""
    import subprocess
    import sys

    me = runs.identity(os.getpid())
    pid, started, boot, namespace = me.split()
    with open(f"/proc/{pid}/stat") as f:                 # the kernel's own count, read apart
        assert f.read().rsplit(")", 1)[1].split()[19] == started
    assert boot == open("/proc/sys/kernel/random/boot_id").read().strip()
    assert namespace == os.readlink("/proc/self/ns/pid")
    lock = tmp_path / ".lock"
    for earlier in (f"{pid} {int(started) - 1} {boot} {namespace}",      # the id came back
                    f"{pid} {started} another-boot {namespace}",         # a reboot
                    f"{pid} {started} {boot} pid:[1]"):                  # a container, gone
        lock.write_text(earlier)
        assert runs.lock_holder(tmp_path) is None
        runs.check_free(tmp_path, resuming=True)          # train --resume may go on
        with runs.lock(tmp_path):
            assert lock.read_text() == me
    for held in (me, pid):
        lock.write_text(held)
        assert runs.lock_holder(tmp_path) == os.getpid()
    # another live process: its lock, as it wrote it, names it until it ends
    child = subprocess.Popen([sys.executable, "-c", "from jaylyrics import runs; import os, sys, "
                              "pathlib; pathlib.Path(sys.argv[1]).write_text(runs.identity("
                              "os.getpid())); sys.stdin.read()", str(lock)], stdin=subprocess.PIPE)
    try:
        for _ in range(200):
            if lock.read_text().startswith(f"{child.pid} "):
                break
            time.sleep(0.05)
        assert runs.lock_holder(tmp_path) == child.pid
        with pytest.raises(CheckpointError, match=f"another training \\(process {child.pid}\\)"):
            runs.check_free(tmp_path)
    finally:
        child.communicate(b"")
    assert runs.lock_holder(tmp_path) is None


@pytest.mark.skipif(not os.path.exists("/proc/self/ns/pid"), reason="Linux's PID namespaces")
def test_a_lock_taken_in_a_container_holds_outside_it_while_the_container_runs(tmp_path):
    """A training in a container (its own PID namespace, a directory mounted from outside)
    writes its id there, 1, say: outside, process 1 is another one, but the lock holds while a
    process of that namespace can be seen. Made here with `unshare --pid` where allowed."""
    import shutil
    import subprocess

    if not shutil.which("unshare"):
        pytest.skip("no unshare")
    child = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "sleep", "30"],
                             stderr=subprocess.DEVNULL)
    try:
        inside = None
        for _ in range(100):                # unshare's forked child: sleep, in a new namespace
            for entry in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == child.pid:
                            inside = os.readlink(f"/proc/{entry}/ns/pid")
                except (OSError, ValueError, IndexError):
                    continue
            if inside or child.poll() is not None:
                break
            time.sleep(0.05)
        if inside == os.readlink("/proc/self/ns/pid"):
            inside = None
        if inside is None:
            pytest.skip("unshare --pid is not allowed here")
        _, started, boot, _ = runs.identity(os.getpid()).split()
        (tmp_path / ".lock").write_text(f"1 {started} {boot} {inside}")
        assert runs.lock_holder(tmp_path) == 1
        with pytest.raises(CheckpointError, match="another training \\(process 1\\)"):
            runs.check_free(tmp_path)
    finally:
        child.kill()
        child.wait()
    for _ in range(100):                          # the namespace ends with its last process
        if runs.lock_holder(tmp_path) is None:
            break
        time.sleep(0.05)
    assert runs.lock_holder(tmp_path) is None



@pytest.mark.parametrize("out_dir, corpus, run, expected", [
    # trained in /home/me: its relative corpus is read there, from anywhere
    ("runs/mine", "data/c.txt", "home/me/runs/mine", "home/me/data/c.txt"),
    ("runs/mine", "/abs/c.txt", "home/me/runs/mine", "/abs/c.txt"),          # absolute: as is
    ("/abs/runs/mine", "data/c.txt", "home/me/runs/mine", "data/c.txt"),     # out_dir absolute
    ("runs/mine", "data/c.txt", "home/me/runs/renamed", "data/c.txt"),       # moved: as is
    ("runs/mine", "data/gone.txt", "home/me/runs/mine", "data/gone.txt"),    # not there: as is
])
def test_a_runs_corpus_is_read_where_it_was_trained(tmp_path, monkeypatch, out_dir, corpus, run,
                                                    expected):
    (tmp_path / "home" / "me" / "data").mkdir(parents=True)
    (tmp_path / "home" / "me" / "data" / "c.txt").write_text("分开\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    cfg = config.from_dict({"data": {"corpus": corpus}, "train": {"out_dir": out_dir}})
    ck = checkpoint.Checkpoint(tmp_path / run / "best.json", cfg, VOCAB, {}, {})
    want = expected if expected.startswith("/") or expected == corpus else str(tmp_path / expected)
    assert checkpoint.data_config(ck).corpus == want
    monkeypatch.chdir(tmp_path / "home" / "me")          # from where it was trained: as written
    assert checkpoint.data_config(ck).corpus == corpus


def test_a_checkpoint_corpus_and_vocabulary_show_briefly(in_tiny_run):
    """In a notebook, `ck` or `data` showed every weight and the whole sidecar (27,000
    characters for the default run), or the whole text: now what they are, in a line."""
    from jaylyrics import corpus

    ck = checkpoint.load("runs/tiny")
    assert repr(ck) == ("Checkpoint('runs/tiny/best.json': gru 1x32, 24,581 parameters, "
                        f"vocabulary of 405, epoch {ck.meta['epoch']})")
    assert model.num_params(ck.params) == 24_581
    data = corpus.load(ck.config.data)
    assert repr(data.vocab) == f"Vocab(405 characters: {data.vocab.chars[:24]!r} ... 381 more)"
    assert repr(data) == (f"Corpus(train {data.train[:16]!r} ... {len(data.train) - 16:,} more, "
                          f"val {data.val[:16]!r} ... {len(data.val) - 16:,} more, vocabulary "
                          "of 405)")
    assert repr(corpus.Vocab("ab")) == "Vocab(2 characters: 'ab')"
