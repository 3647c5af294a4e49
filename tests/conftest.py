"""Shared fixtures: the repository paths and a tiny trained run made once per session."""

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
ZIP = ROOT / "data" / "jaychou_lyrics.txt.zip"
TINY = ROOT / "configs" / "tiny.yaml"


def run_cli(*args, input=None):
    """Invoke the CLI in-process; stdout and stderr are kept apart (click >= 8.2 always does;
    click 8.0 and 8.1, the last for Python 3.9, need mix_stderr=False)."""
    from jaylyrics.cli import main

    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:                                   # click >= 8.2: no such argument
        runner = CliRunner()
    return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def assert_clean_error(result, *fragments, code=1):
    """A user mistake: exit `code`, one line on stderr holding every fragment, no traceback."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def last_json(result):
    """The JSON object on the last line of a command's stdout (what --json promises)."""
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Train configs/tiny.yaml once, in a scratch working directory; return that directory."""
    work = tmp_path_factory.mktemp("work")
    old = os.getcwd()
    os.chdir(work)
    try:
        result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}")
        assert result.exit_code == 0, result.output
    finally:
        os.chdir(old)
    return work


@pytest.fixture
def in_tiny_run(tiny_run, monkeypatch):
    monkeypatch.chdir(tiny_run)
    return tiny_run
