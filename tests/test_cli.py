"""The command line end to end: train -> sample -> eval, --json, devices, and user mistakes."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import TINY, ZIP, assert_clean_error, last_json, run_cli

from jaylyrics import checkpoint, runs


def test_help_does_not_import_mxnet():
    """Nor NumPy (60 ms of start-up): the commands import what they use when they run."""
    code = ("import sys; from click.testing import CliRunner; from jaylyrics.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0; "
            "[CliRunner().invoke(main, [c, '--help']) for c in ('train', 'sample', 'eval')]; "
            "print('mxnet' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_eval_runs_without_importing_mxnet(in_tiny_run):
    """eval, like sample, runs the network in NumPy: no MXNet import, and the numbers of the
    in-process CLI (which has MXNet loaded) and of the training's own validation score."""
    code = ("import sys; from click.testing import CliRunner; from jaylyrics.cli import main; "
            "r = [CliRunner().invoke(main, ['eval', '--json']), CliRunner().invoke(main, "
            "['eval', '--text', '-', '--per-line', '--json', '--device', 'cpu'], "
            "input='分开\\n我不能再想\\n')]; "
            "print('mxnet' in sys.modules); [print(x.stdout.strip()) for x in r]")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "False"
    whole = json.loads(out[1])
    assert whole == last_json(run_cli("eval", "--json"))
    best = checkpoint.load("runs/tiny").meta
    assert whole["perplexity"] == pytest.approx(best["metrics"]["val_ppl"], rel=1e-5)
    lines = json.loads(out[2])["lines"]
    assert sorted(r["line"] for r in lines) == ["分开", "我不能再想"]


def test_an_output_encoding_without_chinese_is_one_line(in_tiny_run):
    """PYTHONIOENCODING=latin-1 (or such a terminal) raised UnicodeEncodeError in a traceback."""
    env = dict(os.environ, PYTHONIOENCODING="latin-1")
    result = subprocess.run([sys.executable, "-m", "jaylyrics", "sample", "--prefix", "分开",
                             "--length", "3"], env=env, capture_output=True, timeout=120)
    assert result.returncode == 1 and result.stdout == b""
    lines = result.stderr.decode("latin-1").strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot write '\\u5206\\u5f00")  # 分开...
    assert lines[0].endswith("' to the terminal or file, whose encoding is latin-1: use a UTF-8 "
                             "one (e.g. PYTHONIOENCODING=utf-8)")


def test_json_is_written_to_an_output_encoding_without_chinese(in_tiny_run):
    """--json is for scripts: where stdout's encoding has no Chinese (latin-1; a file on a
    Windows code page) it writes Chinese as \\u escapes, the same JSON, instead of the error
    above."""
    env = dict(os.environ, PYTHONIOENCODING="latin-1")
    for args in (["sample", "--prefix", "分开", "--length", "3", "--json"],
                 ["sample", "--prefix", "分开", "--next", "3", "--json"],
                 ["eval", "--text", "-", "--per-line", "--json"]):
        result = subprocess.run([sys.executable, "-m", "jaylyrics", *args], env=env,
                                input="分开\n我不能再想\n".encode(), capture_output=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.isascii() and b"\\u5206\\u5f00" in result.stdout      # 分开
        written = json.loads(result.stdout.decode().strip().splitlines()[-1])
        assert written == last_json(run_cli(*args, input="分开\n我不能再想\n"))


def test_sample_runs_without_importing_mxnet(in_tiny_run):
    """sample loads the weights with NumPy and writes in NumPy: MXNet's import (most of the
    start-up) is skipped, and the lyrics, --next and --json are those of the in-process CLI,
    which has MXNet loaded (and its checkpoint tests compare against MXNet's forward pass)."""
    code = ("import sys; from click.testing import CliRunner; from jaylyrics.cli import main; "
            "r = [CliRunner().invoke(main, a) for a in ("
            "['sample', '--prefix', '分开', '--length', '30', '--temperature', '0.8', '--json'], "
            "['sample', '--prefix', '分开', '--next', '3', '--json'], "
            "['sample', '-i', '--length', '10', '--device', 'cpu'])]; "
            "print('mxnet' in sys.modules); [print(x.stdout.strip()) for x in r[:2]]")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, input="不分开\n").stdout.splitlines()
    assert out[0] == "False"
    assert json.loads(out[1]) == last_json(run_cli("sample", "--prefix", "分开", "--length", "30",
                                                   "--temperature", "0.8", "--json"))
    assert json.loads(out[2]) == last_json(run_cli("sample", "--prefix", "分开", "--next", "3",
                                                   "--json"))


def test_quiet_and_verbose_together_are_refused(in_tiny_run):
    for args in (("-q", "-v"), ("--verbose", "--quiet")):
        result = run_cli("eval", *args)
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr.strip().endswith("Error: -q (results only) and -v (more detail): "
                                              "choose one")


def test_quiet_and_verbose_go_before_the_command_too(tmp_path, monkeypatch):
    """`jaylyrics -q train ...`, as pip and git take such options; each command starts at the
    normal level again (several commands in one process, as the tests run them)."""
    monkeypatch.chdir(tmp_path)
    args = ("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--dry-run")
    verbose = run_cli("-v", *args)
    assert verbose.exit_code == 0 and "config:" in verbose.stderr, verbose.output
    normal = run_cli(*args)
    assert normal.exit_code == 0 and "config:" not in normal.stderr, normal.output
    quiet = run_cli("-q", "train", "--config", TINY, "--set", "data.corpus=missing.txt")
    assert quiet.exit_code == 1 and "missing.txt" in quiet.stderr
    quiet = run_cli("-q", *args)
    assert quiet.exit_code == 0 and quiet.stderr == "" and "dry run:" in quiet.stdout
    both = run_cli("-q", *args, "-v")
    assert both.exit_code == 2 and both.stderr.strip().endswith("choose one")


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "jaylyrics", "--version"], capture_output=True,
                         text=True, check=True)
    assert "jaylyrics" in out.stdout


def test_train_writes_a_run_and_points_latest_at_it(in_tiny_run):
    run = in_tiny_run / "runs" / "tiny"
    assert {"best.json", "last.json", "config.yaml", "metrics.csv"} <= {p.name for p in run.iterdir()}
    assert len(list(run.glob("weights-*.params"))) >= 1
    assert (in_tiny_run / "runs" / "latest").resolve() == run.resolve()
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_ppl,val_ppl,val_ppl_model") and len(rows) == 3
    meta = json.loads((run / "best.json").read_text())
    assert meta["format"] == checkpoint.FORMAT == 2 and meta["config"]["model"]["type"] == "gru"
    assert len(meta["vocab"]) == meta["shapes"]["b_q"][0]


def test_train_on_a_busy_machine_says_how_to_share_it(tmp_path, monkeypatch):
    from jaylyrics import backend

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(backend, "SETTINGS", {"MXNET_ENGINE_TYPE": "NaiveEngine", "OMP_NUM_THREADS": "2"})
    monkeypatch.setattr(backend.os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    monkeypatch.setattr(backend.os, "cpu_count", lambda: 2)
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set", "train.epochs=1",
                     "--set", "train.sample_every=0")
    assert result.exit_code == 0, result.output
    assert "device: CPU (2 threads)\nnote: this machine is busy (load 3.0 on 2 CPUs)" in result.stderr
    assert "OMP_NUM_THREADS=1" in result.stderr


def test_train_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set", "train.epochs=1",
                     "--set", "train.out_dir=runs/one", "--json")
    assert result.exit_code == 0, result.output
    summary = last_json(result)
    assert summary["best_epoch"] == 1 and summary["run_dir"] == "runs/one"
    assert "device: CPU" in result.stderr
    assert "epoch   1  train ppl" in result.stderr and "val ppl" in result.stderr
    assert "  - 分开" in result.stderr
    assert "train.save_every" not in result.stderr
    # the samples shown are kept in the run directory; train.save_every is announced
    assert (tmp_path / "runs" / "one" / "samples.txt").read_text(encoding="utf-8").startswith(
        "=== epoch 1: 分开 ===\n分开")
    saving = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set",
                     "train.epochs=1", "--set", "train.out_dir=runs/two", "--set",
                     "train.save_every=10")
    assert saving.exit_code == 0, saving.output
    assert "saving a resumable checkpoint every 10 batches inside an epoch " \
        "(train.save_every)" in saving.stderr


