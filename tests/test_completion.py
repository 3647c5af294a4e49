"""Shell completion: run names, --set keys and their values, and bash's split at '='."""

import os
import subprocess
import sys

from click.testing import CliRunner

from jaylyrics import config
from jaylyrics.cli import main


def complete(shell, line, cword=None):
    """What `jaylyrics` answers the `shell`'s completion script for the command `line`, the cursor
    at its end: the (type, value) pairs. bash passes the words and the index of the current one
    (its words split at '=' too, as bash's COMP_WORDS are: give them spaced); fish the current
    word itself."""
    words = line.split(" ")
    if cword is None:
        cword = words[-1] if shell == "fish" else str(len(words) - 1)
    result = CliRunner().invoke(main, [], prog_name="jaylyrics", env={
        "_JAYLYRICS_COMPLETE": f"{shell}_complete", "COMP_WORDS": line, "COMP_CWORD": cword})
    assert result.exit_code == 0, result.output
    if shell == "zsh":                                 # type, value, help: three lines each
        lines = result.output.splitlines()
        return [(lines[i], lines[i + 1]) for i in range(0, len(lines), 3)]
    return [tuple(row.split("\t")[0].split(",", 1)) for row in result.output.splitlines() if row]


def test_set_completes_the_config_keys_as_key_equals():
    keys = complete("bash", "jaylyrics train --set train.l")
    assert keys == [("plain", f"{k}=") for k in config.all_keys() if k.startswith("train.l")]
    assert ("plain", "train.lr=") in keys and ("plain", "train.lr_decay=") in keys
    assert ("plain", "model.type=") in complete("bash", "jaylyrics train --set mo")
    assert complete("bash", "jaylyrics train --set nosuch") == []


def test_sample_and_eval_complete_only_the_keys_they_take():
    """sample: the cache keys; eval: those and data.corpus (a run's corpus that has moved)."""
    want = [("plain", f"{k}=") for k in config.all_keys() if k.startswith("model.cache_")]
    assert complete("bash", "jaylyrics eval --set mo") == want
    assert complete("bash", "jaylyrics sample --set mo") == want
    assert complete("bash", "jaylyrics sample --set model.cache_p") == [
        ("plain", "model.cache_prior=")]
    assert complete("bash", "jaylyrics eval --set train.l") == []
    assert complete("bash", "jaylyrics eval --set da") == [("plain", "data.corpus=")]
    assert complete("bash", "jaylyrics sample --set da") == []


def test_set_completes_choices_and_flags_after_the_equals_sign():
    # bash: the word is split at '=' and only the part after it is replaced
    assert complete("bash", "jaylyrics train --set model.type = ") == [
        ("plain", "rnn"), ("plain", "gru"), ("plain", "lstm")]
    assert complete("bash", "jaylyrics train --set model.type =") == [
        ("plain", "rnn"), ("plain", "gru"), ("plain", "lstm")]
    assert complete("bash", "jaylyrics train --set train.optimizer = s") == [("plain", "sgd")]
    # an earlier KEY=VALUE, split too, does not disturb the next one
    assert complete("bash", "jaylyrics train --set train.lr = 0.1 --set model.typ") == [
        ("plain", "model.type=")]
    # a quoted word, which bash does not split: all of it is replaced
    assert complete("bash", "jaylyrics train --set 'model.type=g") == [("plain", "model.type=gru")]
    # zsh and fish keep the word whole
    assert complete("zsh", "jaylyrics train --set model.type=l") == [("plain", "model.type=lstm")]
    assert complete("fish", "jaylyrics train --set model.tie_weights=") == [
        ("plain", "model.tie_weights=true"), ("plain", "model.tie_weights=false")]
    # a number has no list of values; a path is completed by the shell
    assert complete("bash", "jaylyrics train --set train.lr = ") == []
    assert complete("bash", "jaylyrics train --set data.corpus = da") == [("file", "da")]


def test_bash_adds_no_space_after_a_completed_key():
    """So that the value can be typed straight after `model.type=`."""
    result = CliRunner().invoke(main, [], prog_name="jaylyrics",
                                env={"_JAYLYRICS_COMPLETE": "bash_source"})
    assert "[[ $value == *= ]] && compopt -o nospace" in result.output
    assert "COMPREPLY+=($value)" in result.output


def test_checkpoint_resume_init_from_and_plot_complete_run_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, sidecar in (("gru_small", "best.json"), ("gru_big", "last.json"), ("lstm", "best.json")):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / sidecar).write_text(
            '{"epoch": 3, "config": {"model": {"type": "gru", "hidden_size": 8, "num_layers": 1}},'
            ' "metrics": {"val_ppl": 12.5}}', encoding="utf-8")
    (tmp_path / "runs" / "notes").mkdir()                     # not a run
    os.symlink("gru_small", tmp_path / "runs" / "latest")      # not a run's name
    for line in ("jaylyrics sample --checkpoint gru", "jaylyrics eval --checkpoint gru",
                 "jaylyrics train --resume gru", "jaylyrics train --init-from gru",
                 "jaylyrics plot lstm gru", "jaylyrics train --set train.init_from = gru"):
        # the file type first: bash resets its list there, then takes the names
        assert complete("bash", line) == [("file", "gru"), ("plain", "gru_big"),
                                          ("plain", "gru_small")], line
    assert complete("bash", "jaylyrics plot ") == [
        ("file", ""), ("plain", "gru_big"), ("plain", "gru_small"), ("plain", "lstm")]
    assert complete("bash", "jaylyrics plot runs/g") == [("file", "runs/g")]
    zsh = CliRunner().invoke(main, [], prog_name="jaylyrics", env={
        "_JAYLYRICS_COMPLETE": "zsh_complete", "COMP_WORDS": "jaylyrics plot l",
        "COMP_CWORD": "2"}).output
    assert zsh.splitlines()[3:5] == ["plain", "lstm"]          # zsh shows each run's help
    assert zsh.splitlines()[5].startswith("gru 1x8, best val ppl 12.50, ")


def test_completing_loads_neither_mxnet_nor_numpy(tiny_run):
    code = ("import sys; from click.testing import CliRunner; from jaylyrics.cli import main; "
            "r = CliRunner().invoke(main, [], prog_name='jaylyrics', env={'_JAYLYRICS_COMPLETE':"
            " 'bash_complete', 'COMP_WORDS': 'jaylyrics sample --checkpoint t', 'COMP_CWORD': "
            "'3'}); print(r.output.split()); print('mxnet' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tiny_run).stdout.splitlines()
    assert out == ["['file,t', 'plain,tiny']", "False False"]


def test_an_unreadable_runs_directory_completes_files_only(tmp_path, monkeypatch):
    """Completing must not fail (a traceback in the middle of the command line)."""
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()

    def unreadable(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", unreadable)
    assert complete("bash", "jaylyrics plot ") == [("file", "")]