def test_a_run_still_improving_at_its_last_epoch_says_how_to_go_on(tmp_path, monkeypatch):
    """A run that trained all its epochs with its score still falling (its last epoch its best,
    down 1% or more over the last three, here two) ended with its best number alone: a note
    says that more epochs may help, with the command that trains them (it runs); a run whose
    score has levelled off ends without it."""
    import csv
    import shlex

    monkeypatch.chdir(tmp_path)
    base = ["train", "--config", TINY, "--set", f"data.corpus={ZIP}"]

    def last_gain(run: str) -> float:
        rows = list(csv.DictReader((tmp_path / run / "metrics.csv").open(encoding="utf-8")))
        return 1 - float(rows[-1]["val_ppl"]) / min(float(r["val_ppl"]) for r in rows[:-1])

    result = run_cli(*base, "--set", "train.out_dir=my runs/tiny", "--json")
    assert result.exit_code == 0, result.stderr
    assert last_gain("my runs/tiny") >= 0.01 and last_json(result)["still_improving"] is True
    assert ("note: the val perplexity was still falling at the last epoch: more epochs may help "
            "(`jaylyrics train --resume 'my runs/tiny' --set train.epochs=4` trains 2 more)") \
        in result.stderr
    resumed = run_cli(*shlex.split(result.stderr.split("`")[1])[1:], "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert last_json(resumed)["epochs"] == 4

    level = run_cli(*base, "--set", "train.out_dir=level", "--set", "train.lr=1e-6", "--json")
    assert level.exit_code == 0, level.stderr
    assert 0 < last_gain("level") < 0.01                  # its best, by a hair
    assert last_json(level)["still_improving"] is False and "still falling" not in level.stderr


def test_a_big_corpus_with_the_default_dropout_gets_a_note(tmp_path, monkeypatch):
    """The default dropout was set on the 55,233 training characters of the Jay Chou lyrics; on
    a corpus several times larger less trains better (README: 3.67 against 4.62 on 372,000
    characters), which a user training on their own text had no way to know at the start: a
    note says so, where the dropout is the default's (not for the Jay Chou corpus itself)."""
    import zipfile

    from jaylyrics.cli.corpus_notes import DEFAULT_TRAIN_CHARS

    monkeypatch.chdir(tmp_path)
    text = zipfile.ZipFile(ZIP).read("jaychou_lyrics.txt").decode("utf-8")
    (tmp_path / "big.txt").write_text(text * 5, encoding="utf-8")
    big = run_cli("train", "--set", "data.corpus=big.txt", "--dry-run", "--json")
    assert big.exit_code == 0, big.stderr
    chars = last_json(big)["train_chars"]
    assert chars >= 4 * DEFAULT_TRAIN_CHARS
    assert (f"note: {chars:,} training characters, {chars / DEFAULT_TRAIN_CHARS:.0f} times the "
            "lyrics that the default dropout (model.dropout 0.6, model.weight_drop 0.4) was set "
            "for: less may train better, e.g. --set model.dropout=0.2 --set "
            "model.weight_drop=0.1 (README: Your own lyrics)") in big.stderr
    lighter = run_cli("train", "--set", "data.corpus=big.txt", "--set", "model.dropout=0.2",
                      "--dry-run")
    assert lighter.exit_code == 0 and "times the lyrics" not in lighter.stderr
    jay = run_cli("train", "--set", f"data.corpus={ZIP}", "--dry-run", "--json")
    assert last_json(jay)["train_chars"] == DEFAULT_TRAIN_CHARS      # (what the note counts in)
    assert "times the lyrics" not in jay.stderr


def test_a_validation_split_far_from_val_fraction_gets_a_note(tmp_path, monkeypatch):
    """The split takes whole lines: of a text of four long lines, val_fraction 0.1 holds out the
    last one, a quarter of the text, which a user saw only in the counts; a note says so. The
    Jay Chou lyrics, of thousands of lines, get none; nor does a resumed run."""
    monkeypatch.chdir(tmp_path)
    lines = ["分开" * 1500, "不分开" * 1000, "我不能再想" * 600, "想你" * 1500]
    (tmp_path / "long.txt").write_text("\n".join(lines), encoding="utf-8")
    base = ["train", "--config", TINY, "--set", "data.corpus=long.txt", "--set", "data.max_chars=0"]
    long = run_cli(*base, "--dry-run", "--json")
    assert long.exit_code == 0, long.stderr
    assert last_json(long)["val_chars"] == len(lines[-1]) + 1           # the last line, its \n
    share = (len(lines[-1]) + 1) / (len("\n".join(lines)) + 2)             # (+ the two \n added)
    assert f"{share:.0%}" == "25%"
    assert ("note: data.val_fraction 0.1 holds out 25% of the characters (3,001) for validation: "
            "the split takes whole lines, here the last 1 of 4") in long.stderr
    spaces = run_cli(*base, "--set", "data.keep_newlines=false", "--dry-run")
    assert spaces.stderr.strip().endswith("holds out 25% of the characters (3,001) for "
                                          "validation: the split takes whole lines")
    assert run_cli(*base, "--set", "train.epochs=1").exit_code == 0
    resumed = run_cli("train", "--resume", "runs/tiny", "--set", "train.epochs=2")
    assert resumed.exit_code == 0 and "holds out" not in resumed.stderr
    jay = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set",
                  "train.out_dir=runs/jay", "--dry-run")
    assert jay.exit_code == 0 and "holds out" not in jay.stderr


def test_a_second_training_into_a_trained_run_is_refused_unless_overwrite(tmp_path, monkeypatch):
    """Training again into train.out_dir (a forgotten --resume, the same command twice) would
    replace the run's checkpoints: refused before anything is written, naming the run and the
    ways on; --overwrite replaces it; another directory is free; fine-tuning into it likewise."""
    monkeypatch.chdir(tmp_path)
    base = ["train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set", "train.epochs=1"]
    assert run_cli(*base).exit_code == 0
    run = tmp_path / "runs" / "tiny"
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    again = run_cli(*base, "--set", "train.epochs=2")
    assert_clean_error(again, "train.out_dir runs/tiny already holds a trained run (1 epoch of "
                       "gru 1x32, best val perplexity ", "jaylyrics train --resume runs/tiny",
                       "--set train.out_dir=DIR", "--overwrite")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before      # nothing touched
    tuned = run_cli(*base, "--init-from", "runs/tiny", "--set", "train.out_dir=runs/tiny2")
    assert tuned.exit_code == 0, tuned.output
    assert_clean_error(run_cli(*base, "--init-from", "runs/tiny2", "--set",
                               "train.out_dir=runs/tiny"), "runs/tiny already holds a trained run")
    monkeypatch.setenv("DMLC_ROLE", "worker")                # a worker started by hand: with
    monkeypatch.setenv("DMLC_NUM_WORKER", "2")              # the kvstore it needs
    assert_clean_error(run_cli(*base, "--kvstore", "dist_sync", "--dry-run"),
                       "continue it with `jaylyrics train --kvstore dist_sync --resume runs/tiny`")
    monkeypatch.setenv("JAYLYRICS_LAUNCH_PORT", "9000")     # a worker of `jaylyrics launch`
    assert_clean_error(run_cli(*base, "--kvstore", "dist_sync", "--dry-run"),
                       "continue it with `jaylyrics launch -n 2 -- train --resume runs/tiny`")
    assert_clean_error(run_cli(*base, "--kvstore", "dist_async", "--dry-run"),  # of asynchronous
                       "continue it with `jaylyrics launch -n 2 -- train --kvstore dist_async "
                       "--resume runs/tiny`")                                  # ones: say so
    monkeypatch.delenv("DMLC_ROLE")
    replaced = run_cli(*base, "--set", "train.epochs=2", "--overwrite", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((run / "last.json").read_text())["epoch"] == 2
    assert last_json(replaced)["epochs"] == 2


def test_the_commands_a_message_suggests_can_be_pasted_into_a_shell(tmp_path, monkeypatch):
    """A run directory with a space in its path (a home such as /mnt/c/Users/John Smith under
    WSL): the commands the messages suggest quote it, as a shell needs it; run one to check."""
    import shlex

    monkeypatch.chdir(tmp_path)
    out_dir = "my runs/tiny"
    base = ["train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set", "train.epochs=1",
            "--set", f"train.out_dir={out_dir}"]
    assert run_cli(*base).exit_code == 0
    again = run_cli(*base)
    assert_clean_error(again, "continue it with `jaylyrics train --resume 'my runs/tiny'`")
    suggested = again.stderr.split("`")[1]
    resumed = run_cli(*shlex.split(suggested)[1:], "--set", "train.epochs=2")
    assert resumed.exit_code == 0, resumed.stderr
    (tmp_path / out_dir / "best.json").write_text("{oops")
    assert_clean_error(run_cli("eval", "--checkpoint", out_dir),
                       "the run's last checkpoint loads: --checkpoint 'my runs/tiny/last.json'")


def test_samples_during_training_are_what_sample_writes(tmp_path, monkeypatch):
    """Greedy by default; with train.sample_temperature drawn, seeded by train.seed; with
    train.sample_no_repeat_ngram_size without repeated pieces: in each case the text `jaylyrics
    sample` writes from the epoch's checkpoint with the same options."""
    monkeypatch.chdir(tmp_path)
    shown = {}
    for temperature, no_repeat in (("0", "0"), ("0.8", "0"), ("0", "3")):
        name = f"t{temperature}n{no_repeat}"
        result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set",
                         "train.epochs=1", "--set", f"train.sample_temperature={temperature}",
                         "--set", f"train.sample_no_repeat_ngram_size={no_repeat}",
                         "--set", "train.prefixes=[分开]", "--set", f"train.out_dir=runs/{name}")
        assert result.exit_code == 0, result.output
        shown[name] = [line[4:] for line in result.stderr.splitlines() if line.startswith("  - ")]
        options = ["--temperature", temperature, "--seed", "0"] if temperature != "0" else []
        written = run_cli("sample", "--checkpoint", f"runs/{name}", "--prefix", "分开",
                          "--length", "20", "--json", "--no-repeat-ngram-size", no_repeat,
                          *options)
        text = last_json(written)["samples"][0]
        assert shown[name] == [text.replace("\n", " / ")]
    assert len({text for texts in shown.values() for text in texts}) == 3


def test_sample_says_when_greedy_decoding_loops(in_tiny_run):
    from jaylyrics import sample

    greedy = run_cli("sample", "--prefix", "分开", "--length", "60", "--json")
    text = last_json(greedy)["samples"][0]
    assert sample.loops(text[2:])                     # the tiny model's greedy text does loop
    assert "greedy decoding repeats itself" in greedy.stderr
    several = run_cli("sample", "-i", input="分开\n不分开\n分开\n")           # said once
    assert several.stderr.count("greedy decoding repeats itself") == 1
    drawn = run_cli("sample", "--prefix", "分开", "--length", "60", "--temperature", "0.8")
    assert drawn.exit_code == 0 and "repeats itself" not in drawn.stderr
    quiet = run_cli("sample", "--prefix", "分开", "--length", "60", "-q")
    assert quiet.stderr == ""


def ends_in_a_run(text, least=10):
    """Whether text ends in one piece (1 to 30 characters) over and over, `least` characters of
    it at least and three times at least (written apart from sample.repeated_end)."""
    match = re.search(r"(.{1,30}?)\1+\Z", text, re.S)
    return bool(match) and len(match[0]) >= max(least, 3 * len(match[1])), match and match[1]


def test_sample_says_when_drawn_samples_end_in_a_loop(in_tiny_run):
    """At a low temperature the tiny model's samples, with its cache, run into one character
    over and over: a note (once) names it and the ways out; without the cache, the advice
    leaves --no-cache out; samples that do not loop get no note."""
    result = run_cli("sample", "--prefix", "分开", "--length", "60", "--temperature", "0.1",
                     "--num-samples", "3", "--json")
    looping = [ends_in_a_run(text[2:]) for text in last_json(result)["samples"]]
    assert [ran for ran, _ in looping] == [True] * 3
    piece = looping[0][1]
    assert f"note: all 3 samples end in a loop ({piece!r} over and over): the cache lifts" \
        in result.stderr
    assert "try --no-cache, a higher --temperature or --no-repeat-ngram-size 4" in result.stderr
    alone = run_cli("sample", "--prefix", "分开", "--length", "60", "--temperature", "0.02",
                    "--no-cache", "--json")
    ran, piece = ends_in_a_run(last_json(alone)["samples"][0][2:])
    assert ran
    assert (f"note: the sample ends in a loop ({piece!r} over and over); try a higher "
            "--temperature or --no-repeat-ngram-size 4") in alone.stderr
    several = run_cli("sample", "--temperature", "0.1", "--length", "60", "-i",
                      input="分开\n不分开\n")
    assert several.stderr.count("in a loop") == 1
    drawn = run_cli("sample", "--prefix", "分开", "--length", "60", "--temperature", "1",
                    "--num-samples", "3", "--no-cache", "--json")
    assert not any(ends_in_a_run(text[2:])[0] for text in last_json(drawn)["samples"])
    assert "loop" not in drawn.stderr


def test_sample_without_repeated_pieces_stays_greedy_and_does_not_loop(in_tiny_run):
    """--no-repeat-ngram-size 4: the tiny model's greedy text, a loop of one character, is no
    loop; no piece of 4 characters is written twice (3 line breaks in a row still may); the lyrics start as greedy ones do until the first
    piece that would repeat; interactive prefixes and --next take the option too."""
    from jaylyrics import sample

    greedy = last_json(run_cli("sample", "--prefix", "分开", "--length", "80", "--json"))
    result = run_cli("sample", "--prefix", "分开", "--length", "80", "--json",
                     "--no-repeat-ngram-size", "4")
    blocked = last_json(result)
    text, loop = blocked["samples"][0], greedy["samples"][0]
    assert blocked["no_repeat_ngram_size"] == 4 and greedy["no_repeat_ngram_size"] == 0
    assert sample.loops(loop[2:]) and len(set(loop[2:])) == 1 and len(set(text[2:])) > 10
    pieces = [text[j:j + 4] for j in range(len(text) - 3)]
    assert len(pieces) == len(set(pieces)) == 79
    first = next(j for j in range(4, len(loop) + 1) if loop[j - 4:j] in loop[:j - 1])
    assert text[:first - 1] == loop[:first - 1] and text != loop
    assert "greedy decoding repeats itself" not in result.stderr
    assert "--no-repeat-ngram-size 4 to stay greedy" in run_cli(
        "sample", "--prefix", "分开", "--length", "80").stderr
    typed = run_cli("sample", "-i", "--length", "80", "--no-repeat-ngram-size", "4", input="分开\n")
    assert typed.stdout.strip() == text.strip()
    ruled_out = text[first - 4:first - 1]              # after these 3, greedy would repeat a piece
    after = last_json(run_cli("sample", "--prefix", text[:first - 1], "--next", "3", "--json"))
    then = last_json(run_cli("sample", "--prefix", text[:first - 1], "--next", "3", "--json",
                             "--no-repeat-ngram-size", "4"))
    assert after["next"][0]["char"] == loop[first - 1] and ruled_out + loop[first - 1] in loop
    assert loop[first - 1] not in [e["char"] for e in then["next"]]
    assert then["next"][0]["char"] == text[first - 1]
    assert_clean_error(run_cli("sample", "--prefix", "分开", "--no-repeat-ngram-size", "-2"),
                       "--no-repeat-ngram-size -2: expected 0 (off) or a number of characters")


def test_sample_greedy_is_deterministic_and_starts_with_the_prefix(in_tiny_run):
    a = run_cli("sample", "--prefix", "分开", "--length", "30")
    b = run_cli("sample", "--prefix", "分开", "--length", "30", "--checkpoint", "runs/tiny")
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout and a.stdout.startswith("分开")


def test_sample_writes_lyrics_for_each_prefix_given(in_tiny_run):
    """--prefix given twice: click kept the last one and left out the first without a word.
    Each is written, in order, a blank line between; all are checked before any is written."""
    one, two = (run_cli("sample", "--prefix", p, "--length", "20").stdout for p in ("分开", "不分"))
    both = run_cli("sample", "--prefix", "分开", "--prefix", "不分", "--length", "20")
    assert both.exit_code == 0 and both.stdout == one + "\n" + two, both.stdout
    unknown = run_cli("sample", "--prefix", "分开", "--prefix", "Ж")
    assert_clean_error(unknown, "--prefix has 1 character not in the model's vocabulary: 'Ж'")
    assert unknown.stdout == ""
    # pasted with the ideographic space of Chinese text, where the tiny run knows only ' '
    assert_clean_error(run_cli("sample", "--prefix", "分开\u3000不分"),
                       "--prefix has 1 character not in the model's vocabulary: '\\u3000' "
                       "(the vocabulary has ' ')")
    assert_clean_error(run_cli("sample", "--prefix", "分开", "--prefix", "不分", "--json"),
                       "--json prints one object, for one prefix (--prefix was given 2 times)")


def test_sample_with_temperature_is_reproducible_by_seed(in_tiny_run):
    args = ["sample", "--prefix", "分开", "--length", "40", "--temperature", "1.0", "--json"]
    a, b = run_cli(*args, "--seed", "1"), run_cli(*args, "--seed", "1")
    c = run_cli(*args, "--seed", "2")
    ja = last_json(a)
    assert ja == last_json(b)
    assert ja["samples"] != last_json(c)["samples"]
    assert len(ja["samples"][0]) == 42


def test_sample_json_holds_every_drawing_option(in_tiny_run):
    """What --json says of the options is enough to write the same samples again."""
    out = last_json(run_cli("sample", "--prefix", "分开", "--length", "30", "--json",
                            "--temperature", "0.9", "--top-k", "50", "--top-p", "0.95",
                            "--no-repeat-ngram-size", "3", "--seed", "7"))
    assert {k: out[k] for k in ("temperature", "top_k", "top_p", "no_repeat_ngram_size",
                                "seed")} == {"temperature": 0.9, "top_k": 50, "top_p": 0.95,
                                             "no_repeat_ngram_size": 3, "seed": 7}
    again = last_json(run_cli("sample", "--prefix", out["prefix"], "--length", "30", "--json",
                              *[arg for key in ("temperature", "top_k", "top_p",
                                                "no_repeat_ngram_size", "seed")
                                for arg in (f"--{key.replace('_', '-')}", str(out[key]))]))
    assert again["samples"] == out["samples"]


def test_sample_long_prefix_works(in_tiny_run):
    result = run_cli("sample", "--prefix", "分开" * 5000, "--length", "5")
    assert result.exit_code == 0
    assert len(result.stdout.rstrip("\n")) <= 10005


def test_eval_reports_the_checkpoint_val_perplexity(in_tiny_run):
    result = run_cli("eval", "--json")
    assert result.exit_code == 0, result.output
    out = last_json(result)
    assert {"perplexity", "nll", "chars"} <= set(out)
    meta = json.loads((in_tiny_run / "runs" / "tiny" / "best.json").read_text())
    assert out["perplexity"] == pytest.approx(meta["metrics"]["val_ppl"], rel=1e-5)
    assert out["nll"] == pytest.approx(__import__("math").log(out["perplexity"]))
    train = last_json(run_cli("eval", "--split", "train", "--json"))
    assert train["chars"] > out["chars"]


def test_eval_of_a_run_without_a_validation_split(tmp_path, monkeypatch):
    """data.val_fraction 0: the run keeps its best by training perplexity; eval's default split
    is empty, which it says (with what to use instead), and --split train scores."""
    monkeypatch.chdir(tmp_path)
    trained = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                      "--set", "data.val_fraction=0", "--set", "train.epochs=1", "--json")
    assert trained.exit_code == 0, trained.output
    assert last_json(trained)["metric"] == "train_ppl"
    assert_clean_error(run_cli("eval"), "(val split) is empty (data.val_fraction is 0 in this "
                       "checkpoint's config): use --split train or --text FILE")
    scored = last_json(run_cli("eval", "--split", "train", "--json"))
    assert scored["source"].endswith("(train split)") and scored["chars"] > 1000


def test_eval_on_a_text_file(in_tiny_run, tmp_path):
    text = tmp_path / "lines.txt"
    text.write_text("分开\n不分开\n", encoding="utf-8")
    result = run_cli("eval", "--text", text, "--json")
    out = last_json(result)
    assert out["chars"] == len("分开\n不分开\n") - 1


def test_eval_on_a_directory_scores_its_files_joined(in_tiny_run, tmp_path):
    songs = tmp_path / "songs"
    songs.mkdir()
    (songs / "2.txt").write_text("不分开", encoding="utf-8")
    (songs / "1.txt").write_text("分开\n", encoding="utf-8")
    (tmp_path / "joined.txt").write_text("分开\n不分开\n", encoding="utf-8")
    scored = [last_json(run_cli("eval", "--text", p, "--json"))
              for p in (songs, tmp_path / "joined.txt")]
    assert scored[0]["chars"] == scored[1]["chars"] == 6
    assert scored[0]["nll"] == pytest.approx(scored[1]["nll"], rel=1e-6)


@pytest.mark.parametrize("args,fragments", [
    (["sample", "--prefix", "分开Ж"], ["--prefix", "'Ж'"]),
    (["sample", "--prefix", "分开\\n我"], ["'n'", "for a line break in bash, write --prefix $'分开\\n我'"]),
    (["sample", "--prefix", "分开\\n我", "--next", "2"], ["'n'", "--prefix $'分开\\n我'"]),
    (["sample", "--prefix", "分开,不分开"], ["','", "; several prefixes are one --prefix each: "
                                              "--prefix 分开 --prefix 不分开"]),
    (["sample", "--prefix", ""], ["--prefix is empty"]),
    (["sample", "--prefix", "分", "--length", "-1"], ["--length -1"]),
    (["sample", "--prefix", "分", "--length", "100000000"], ["--length", "too long; at most 1,000,000 characters"]),
    (["sample", "--prefix", "分", "--temperature", "-1"], ["--temperature -1.0", "> 0"]),
    (["sample", "--prefix", "分", "--temperature", "0"], ["--temperature 0.0", "greedy"]),
    # these two were taken: inf drew uniformly from the whole vocabulary, and --split was ignored
    (["sample", "--prefix", "分", "--temperature", "inf"], ["--temperature inf", "finite"]),
    (["eval", "--split", "train", "--text", "x.txt"], ["--split train and --text: choose one"]),
    (["eval", "--skip-unknown"], ["--skip-unknown applies to --text"]),       # (was a no-op)
    (["sample", "--prefix", "分", "--top-k", "100000"], ["--top-k 100000"]),
    # these two were taken: greedy samples were N copies of one text, --stream was ignored
    (["sample", "--prefix", "分", "--num-samples", "3"], ["--num-samples 3: greedy decoding (no "
                                                         "--temperature) writes the same lyrics "
                                                         "every time; add --temperature"]),
    (["sample", "--prefix", "分", "--stream", "--json"], ["--stream prints characters as they "
                                                          "come; --json prints one object"]),
    (["sample", "--prefix", "分", "--seed", "-1"], ["--seed -1: expected 0 to 4294967295"]),
    (["sample", "--prefix", "分", "--seed", "4294967296"], ["--seed 4294967296: expected 0 to"]),
    (["sample", "--prefix", "分", "--checkpoint", "nowhere"], ["nowhere", "no such checkpoint",
                                                          "the runs in runs/: tiny (give one"]),
    (["eval", "--checkpoint", "runs/nowhere"], ["the runs in runs/: tiny (give one"]),
    (["eval", "--checkpoint", "elsewhere/nowhere"], ["elsewhere/nowhere: no such checkpoint "
                                                     "(expected a run directory, a .json "
                                                     "checkpoint file or the name of a run "
                                                     "under runs/)"]),
    (["eval", "--checkpoint", "runs"], ["no checkpoint in this directory"]),
    (["eval", "--text", "nope.txt"], ["nope.txt: no such file", "a relative --text is read"]),
    (["eval", "--text", "分开的时候"], ["分开的时候: no such file", "to score these words "
                                   "themselves, give them on standard input: echo '分开的时候' | "
                                   "jaylyrics eval --text -"]),
    (["eval", "--device", "gpu"], ["--device gpu", "no GPU"]),
    (["eval", "--device", "tpu"], ["expected auto, cpu, gpu or gpu:N"]),
    # click kept the last and dropped the others without a word
    (["eval", "--text", "a.txt", "--text", "b.txt"],
     ["--text is given 2 times (a.txt, b.txt); give one (the files of a directory or a zip are "
      "scored as one text)"]),
    (["sample", "--prefix-file", "a.txt", "--prefix-file", "b.txt"],
     ["--prefix-file is given 2 times (a.txt, b.txt); give one"]),
])
def test_user_mistakes_on_sample_and_eval(in_tiny_run, args, fragments):
    assert_clean_error(run_cli(*args), *fragments)


def test_no_run_yet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "project"                  # where the jaylyrics package lies: no runs
    monkeypatch.setattr(runs, "PROJECT_DIR", project)
    result = run_cli("sample", "--prefix", "分")
    assert_clean_error(result, "runs/latest", "jaylyrics train", "--checkpoint PATH")
    assert "the project's" not in result.stderr
    assert_clean_error(run_cli("train", "--resume"), "runs/latest", "--resume RUN")
    # the project has trained a run (runs/latest there): the error names it
    (project / "runs" / "default").mkdir(parents=True)
    (project / "runs" / "latest").symlink_to("default")
    assert_clean_error(run_cli("sample", "--prefix", "分"),
                       f"(the project's: --checkpoint {project / 'runs' / 'default'})")
    assert_clean_error(run_cli("train", "--resume"),
                       f"(the project's: --resume {project / 'runs' / 'default'})")


@pytest.mark.parametrize("as_symlink", [True, False])
def test_latest_names_a_deleted_run(tmp_path, monkeypatch, as_symlink, tiny_run):
    """runs/latest names a run that was deleted (or is itself gone): the error says so and names
    the runs that are left, which are what to pass instead."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    latest = tmp_path / "runs" / "latest"
    if as_symlink:
        latest.symlink_to("gone")
    else:
        latest.write_text("runs/gone\n")
    for args in (["sample", "--prefix", "分"], ["eval"]):
        result = run_cli(*args)
        assert_clean_error(result, "runs/latest names runs/gone, which no longer exists")
        assert "the runs in" not in result.stderr
    assert_clean_error(run_cli("train", "--resume"), "runs/gone", "--resume RUN")
    shutil.copytree(tiny_run / "runs" / "tiny", tmp_path / "runs" / "kept")
    assert_clean_error(run_cli("eval"), "runs/latest names runs/gone, which no longer exists: run "
                       "`jaylyrics train` or pass --checkpoint PATH; the runs in runs/: kept "
                       "(give one, such as runs/kept)")
    latest.unlink()
    assert_clean_error(run_cli("sample", "--prefix", "分"), "no run is marked as the one trained "
                       "last (runs/latest does not exist here): pass --checkpoint PATH; the runs "
                       "in runs/: kept (give one, such as runs/kept)")
    assert_clean_error(run_cli("train", "--resume"), "not exist here): pass --resume RUN; the "
                       "runs in runs/: kept")


@pytest.mark.parametrize("args,fragments", [
    (["--config", "missing.yaml"], ["missing.yaml", "no such config file"]),
    (["--set", "train.lrr=1"], ["train.lrr", "did you mean 'train.lr'"]),
    (["--set", "train.lr"], ["expected KEY=VALUE"]),
    (["--set", "data.corpus=nope.txt"], ["nope.txt", "no such file", "data.corpus"]),
    (["--set", "train.batch_size=0"], ["train.batch_size", ">= 1"]),
    (["--set", "train.num_steps=100000"], ["(2,745 characters) is too short for one batch",
                                          "need at least 800,008 characters"]),
    (["--set", "train.prefixes=[分开Ж]"], ["train.prefixes", "'Ж'"]),
    (["--set", "train.seed=4294967296"], ["train.seed", "<= 4294967295"]),    # NumPy's seeds
    # these two said "Error: /dev/null: File exists" and "Error: /dev/null/x: Not a directory"
    (["--set", "train.out_dir=/dev/null"], ["train.out_dir /dev/null is a file; expected a "
                                            "directory for the run's checkpoints"]),
    (["--set", "train.out_dir=/dev/null/x"], ["train.out_dir /dev/null/x: cannot make this "
                                              "directory: /dev/null is not a directory"]),
    # --dry-run checks the same without making the directory (it said "dry run: ..." here)
    (["--set", "train.out_dir=/dev/null", "--dry-run"], ["train.out_dir /dev/null is a file"]),
    (["--set", "train.out_dir=/dev/null/x", "--dry-run"], ["train.out_dir /dev/null/x: cannot "
                                                           "make this directory: /dev/null is "
                                                           "not a directory"]),
    # these three were tracebacks (OverflowError; --length, after an epoch of training)
    (["--set", "model.cache_order=99999999999999999999"], ["model.cache_order", "<= 100"]),
    (["--set", "train.sample_length=1000001"], ["train.sample_length", "<= 1000000"]),
    (["--set", "train.lr=99999999999999999999", "-q"],
     ["the loss grew to", "nats a character", "in epoch 1: lower train.lr (now 1e+20) or "
      "train.clip; no checkpoint was written"]),
    # click kept the last --config and dropped the other without a word
    (["--config", "configs/default.yaml", "--dry-run"],
     ["--config is given 2 times (", "configs/tiny.yaml, configs/default.yaml); give one, and "
      "change its keys with --set KEY=VALUE"]),
    # a line break or tab in what an error quotes broke its one line (found by fuzzing --set)
    (["--set", "train.prefixes='\n", "--dry-run"],
     ["Error: --set train.prefixes='\\n: not a YAML list (while scanning a quoted scalar)"]),
    (["--set", "tra\tin.lr=3", "--dry-run"],
     ["Error: --set tra\\tin.lr=3: unknown key 'tra\\tin.lr'; did you mean 'train.lr'?"]),
])
def test_user_mistakes_on_train(tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    config = [] if args[:2] == ["--config", "missing.yaml"] else ["--config", TINY]
    result = run_cli("train", *config, "--set", f"data.corpus={ZIP}", *args)
    assert_clean_error(result, *fragments)


@pytest.mark.parametrize("args, hint", [
    (["sample", "分开"], "argument (分开): the text to start with comes after --prefix: jaylyrics "
                       "sample --prefix 分开"),
    (["sample", "你好", "世界"], "arguments (你好 世界): the text to start with comes after "
                             "--prefix: jaylyrics sample --prefix '你好 世界'"),
    (["train", "configs/tiny.yaml"], "argument (configs/tiny.yaml): a config file comes after "
                                     "--config: jaylyrics train --config configs/tiny.yaml"),
    (["train", "runs/x"], "argument (runs/x): train takes options only: a config file is "
                          "--config FILE, a run to continue --resume RUN"),
    (["eval", "runs/default"], "argument (runs/default): a run or checkpoint comes after "
                               "--checkpoint (jaylyrics eval --checkpoint runs/default), a text "
                               "to score after --text"),
    (["runs", "old runs"], "argument (old runs): the directory that holds the runs comes after "
                           "--dir: jaylyrics runs --dir 'old runs'"),
])
def test_a_word_without_its_option_says_which_option_takes_it(args, hint):
    """`jaylyrics sample 分开` (the README's --prefix left out) said "Got unexpected extra
    argument (分开)" and no more: now also which option takes it, as a command to paste. Still a
    usage error (usage lines, exit 2), as click gives; other usage errors are as they were."""
    result = run_cli(*args)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Usage: main {args[0]} [OPTIONS]")  # (CliRunner's name)
    assert result.stderr.splitlines()[-1] == f"Error: Got unexpected extra {hint}"
    other = run_cli("sample", "--prefx", "分开")
    assert other.exit_code == 2 and "No such option" in other.stderr
    assert "comes after" not in other.stderr


@pytest.mark.parametrize("args, key", [
    (["--epochs", "5"], "train.epochs=5"), (["--lr=0.01"], "train.lr=0.01"),
    (["--batch_size", "8", "--set", "train.epochs=1"], "train.batch_size=8"),
    (["--hidden-size", "512"], "model.hidden_size=512"), (["--model", "lstm"], "model.type=lstm"),
    (["--dropout"], "model.dropout=VALUE"), (["--prefixes", "[分开, 你好]"],
                                             "train.prefixes='[分开, 你好]'"),
])
def test_a_config_key_given_as_an_option_says_to_set_it(args, key, tmp_path, monkeypatch):
    """`train --epochs 5`, as char-rnn and nanoGPT take it, said "No such option '--epochs'"
    (for --lr: "Did you mean '--help'?"): now the --set that does it, with the value given."""
    monkeypatch.chdir(tmp_path)
    result = run_cli("train", *args)
    assert result.exit_code == 2 and not (tmp_path / "runs").exists()
    said = result.stderr.splitlines()[-1]             # (click 8.1: "No such option: --lr")
    assert said.startswith("Error: No such option") and args[0].split("=")[0] in said
    assert said.endswith(f". Config keys are set with --set: jaylyrics train --set {key}")
    other = run_cli("train", "--foo", "3")                      # not a key: as click says it
    assert "--foo" in other.stderr and "Config keys" not in other.stderr
    monkeypatch.setenv("DMLC_ROLE", "worker")                 # launch's check of its workers'
    monkeypatch.setenv("DMLC_NUM_WORKER", "2")                # arguments: the launch command
    monkeypatch.setenv("JAYLYRICS_LAUNCH_PORT", "9000")
    launched = run_cli("train", *args).stderr.splitlines()[-1]
    assert launched.endswith(f"Config keys are set with --set: jaylyrics launch -n 2 -- train "
                             f"--set {key}")
    assert "Config keys" not in run_cli("sample", "--epochs", "3").stderr    # (train's keys)


def test_runs_latest_made_a_directory_is_refused_before_training(tmp_path, monkeypatch):
    """It used to stop the run after its first epoch (when runs/latest is written)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "latest").mkdir(parents=True)
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}")
    assert_clean_error(result, "runs/latest is a directory; rename it so that it can point at "
                               "the latest run")
    assert "epoch" not in result.stderr and not (tmp_path / "runs" / "tiny" / "last.json").exists()


def test_a_model_too_big_for_the_memory_is_refused_before_it_is_made(tmp_path, monkeypatch):
    """A hidden size of 10^8 (3 x 10^16 weights) is refused before MXNet loads, naming the
    parameters, the memory and the keys; a MemoryError that still comes (a batch, a text) is one
    line too."""
    from jaylyrics import machine, model

    monkeypatch.chdir(tmp_path)
    base = ["train", "--config", TINY, "--set", f"data.corpus={ZIP}"]
    result = run_cli(*base, "--set", "model.hidden_size=100000000")
    assert_clean_error(result, "the model would have 30,000,", "parameters", "GiB for its weights",
                       "lower model.hidden_size (now 100000000)")
    # 10^20 layers: counted, not listed (listing them took all the memory until the process was
    # killed)
    result = run_cli(*base, "--set", "model.num_layers=99999999999999999999")
    assert_clean_error(result, "the model would have ", "model.num_layers (99999999999999999999)")
    monkeypatch.setattr(machine, "memory_limit", lambda: None)
    monkeypatch.setattr(machine, "physical_memory", lambda: 2**16)      # a 64 KiB machine
    assert_clean_error(run_cli(*base), "the model would have ", "KiB for its weights",
                       "this machine has 64 KiB")
    # in a container limited to 1.5 GiB on a 24 GiB machine (which would kill the training)
    monkeypatch.setattr(machine, "physical_memory", lambda: 24 * 2**30)
    monkeypatch.setattr(machine, "memory_limit", lambda: 3 * 2**29)
    assert_clean_error(run_cli(*base, "--set", "model.hidden_size=6000"),
                       "the model would have 110,748,885 parameters, 1.7 GiB for its weights, "
                       "gradients and optimiser state; this container may use (its memory limit) "
                       "1.5 GiB: lower model.hidden_size (now 6000)")
    assert run_cli(*base, "--set", "model.hidden_size=4000", "--dry-run").exit_code == 0

    def too_big(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(machine, "physical_memory", lambda: None)       # unknown: not checked
    monkeypatch.setattr(model, "init_params", too_big)
    result = run_cli(*base)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith(
        "Error: out of memory: the model (model.hidden_size")


def test_gpu_choice_with_a_faked_gpu_count(monkeypatch):
    from jaylyrics import DeviceError, backend

    monkeypatch.setattr(backend, "num_gpus", lambda: 2)
    assert backend.device("auto") == backend.mx.gpu(0)
    assert backend.device("gpu:1") == backend.mx.gpu(1)
    with pytest.raises(DeviceError, match="sees 2 GPU"):
        backend.device("gpu:2")
    monkeypatch.setattr(backend, "num_gpus", lambda: 0)
    assert backend.device("auto") == backend.mx.cpu()
    with pytest.raises(DeviceError, match="no GPU"):
        backend.device("gpu:3")


def test_a_corrupt_checkpoint_through_the_cli(in_tiny_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(in_tiny_run / "runs" / "tiny", broken)
    for weights in broken.glob("weights-*.params"):
        weights.write_bytes(weights.read_bytes()[:64])
    assert_clean_error(run_cli("eval", "--checkpoint", broken), "truncated or corrupt weights")
    (broken / "best.json").write_text("{oops")
    assert_clean_error(run_cli("sample", "--prefix", "分", "--checkpoint", broken / "best.json"),
                       "corrupt checkpoint sidecar")


def test_resuming_a_run_this_user_cannot_write_says_how_to_go_on_from_it(in_tiny_run,
                                                                         monkeypatch):
    """Another user's run (or one on a read-only mount): --resume stopped after MXNet had loaded,
    with "Error: runs/tiny/.lock: Permission denied". As root every directory is writable, so
    there the file system's answer for that one directory is played."""
    run = in_tiny_run / "runs" / "tiny"
    if os.geteuid() == 0:
        access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
            not (mode & os.W_OK and os.path.realpath(path) == str(run.resolve()))
            and access(path, mode, **kw)))
    run.chmod(0o555)
    try:
        result = run_cli("train", "--resume", "runs/tiny", "--set", "train.epochs=3")
    finally:
        run.chmod(0o755)
    assert_clean_error(result, "--resume runs/tiny: cannot write in this run's directory "
                       "(another user's run, or a read-only mount); to train on from its weights "
                       "in a run of your own: --init-from runs/tiny --set train.out_dir=DIR")
    assert "device:" not in result.stderr                          # before MXNet loads


def test_a_sidecar_that_cannot_be_read_is_not_called_corrupt(in_tiny_run, tmp_path):
    """Another user's run (best.json mode 600) was "corrupt checkpoint sidecar (PermissionError:
    ...)". As root no mode keeps a file from being read: a directory in its place takes the
    same way, and where the tests run as a user, the mode too."""
    import shutil

    unreadable = tmp_path / "theirs"
    shutil.copytree(in_tiny_run / "runs" / "tiny", unreadable)
    (unreadable / "best.json").unlink()
    (unreadable / "best.json").mkdir()
    assert_clean_error(run_cli("sample", "--prefix", "分", "--checkpoint", unreadable),
                       f"{unreadable / 'best.json'}: cannot read it (Is a directory); the run's "
                       f"last checkpoint loads: --checkpoint {unreadable / 'last.json'}")
    if os.geteuid() != 0:
        (unreadable / "last.json").chmod(0)
        assert_clean_error(run_cli("eval", "--checkpoint", unreadable / "last.json"),
                           f"{unreadable / 'last.json'}: cannot read it (Permission denied)")


def test_an_out_dir_that_cannot_be_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("not a directory")
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                     "--set", "train.out_dir=file/run")
    assert_clean_error(result, "file/run")


def test_random_prefixes_give_a_clean_error_or_lyrics(in_tiny_run):
    rng = __import__("random").Random(0)
    alphabet = "分开不战争中部队我你的爱\nabcЖ🎵 \t"
    for _ in range(15):
        prefix = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        result = run_cli("sample", "--prefix", prefix, "--length", "3")
        assert result.exit_code in (0, 1), result.output
        if result.exit_code:
            assert_clean_error(result)
        else:
            assert result.stdout.startswith(prefix.rstrip("\n")[:1])


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_an_interrupted_training_says_how_to_resume_and_can(tmp_path, signum):
    import os
    import signal
    import time

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = [sys.executable, "-m", "jaylyrics", "train", "--config", str(TINY), "--set",
            f"data.corpus={ZIP}", "--set", "train.epochs=500", "--set", "train.sample_every=0"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "runs" / "tiny" / "last.json").exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(getattr(signal, signum))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "jaylyrics train --resume runs/tiny" in err.strip().splitlines()[-1]
    meta = json.loads((tmp_path / "runs" / "tiny" / "last.json").read_text())
    done = meta["resume"]["epoch"]
    result = subprocess.run([sys.executable, "-m", "jaylyrics", "train", "--resume", "runs/tiny",
                             "--set", f"train.epochs={done + 1}"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"resuming after epoch {done}" in result.stderr or \
        f"resuming epoch {done + 1} after batch" in result.stderr
    assert json.loads((tmp_path / "runs" / "tiny" / "last.json").read_text())["epoch"] == done + 1


@pytest.mark.parametrize("args,fragments", [
    (["--resume", "runs/tiny", "--config", str(TINY)], ["--resume continues a run", "drop --config"]),
    (["--resume", "runs/tiny", "--set", "model.type=lstm"], ["model.type=lstm", "only train.*"]),
    (["--resume", "nowhere"], ["nowhere", "no such checkpoint"]),
    (["--resume", "runs/tiny", "--overwrite"], ["--resume continues a run; --overwrite replaces"]),
    (["--resume", "runs/tiny"], ["runs/tiny has trained its 2 epochs (train.epochs 2)",
                                 "--set train.epochs=N (N > 2)"]),
])
def test_resume_mistakes(in_tiny_run, args, fragments):
    assert_clean_error(run_cli("train", *args), *fragments)


@pytest.mark.parametrize("damage,fragment,more", [
    (lambda r: r.update(epoch="x"), "invalid literal for int()", []),
    (lambda r: r.update(lr=None), "float() argument", []),
    (lambda r: r.pop("steps"), "no 'steps'", []),
    (lambda r: r.update(partial={"batches": 2}), "no 'state'", []),
    (lambda r: r.update(partial=5), "not subscriptable", []),
    # inside an epoch with a new batch size: the check of what a resume may change read the
    # epoch itself, before the training state was checked (a ValueError traceback)
    (lambda r: r.update(epoch="x", partial={"batches": 2}), "no 'state'",
     ["--set", "train.batch_size=4"]),
])
def test_a_damaged_training_state_is_a_clean_error_on_resume(in_tiny_run, tmp_path, damage,
                                                              fragment, more):
    """last.json's training state is not covered by the weights' hash: a hand-edited or damaged
    one is a one-line error on --resume, not a traceback."""
    import shutil

    run = tmp_path / "hurt"
    shutil.copytree(in_tiny_run / "runs" / "tiny", run)
    meta = json.loads((run / "last.json").read_text(encoding="utf-8"))
    damage(meta["resume"])
    (run / "last.json").write_text(json.dumps(meta), encoding="utf-8")
    assert_clean_error(run_cli("train", "--resume", run, "--set", "train.epochs=3", *more),
                       f"{run / 'last.json'}: corrupt training state", fragment, "cannot resume")


@pytest.mark.parametrize("edit,fragment", [
    (lambda m: m.update(format=99), "format 99 is newer"),
    (lambda m: m["config"]["model"].update(hidden_size=64), "has shape"),
    (lambda m: m["config"]["model"].update(type="lstm"), "do not match a lstm model"),
    (lambda m: m.pop("vocab"), "no 'vocab'"),
])
def test_broken_checkpoints_through_the_cli(in_tiny_run, tmp_path, edit, fragment):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(in_tiny_run / "runs" / "tiny", run)
    meta = json.loads((run / "best.json").read_text())
    edit(meta)
    (run / "best.json").write_text(json.dumps(meta))
    assert_clean_error(run_cli("eval", "--checkpoint", run), fragment)
    assert_clean_error(run_cli("sample", "--checkpoint", run, "--prefix", "分"), fragment)



@pytest.mark.parametrize("content,extra,fragments", [
    (b"", [], ["mine.txt: empty or only whitespace, nothing to read"]),
    (b"   \n\t\n", [], ["mine.txt: empty or only whitespace, nothing to read"]),
    (b"abc\xff\xfe", [], ["not UTF-8", "offset 3"]),
    (b"\x89PNG\r\n\x00\x00", [], ["looks binary"]),
    ("短\n".encode(), ["data.val_fraction=0.0"], ["too short for one batch"]),
    ("一二三四五六七八九十\n".encode() * 40, ["data.val_fraction=0.01"],
     ["mine.txt: the validation split has no characters: 40 lines"]),
    ("一二三四五六七八九十".encode() * 400 + b"\n", [],        # (tiny: data.max_chars 3000)
     ["mine.txt: the text is one line (3,000 characters)", "data.val_fraction 0"]),
])
def test_bad_corpora_through_the_cli(tmp_path, monkeypatch, content, extra, fragments):
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "mine.txt"
    corpus.write_bytes(content)
    sets = [arg for key in extra for arg in ("--set", key)]
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={corpus}", *sets)
    assert_clean_error(result, *fragments)


def test_zips_without_text_files_through_the_cli(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.chdir(tmp_path)
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        z.writestr("a.csv", "a")
        z.writestr("b.csv", "b")
    with zipfile.ZipFile(tmp_path / "none.zip", "w"):
        pass
    assert_clean_error(run_cli("train", "--set", "data.corpus=two.zip"), "a.csv, b.csv")
    assert_clean_error(run_cli("train", "--set", "data.corpus=none.zip"), "found no files")


@pytest.mark.parametrize("text,fragments", [
    ("train:\n  lr: [1,\n", ["YAML syntax error", "line 3"]),
    ("- a\n- b\n", ["expected a mapping"]),
    ("trian:\n  lr: 1.0\n", ["unknown section 'trian'", "did you mean 'train'"]),
    ("train:\n  lr: fast\n", ["train.lr", "expected a number"]),
    ("train:\n  lr: '1e-3'\n", ["train.lr", "a number in quotes is text to YAML"]),
    ("train:\n  epochs: true\n", ["train.epochs", "whole number"]),
    ("model:\n  hidden_size: -4\n", ["model.hidden_size", ">= 1"]),
    ("data:\n  val_fraction: 1.0\n", ["data.val_fraction", "[0.0, 1.0)"]),
    ("train:\n  sampler: shuffled\n", ["train.sampler", "random, consecutive"]),
    ("model:\n  type: transformer\n", ["model.type", "rnn, gru, lstm"]),
])
def test_config_mistakes_through_the_cli(tmp_path, monkeypatch, text, fragments):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    assert_clean_error(run_cli("train", "--config", "bad.yaml"), "bad.yaml", *fragments)


def test_a_directory_as_config_and_a_missing_gpu_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_clean_error(run_cli("train", "--config", tmp_path), "is a directory")
    assert_clean_error(run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                               "--device", "gpu:3"), "--device gpu:3", "no GPU")


def test_training_on_two_cpu_contexts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set", "train.epochs=1",
                     "--device", "cpu:0,1")
    assert result.exit_code == 0, result.output
    assert "device: CPU, CPU 1" in result.stderr
    assert_clean_error(run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                               "--device", "tpu:0,1", "--overwrite"), "expected cpu:I,J")


def test_several_gpus_with_a_faked_gpu_count(monkeypatch):
    from jaylyrics import DeviceError, backend

    monkeypatch.setattr(backend, "num_gpus", lambda: 2)
    assert backend.devices("gpu:0,1") == [backend.mx.gpu(0), backend.mx.gpu(1)]
    with pytest.raises(DeviceError, match="sees 2 GPU"):
        backend.devices("gpu:1,2")
    for spec in ("gpu:0,1,0", "cpu:1, 1"):          # were taken: two replicas on one device
        with pytest.raises(DeviceError, match=f"--device {spec}: {spec[:4]}[01] is given twice; "
                                              "list each device once"):
            backend.devices(spec)


def test_a_run_is_evaluated_and_resumed_from_another_directory(tmp_path, monkeypatch):
    """A relative data.corpus was read where the run was trained: eval and --resume read it
    there from any working directory (not a file of the same name here); a corpus that is gone
    is a clean error naming it, and a project's own copy is named when the working directory is
    the wrong one."""
    import shutil

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "lyrics").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(ZIP, project / "lyrics" / "jay.zip")
    monkeypatch.chdir(project)
    args = ("--config", TINY, "--set", "data.corpus=lyrics/jay.zip", "--set", "train.epochs=1",
            "--set", "train.out_dir=runs/mine", "--json")
    assert run_cli("train", *args).exit_code == 0
    here = last_json(run_cli("eval", "--json"))

    monkeypatch.chdir(elsewhere)               # with another file at the same relative path
    (elsewhere / "lyrics").mkdir()
    (elsewhere / "lyrics" / "jay.zip").write_text("分开\n" * 500, encoding="utf-8")
    there = last_json(run_cli("eval", "--checkpoint", project / "runs" / "mine", "--json"))
    assert there["perplexity"] == here["perplexity"] and there["chars"] == here["chars"]
    assert there["source"] == f"{project / 'lyrics' / 'jay.zip'} (val split)"
    resumed = run_cli("train", "--resume", project / "runs" / "mine", "--set", "train.epochs=2",
                      "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert last_json(resumed)["epochs"] == 2

    (project / "lyrics" / "jay.zip").rename(project / "lyrics" / "moved.zip")
    (elsewhere / "lyrics" / "jay.zip").unlink()
    assert_clean_error(run_cli("eval", "--checkpoint", project / "runs" / "mine"),
                       f"lyrics/jay.zip: no such file (from {elsewhere}): the corpus "
                       f"{project / 'runs' / 'mine'} was trained on (its data.corpus, which the "
                       "val split is read from) has moved or gone; put it back, or give its new "
                       "place with --set data.corpus=PATH, or score a text of your own with "
                       "--text FILE")
    assert_clean_error(run_cli("eval", "--checkpoint", project / "runs" / "mine", "--split",
                               "train"), "which the train split is read from")
    # the configs' data/jaychou_lyrics.txt.zip from a directory without it: where it is
    assert_clean_error(run_cli("train", "--config", TINY),
                       "data/jaychou_lyrics.txt.zip: no such file", f"the project's {ZIP}")
    # ... and where jaylyrics was installed without its source (pip install ., not -e)
    from jaylyrics import reading

    monkeypatch.setattr(reading, "PROJECT_DIR", tmp_path / "site-packages")
    assert_clean_error(run_cli("train", "--dry-run"), "data/jaychou_lyrics.txt.zip: no such file",
                       "; the Jay Chou corpus comes with jaylyrics' source, not with an installed "
                       "package: run from a checkout of it (pip install -e .), or give lyrics of "
                       "your own")


def test_a_resumed_run_whose_corpus_changed_but_not_its_characters_says_so(tmp_path,
                                                                           monkeypatch):
    """A corpus edited between two trainings of a run (lines moved or replaced, no new
    character) was resumed without a word: the epochs after it train on other text, and their
    scores are compared with a best scored on the old one."""
    import zipfile

    monkeypatch.chdir(tmp_path)
    text = zipfile.ZipFile(ZIP).read("jaychou_lyrics.txt").decode("utf-8")[:3000]
    (tmp_path / "my.txt").write_text(text, encoding="utf-8")
    args = ("--config", TINY, "--set", "data.corpus=my.txt", "--set", "train.epochs=1")
    assert run_cli("train", *args).exit_code == 0
    same = run_cli("train", "--resume", "--set", "train.epochs=2")
    assert same.exit_code == 0, same.stderr
    assert "has changed" not in same.stderr
    lines = text.split("\n")
    lines[0], lines[1] = lines[1], lines[0]                     # the same characters
    (tmp_path / "my.txt").write_text("\n".join(lines), encoding="utf-8")
    best = json.loads((tmp_path / "runs" / "tiny" / "last.json").read_text())["resume"]["best"]
    moved = run_cli("train", "--resume", "--set", "train.epochs=3")
    assert moved.exit_code == 0, moved.stderr
    assert (f"note: my.txt has changed since {tmp_path / 'runs' / 'tiny'} was saved (the same "
            "characters, other lines): the epochs from here train and are scored on the new text "
            f"(the best so far, {best:.2f}, was scored on the old)") in moved.stderr


def test_a_run_whose_corpus_has_moved_resumes_from_where_it_is_now(tmp_path, monkeypatch):
    """The corpus file moved after a training: --resume said `my.txt: no such file` and no
    --set could point it elsewhere (only train.* keys). It names the run's corpus and how to go
    on; --set data.corpus=NEW resumes (the same characters: the vocabulary check stands) and is
    what the run keeps, so eval finds it; the other data keys stay the run's."""
    import shutil
    import zipfile

    monkeypatch.chdir(tmp_path)
    text = zipfile.ZipFile(ZIP).read("jaychou_lyrics.txt").decode("utf-8")[:3000]
    (tmp_path / "my.txt").write_text(text, encoding="utf-8")
    args = ("--config", TINY, "--set", "data.corpus=my.txt", "--set", "train.epochs=1", "-q")
    assert run_cli("train", *args).exit_code == 0
    (tmp_path / "lyrics").mkdir()
    shutil.move(tmp_path / "my.txt", tmp_path / "lyrics" / "my.txt")
    run = tmp_path / "runs" / "tiny"
    assert_clean_error(run_cli("train", "--resume", "--set", "train.epochs=2"),
                       f"my.txt: no such file (from {tmp_path}): the corpus {run} was trained "
                       "on (its data.corpus) has moved or gone; put it back, or give where it "
                       "is now: --set data.corpus=PATH")
    resumed = run_cli("train", "--resume", "--set", "train.epochs=2", "--set",
                      "data.corpus=lyrics/my.txt", "-q", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert last_json(resumed)["epochs"] == 2 and "has changed" not in resumed.stderr
    evaluated = last_json(run_cli("eval", "--json"))
    assert evaluated["source"] == "lyrics/my.txt (val split)"
    # a best checkpoint saved before the move (the resumed epochs were no better) keeps the old
    # path: eval of the run (best.json) reads the corpus where last.json says it now is
    best = run / "best.json"
    meta = json.loads(best.read_text(encoding="utf-8"))
    meta["config"]["data"]["corpus"] = "my.txt"
    best.write_text(json.dumps(meta), encoding="utf-8")
    assert last_json(run_cli("eval", "--json"))["source"] == "lyrics/my.txt (val split)"
    (tmp_path / "other.txt").write_text("月亮代表我的心\n" * 400, encoding="utf-8")
    assert_clean_error(run_cli("train", "--resume", "--set", "train.epochs=3", "--set",
                               "data.corpus=other.txt"),
                       "other.txt: the corpus has changed since", "(its vocabulary differs)")
    assert_clean_error(run_cli("train", "--resume", "--set", "data.max_chars=100"),
                       "--set data.max_chars=100: only train.* keys and data.corpus can change")


def test_eval_reads_a_moved_corpus_where_it_is_now_and_says_when_it_has_changed(tmp_path,
                                                                               monkeypatch):
    """eval of a run whose corpus has moved could only say so (its --set took model.cache_*
    keys alone): --set data.corpus=NEW scores the same split there. A corpus that is not the
    text the run was trained on (edited in place, or another file given) was scored without a
    word, its split other lines than the run was scored on: a note says so."""
    import zipfile

    monkeypatch.chdir(tmp_path)
    text = zipfile.ZipFile(ZIP).read("jaychou_lyrics.txt").decode("utf-8")[:3000]
    (tmp_path / "my.txt").write_text(text, encoding="utf-8")
    args = ("--config", TINY, "--set", "data.corpus=my.txt", "--set", "train.epochs=1", "-q")
    assert run_cli("train", *args).exit_code == 0
    before = last_json(run_cli("eval", "--json"))
    (tmp_path / "lyrics").mkdir()
    (tmp_path / "my.txt").rename(tmp_path / "lyrics" / "my.txt")
    assert_clean_error(run_cli("eval"), "my.txt: no such file", "give its new place with --set "
                       "data.corpus=PATH")
    moved = run_cli("eval", "--set", "data.corpus=lyrics/my.txt", "--json")
    assert moved.exit_code == 0, moved.stderr
    assert "note:" not in moved.stderr
    after = last_json(moved)
    assert after["source"] == "lyrics/my.txt (val split)"
    assert (after["perplexity"], after["chars"]) == (before["perplexity"], before["chars"])
    assert_clean_error(run_cli("eval", "--set", "data.corpus=lyrics/my.txt", "--text",
                               "lyrics/my.txt"), "--set data.corpus=lyrics/my.txt and --text: "
                       "choose one")
    assert_clean_error(run_cli("eval", "--set", "data.max_chars=100"),
                       "--set data.max_chars=100: only model.cache_* keys and data.corpus can "
                       "change here")

    lines = text.split("\n")
    lines[0], lines[1] = lines[1], lines[0]                     # the same characters
    (tmp_path / "my.txt").write_text("\n".join(lines), encoding="utf-8")   # back, edited
    run = tmp_path / "runs" / "tiny"
    for split, scored in (("val", "scored"), ("train", "trained")):
        edited = run_cli("eval", "--split", split)
        assert edited.exit_code == 0, edited.stderr
        assert (f"note: my.txt is not the text {run} was trained on (it has changed, or it is "
                f"another): its {split} split is not the one the run was {scored} on") \
            in edited.stderr
    lines[0] += "★"                                             # and a character it never saw
    (tmp_path / "my.txt").write_text("\n".join(lines), encoding="utf-8")
    unknown = run_cli("eval", "--split", "train")
    assert_clean_error(unknown, "my.txt (train split) has 1 character not in the model's "
                       f"vocabulary: '★'; my.txt is not the text {run} was trained on")
    assert "--skip-unknown" not in unknown.stderr              # (that is for --text)


def test_a_resumed_run_becomes_the_run_trained_last(tmp_path, monkeypatch):
    """runs/latest named a run from its first epoch only: after training a then b, `--resume a`
    left sample and eval on b; and a run moved elsewhere and resumed there stayed unnamed."""
    monkeypatch.chdir(tmp_path)
    common = ("--config", TINY, "--set", f"data.corpus={ZIP}", "--set", "train.epochs=1", "-q")
    for name in ("a", "b"):
        assert run_cli("train", *common, "--set", f"train.out_dir=runs/{name}").exit_code == 0
    assert (tmp_path / "runs" / "latest").resolve() == tmp_path / "runs" / "b"
    resumed = run_cli("train", "--resume", "runs/a", "--set", "train.epochs=2", "-q")
    assert resumed.exit_code == 0, resumed.stderr
    assert (tmp_path / "runs" / "latest").resolve() == tmp_path / "runs" / "a"
    sampled = last_json(run_cli("sample", "--prefix", "分开", "--length", "3", "--json"))
    assert (tmp_path / sampled["checkpoint"]).resolve() == tmp_path / "runs" / "a" / "best.json"

    (tmp_path / "runs" / "a").rename(tmp_path / "moved")
    resumed = run_cli("train", "--resume", tmp_path / "moved", "--set", "train.epochs=3", "-q")
    assert resumed.exit_code == 0, resumed.stderr
    assert (tmp_path / "runs" / "latest").resolve() == tmp_path / "moved"


def test_resume_takes_the_training_keys_of_an_edited_config_yaml(tmp_path, monkeypatch):
    """To train longer, one edits train.epochs in the run's config.yaml and resumes: that was
    ignored ("has trained its 1 epoch (train.epochs 1)"). Now its train.* keys count, as --set
    ones do (which still win), and so does data.corpus (where the corpus is now, as --set says
    it); a key a resumed run cannot change is named with the file."""
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copy(ZIP, tmp_path / "lyrics.zip")
    assert run_cli("train", "--config", TINY, "--set", "data.corpus=lyrics.zip", "--set",
                   "train.epochs=1", "-q").exit_code == 0
    saved = tmp_path / "runs" / "tiny" / "config.yaml"
    text = saved.read_text()
    saved.write_text(text.replace("epochs: 1\n", "epochs: 2\n").replace("lr: 0.01\n",
                                                                     "lr: 0.005\n"))
    resumed = run_cli("train", "--resume", "runs/tiny", "--set", "train.lr=0.02")
    assert resumed.exit_code == 0, resumed.output
    assert "note: runs/tiny/config.yaml was edited since the run was saved: resuming with its " \
        "train.epochs 2\n" in resumed.stderr                   # (--set gives train.lr: it wins)
    assert "learning rate 0.02 (train.lr)" in resumed.stderr and "epoch   2" in resumed.stderr
    again = run_cli("train", "--resume", "runs/tiny", "-q")     # (the run wrote it: as it was)
    assert_clean_error(again, "runs/tiny has trained its 2 epochs (train.epochs 2)")
    text = saved.read_text()
    for was, now, key in (("hidden_size: 32", "hidden_size: 64", "model.hidden_size to 64, where "
                                                                 "the run was saved with 32"),
                          ("optimizer: adam", "optimizer: sgd", "train.optimizer to sgd, where "
                                                                "the run was saved with adam"),
                          ("keep_newlines: true", "keep_newlines: false",      # (as YAML has it)
                           "data.keep_newlines to false, where the run was saved with true")):
        saved.write_text(text.replace(was, now))
        assert_clean_error(run_cli("train", "--resume", "runs/tiny", "--set", "train.epochs=3"),
                           f"runs/tiny/config.yaml sets {key}: a resumed run keeps its network, "
                           "data and optimiser (only train.* keys and data.corpus may change); "
                           "put it back, or train a new run with it: jaylyrics train --config "
                           "runs/tiny/config.yaml --set train.out_dir=DIR")
    (tmp_path / "lyrics.zip").rename(tmp_path / "moved.zip")
    saved.write_text(text.replace("corpus: lyrics.zip", "corpus: moved.zip"))
    moved = run_cli("train", "--resume", "runs/tiny", "--set", "train.epochs=3")
    assert moved.exit_code == 0, moved.output
    assert "resuming with its data.corpus moved.zip\n" in moved.stderr
    saved.unlink()                                              # a copy for reading: not needed
    assert run_cli("train", "--resume", "runs/tiny", "--set", "train.epochs=4",
                   "-q").exit_code == 0


def _fill_disk(monkeypatch, when):
    """From now on, writing a file fails as on a full disk (at its fsync, as with a disk that
    fills up as the data reaches it) where `when(name of the file)` says so."""
    import errno

    fsync = os.fsync

    def full(fd):
        if when(os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    return lambda: monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names files by /proc/self/fd")
@pytest.mark.parametrize("full_after", [0, 2])
def test_a_full_disk_says_which_checkpoint_was_not_saved_and_how_to_go_on(tmp_path, monkeypatch,
                                                                          full_after):
    """The disk filled up under a training: MXNet's writer stopped it with a traceback
    ("FileStream.Write incomplete"). Now one line names the file and what is kept; nothing
    half-written is left behind, nothing written before is lost (a resume on a full disk cut
    metrics.csv to nothing), and the run resumes once there is room."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "full"
    metrics, last = run / "metrics.csv", run / "last.json"

    def saved() -> int:
        return json.loads(last.read_text())["epoch"] if last.exists() else 0

    free = _fill_disk(monkeypatch, lambda name: saved() >= full_after      # the checkpoints
                      and name.startswith((".weights", ".optimizer", ".best", ".last")))
    args = ("--config", TINY, "--set", f"data.corpus={ZIP}", "--set", "train.out_dir=runs/full")
    result = run_cli("train", *args, "--set", "train.epochs=3", "-q")
    epoch = full_after + 1
    if not full_after:
        assert_clean_error(result, "cannot save epoch 1's best checkpoint",
                           "nothing to resume yet: free some space, then train again")
        assert not (run / "last.json").exists()
        return
    assert_clean_error(result, f"cannot save epoch {epoch}'s best checkpoint (runs/full/weights-",
                       ".params: No space left on device); the run's last checkpoint is kept: "
                       "free some space, then continue with `jaylyrics train --resume runs/full`")
    assert not [p.name for p in run.iterdir() if ".tmp" in p.name]
    assert saved() == full_after
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    free()
    free = _fill_disk(monkeypatch, lambda name: True)
    assert_clean_error(run_cli("train", "--resume", "runs/full", "-q"),
                       "cannot save the run's config, metrics.csv and samples.txt "
                       "(runs/full/config.yaml: No space left on device); the run's last "
                       "checkpoint is kept")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    free()
    resumed = run_cli("train", "--resume", "runs/full", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert last_json(resumed)["epochs"] == 3
    assert [r.split(",")[0] for r in metrics.read_text().splitlines()] == ["epoch", "1", "2", "3"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names files by /proc/self/fd")
def test_a_full_disk_in_the_first_epoch_of_an_overwriting_run_offers_no_resume(tmp_path,
                                                                               monkeypatch):
    """--overwrite keeps the old run's checkpoints until the new one has its own: a full disk in
    its first epoch must not send the user to `--resume`, which would go on with the old run."""
    monkeypatch.chdir(tmp_path)
    args = ("--config", TINY, "--set", f"data.corpus={ZIP}", "--set", "train.epochs=1", "-q")
    assert run_cli("train", *args).exit_code == 0
    _fill_disk(monkeypatch, lambda name: name.startswith((".weights", ".optimizer")))
    assert_clean_error(run_cli("train", *args, "--overwrite", "--set", "train.seed=1"),
                       "cannot save epoch 1's best checkpoint",
                       "nothing to resume yet: free some space, then train again (--overwrite)")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names files by /proc/self/fd")
def test_a_picture_the_full_disk_has_no_room_for_is_a_note_after_a_training(tmp_path,
                                                                             monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    _fill_disk(monkeypatch, lambda name: ".png" in name)
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set",
                     "train.epochs=1")
    assert result.exit_code == 0, result.stderr
    assert "note: no curves (runs/tiny/perplexity.png: No space left on device)" in result.stderr
    assert not (tmp_path / "runs" / "tiny" / "perplexity.png").exists()
    assert_clean_error(run_cli("plot", "--out", "p.png"), "p.png: No space left on device")
    assert not list(tmp_path.glob("*p.png*"))


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGHUP"), reason="no SIGHUP")
def test_a_hang_up_saves_the_unfinished_epoch_like_ctrl_c(tmp_path):
    """The terminal closes or the ssh connection drops under a training: it used to die at once
    (SIGHUP's default), losing the epoch under way. Now it stops at the next batch as for Ctrl-C,
    although the terminal it writes to is gone (writes to it fail: EIO)."""
    import os
    import pty
    import select
    import signal
    import time

    master, slave = pty.openpty()
    args = [sys.executable, "-m", "jaylyrics", "train", "--config", str(TINY), "--set",
            f"data.corpus={ZIP}", "--set", "train.epochs=500", "--set", "train.sample_every=0"]
    # (SIGHUP as a terminal has it, also where these tests run under nohup, which ignores it)
    proc = subprocess.Popen(args, cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    os.close(slave)
    try:
        deadline, saved = time.time() + 120, None
        while time.time() < deadline and (saved is None or time.time() < saved + 0.5):
            if saved is None and (tmp_path / "runs" / "tiny" / "last.json").exists():
                saved = time.time()                      # then into the next epoch
            if select.select([master], [], [], 0.1)[0]:
                os.read(master, 65536)                   # the progress bars, read away
        os.close(master)                                 # the terminal is gone: EIO from now on
        proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130                        # (SIGHUP's default: -1, killed)
    meta = json.loads((tmp_path / "runs" / "tiny" / "last.json").read_text())
    done = meta["resume"]["epoch"]
    result = subprocess.run([sys.executable, "-m", "jaylyrics", "train", "--resume", "runs/tiny",
                             "--set", f"train.epochs={done + 1}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"resuming epoch {done + 1} after batch" in result.stderr or \
        f"resuming after epoch {done}" in result.stderr            # (a stop at an epoch's end)


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGHUP"), reason="no SIGHUP")
def test_a_hang_up_under_nohup_is_ignored_still(tmp_path):
    """nohup ignores SIGHUP so that a training goes on after the terminal closes: it must not
    take SIGHUP back."""
    import signal

    from jaylyrics import train

    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with train._stop_between_batches() as flag:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            assert not flag["stop"]
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)


@pytest.mark.parametrize("args, message", [
    (["train", "--set", r"data.corpus=C:\Users\me\Music\lyrics.txt", "--dry-run"],
     r"Error: C:\Users\me\Music\lyrics.txt: no such file; a Windows path: under WSL, "
     "/mnt/c/Users/me/Music/lyrics.txt"),
    (["train", "--config", r"C:\Users\me\my.yaml", "--dry-run"],
     r"Error: C:\Users\me\my.yaml: no such config file; a Windows path: under WSL, "
     "/mnt/c/Users/me/my.yaml"),
    (["sample", "--checkpoint", r"D:\runs\default"], r"Error: D:\runs\default: no such "
     "checkpoint (expected a run directory, a .json checkpoint file or the name of a run under "
     "runs/); a Windows path: under WSL, /mnt/d/runs/default"),
    (["sample", "--prefix-file", r'"C:\Users\me\verse.txt"'],    # Explorer's "Copy as path"
     r'Error: --prefix-file "C:\Users\me\verse.txt": no such file; a Windows path: under WSL, '
     "/mnt/c/Users/me/verse.txt"),
    (["eval", "--text", "C:/lyrics/test.txt"], "Error: C:/lyrics/test.txt: no such file; a "
     "Windows path: under WSL, /mnt/c/lyrics/test.txt"),
    (["train", "--set", "data.corpus=C:Usersmelyrics.txt", "--dry-run"],     # unquoted in bash
     "Error: C:Usersmelyrics.txt: no such file; a Windows path without its backslashes (the "
     "shell takes them unless the path is quoted)? under WSL, drive C: is /mnt/c/"),
], ids=["corpus", "config", "checkpoint", "prefix-file", "eval-text", "shell-took-backslashes"])
def test_a_windows_path_is_named_as_wsl_names_it(in_tiny_run, args, message):
    """Windows users run jaylyrics under WSL (the README says so) and paste the paths Explorer
    copies: each command that takes a path said only 'no such file' (with the runs or configs
    nearby); now it gives the path's name under WSL."""
    result = run_cli(*args)
    assert_clean_error(result)
    assert result.stderr.strip() == message


def test_a_windows_path_in_double_quotes_in_yaml_is_named(tmp_path):
    r"""corpus: "C:\Users\me\x.txt" is a YAML syntax error (\U wants eight hex digits): the
    message says why and what to write."""
    path = tmp_path / "w.yaml"
    path.write_text('data:\n  corpus: "C:\\Users\\me\\x.txt"\n', encoding="utf-8")
    assert_clean_error(run_cli("train", "--config", path, "--dry-run"), "line 2, column 16: "
                       "YAML syntax error: expected escape sequence of 8 hexadecimal numbers, but "
                       "found 's' (in double quotes a backslash starts an escape: write a path in "
                       "single quotes, or with /)")


def test_a_path_option_given_with_equals_and_a_tilde_is_read_from_home(tiny_run, tmp_path,
                                                                       monkeypatch):
    """`--config=~/my.yaml`: the shell leaves a ~ after `=` as it is (it expands one that begins a
    word), so each path option (--config, --text, --prefix-file, --checkpoint, --resume, --dir,
    --out) was "no such file" for a file in the home directory; a --prefix's ~ stays text."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(tiny_run / "runs" / "tiny", home / "mine")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)                       # (the resumed run becomes runs/latest here)
    (home / "my.yaml").write_text(f"data:\n  corpus: {ZIP}\ntrain:\n  epochs: 3\n",
                                  encoding="utf-8")
    (home / "verse.txt").write_text("分开", encoding="utf-8")
    dry = run_cli("train", "--config=~/my.yaml", "--dry-run")
    assert dry.exit_code == 0 and "up to 3 epochs" in dry.stdout, dry.output
    for args in (["eval", "--text=~/verse.txt", "--checkpoint=~/mine"],
                 ["sample", "--prefix-file=~/verse.txt", "--checkpoint=~/mine", "--length", "3"],
                 ["runs", "--dir=~"], ["plot", str(home / "mine"), "--out=~/mine.png"]):
        result = run_cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert (home / "mine.png").stat().st_size > 0
    resumed = run_cli("train", "--resume=~/mine", "--set", "train.epochs=3", "-q")
    assert resumed.exit_code == 0 and str(home / "mine") in resumed.stdout, resumed.output
    assert_clean_error(run_cli("sample", "--prefix=~分开", "--checkpoint=~/mine"),
                       "--prefix has 1 character not in the model's vocabulary: '~'")


def test_a_short_option_given_with_equals_takes_what_follows_it(tiny_run, tmp_path, monkeypatch):
    """`plot -o=curves.png`: click took `=curves.png` for the value of a short option (and wrote
    a file of that name), where argparse-made tools take `curves.png`; `-o=~/c.png` is from the
    home directory, as `--out=~/c.png` is."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    run = str(tiny_run / "runs" / "tiny")
    for args, written in ((["-o=curves.png"], tmp_path / "curves.png"),
                          (["-o=~/c.png"], tmp_path / "home" / "c.png")):
        result = run_cli("plot", run, *args)
        assert result.exit_code == 0, result.output
        assert written.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "home"]
