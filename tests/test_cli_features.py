"""The friendlier commands: sample --lines/--stream, eval --per-line, runs, plot, -q/-v, and
training on one's own corpus (traditional Chinese, English)."""

import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import TINY, ZIP, assert_clean_error, last_json, run_cli


def test_sample_stops_after_n_lines(in_tiny_run):
    result = run_cli("sample", "--prefix", "分开", "--lines", "3", "--temperature", "1.0", "--json")
    text = last_json(result)["samples"][0]
    assert text.count("\n") <= 2 and not text.endswith("\n")
    plain = run_cli("sample", "--prefix", "分开", "--lines", "3", "--temperature", "1.0")
    assert plain.stdout.rstrip("\n") == text


def test_streaming_prints_the_same_text(in_tiny_run):
    args = ["sample", "--prefix", "分开", "--length", "40", "--temperature", "0.8"]
    streamed, plain = run_cli(*args, "--stream"), run_cli(*args, "--no-stream")
    assert streamed.exit_code == plain.exit_code == 0
    assert streamed.stdout.rstrip("\n") == plain.stdout.rstrip("\n")


def test_num_samples_are_separated(in_tiny_run):
    result = run_cli("sample", "--prefix", "分开", "--num-samples", "3", "--temperature", "1.0",
                     "--length", "10")
    assert [line for line in result.stdout.splitlines() if line.startswith("--- sample")] == \
        ["--- sample 1 ---", "--- sample 2 ---", "--- sample 3 ---"]


def test_sample_next_lists_the_most_likely_characters(in_tiny_run):
    data = last_json(run_cli("sample", "--prefix", "分开", "--next", "5", "--json"))
    p = [entry["p"] for entry in data["next"]]
    assert data["prefix"] == "分开" and len(p) == 5 and p == sorted(p, reverse=True) and sum(p) <= 1
    greedy = run_cli("sample", "--prefix", "分开", "--length", "1", "--json")
    assert last_json(greedy)["samples"][0] == "分开" + data["next"][0]["char"]
    text = run_cli("sample", "--prefix", "分开", "--next", "5")
    rows = text.stdout.splitlines()
    assert [row.split()[0] for row in rows] == ["1", "2", "3", "4", "5"]
    assert f"{p[0]:.3f}" in rows[0] and "after '分开'" in text.stderr
    result = run_cli("sample", "--prefix", "分开", "--next", "0")
    assert result.exit_code == 1 and "--next 0: expected 1 to" in result.stderr
    result = run_cli("sample", "--prefix", "分开", "--next", "3", "--length", "5", "--lines", "2")
    assert result.exit_code == 1 and "--next writes no lyrics, so --length, --lines do not apply" \
        in result.stderr
    drawn = last_json(run_cli("sample", "--prefix", "分开", "--next", "5", "--temperature", "0.8",
                              "--top-k", "2", "--json"))
    assert drawn["temperature"] == 0.8 and len(drawn["next"]) == 2
    assert [e["char"] for e in drawn["next"]] == [e["char"] for e in data["next"][:2]]
    assert abs(sum(e["p"] for e in drawn["next"]) - 1) < 1e-9


def test_sample_interactive_writes_for_each_typed_prefix(in_tiny_run):
    """-i: each typed prefix gets what `sample --prefix` writes (greedy: the same text), an
    empty line what `sample` without --prefix writes, a prefix the model cannot read is one line
    on stderr and the session goes on, \\n is a line break, Ctrl-D (end of input) ends it."""
    alone = [run_cli("sample", *p, "--length", "12").stdout
             for p in (["--prefix", "分开"], [], ["--prefix", "不分开"], ["--prefix", "分开\n"])]
    result = run_cli("sample", "-i", "--length", "12", input="分开\n\n不分开\n分★\n分开\\n\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "".join(alone)
    assert "Error: the prefix has 1 character not in the model's vocabulary: '★'" in result.stderr
    assert "Traceback" not in result.stderr
    quiet = run_cli("sample", "-i", "-q", "--length", "12", input="分★\n分开\n")
    assert quiet.stdout == alone[0] and "Error: the prefix has 1 character not in the model's " \
        "vocabulary: '★'" in quiet.stderr          # (-q leaves out progress, not mistakes)
    # --prefix first, then the typed ones; --next for each
    both = run_cli("sample", "-i", "--prefix", "分开", "--next", "3", input="不分开\n\n")
    assert both.stdout == run_cli("sample", "--prefix", "分开", "--next", "3").stdout + \
        run_cli("sample", "--prefix", "不分开", "--next", "3").stdout + \
        run_cli("sample", "--next", "3").stdout
    assert "after the start of a line (no --prefix)" in both.stderr


@pytest.mark.parametrize("end", ["exit", "quit", " Quit ", ":q", "/bye", ".exit"])
def test_sample_interactive_ends_at_exit_and_answers_help(in_tiny_run, end):
    """exit, quit, :q, /bye ... end the session, as other prompts do (it wrote lyrics that start
    with "exit", or said 'q' is not in the vocabulary); /help and :? say how the prompt works;
    help alone, a text the model can read, stays a prefix."""
    result = run_cli("sample", "-i", "--length", "12", input=f"分开\n/help\n:?\n{end}\n不分开\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == run_cli("sample", "--prefix", "分开", "--length", "12").stdout
    said = [line for line in result.stderr.replace("prefix> ", "").splitlines()
            if line.startswith("Error")]
    assert said == [f"Error: {word}: there are no commands here, every line is a prefix (\\n "
                    "types a line break; Enter alone asks for a line of their own); Ctrl-D or "
                    "exit ends" for word in ("/help", ":?")], result.stderr
    helped = run_cli("sample", "-i", "--length", "12", input="help\n")
    assert helped.stdout == run_cli("sample", "--prefix", "help", "--length", "12").stdout


def test_sample_interactive_goes_on_after_an_empty_line_it_cannot_start_from(in_tiny_run,
                                                                            monkeypatch):
    """A model whose vocabulary has neither a line break nor a space cannot start a line of its
    own: an empty line at the -i prompt ended the session with that error; it is said and the
    next prefix asked for."""
    from jaylyrics import InputError
    from jaylyrics.cli import sample_command

    def no_line_start(ck):
        raise InputError("--prefix is missing, and this vocabulary has neither")

    monkeypatch.setattr(sample_command, "_line_start", no_line_start)
    result = run_cli("sample", "-i", "--length", "12", input="\n分开\n")
    assert result.exit_code == 0, result.stderr
    assert "Error: --prefix is missing" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == run_cli("sample", "--prefix", "分开", "--length", "12").stdout


def test_ctrl_c_while_writing_stops_that_sample_only(in_tiny_run, monkeypatch):
    from jaylyrics import sample

    real = sample.generate

    def generate(params, model_cfg, vocab, prefix, *args, **kwargs):
        if prefix == "分开":                             # as if Ctrl-C came in the middle
            yield "我"
            raise KeyboardInterrupt
        yield from real(params, model_cfg, vocab, prefix, *args, **kwargs)

    monkeypatch.setattr(sample, "generate", generate)
    result = run_cli("sample", "-i", "--length", "12", "--no-stream", input="分开\n不分开\n")
    assert result.exit_code == 0 and "(stopped)" in result.stderr
    monkeypatch.setattr(sample, "generate", real)
    assert result.stdout == "分开我\n" + run_cli("sample", "--prefix", "不分开", "--length",
                                              "12").stdout


def test_ctrl_c_while_writing_into_a_file_keeps_what_was_written(in_tiny_run, monkeypatch):
    """`sample --length 100000 > song.txt`, then Ctrl-C: the file was empty (the sample was
    written at its end), where a terminal showed every character; now both get what was
    generated, its line ended, and the command exits as interrupted. --json prints nothing (its
    one object would be cut short)."""
    from jaylyrics import sample

    def generate(params, model_cfg, vocab, prefix, *args, **kwargs):
        yield from "我的\n爱"
        raise KeyboardInterrupt

    monkeypatch.setattr(sample, "generate", generate)
    for stream in ("--no-stream", "--stream"):
        result = run_cli("sample", "--prefix", "分开", stream)
        assert result.exit_code == 130 and result.stdout == "分开我的\n爱\n", result.stdout
        assert result.stderr.strip().splitlines() == ["interrupted"]
    several = run_cli("sample", "--prefix", "分开", "--temperature", "1", "--num-samples", "2")
    assert several.stdout == "--- sample 1 ---\n分开我的\n爱\n" and several.exit_code == 130
    as_json = run_cli("sample", "--prefix", "分开", "--json")
    assert as_json.exit_code == 130 and as_json.stdout == ""


class _Terminal:
    """`jaylyrics` run in a pseudo-terminal of its own (stdin, stdout and stderr), as typed at."""

    def __init__(self, *args, size=(24, 120)):
        import pty
        import signal

        self.pid, self.fd = pty.fork()
        if self.pid == 0:                                     # the child: become jaylyrics
            # as started from a shell at a terminal: a harness that runs the tests in the
            # background (CI does) has SIGINT ignored, which exec would pass on, and then
            # Python never turns Ctrl-C into KeyboardInterrupt
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execv(sys.executable, [sys.executable, "-m", "jaylyrics", *args])
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))   # rows, columns
        self.seen = b""

    def expect(self, text: str, timeout: float = 60.0, must: bool = True) -> "str | None":
        """Everything written up to `text`, which must come within the timeout (else, unless
        `must`, None)."""
        import select
        import time

        want, end = text.encode(), time.monotonic() + timeout
        while want not in self.seen:
            ready, _, _ = select.select([self.fd], [], [], max(end - time.monotonic(), 0))
            chunk = os.read(self.fd, 4096) if ready else b""
            if not chunk and not must:
                return None
            assert chunk, f"{text!r} did not come; got {self.seen.decode(errors='replace')!r}"
            self.seen += chunk
        upto, self.seen = self.seen.split(want, 1)
        return upto.decode(errors="replace").replace("\r", "")

    def ctrl_c_until(self, text: str) -> None:
        """Type Ctrl-C until `text` comes: Python's readline misses a SIGINT that arrives between
        writing its prompt and waiting for input (sooner than anyone types; one test run in ten
        on Python 3.9), so a missed one is typed again, as a user would."""
        for _ in range(10):
            self.type("\x03")
            if self.expect(text, timeout=3.0, must=False) is not None:
                return
        raise AssertionError(f"{text!r} did not come after Ctrl-C, typed 10 times")

    def type(self, keys: "str | bytes") -> None:
        os.write(self.fd, keys if isinstance(keys, bytes) else keys.encode())

    def exit_code(self) -> int:
        while True:                                           # drain, or the child may block
            try:
                if not os.read(self.fd, 4096):
                    break
            except OSError:                                   # the child has closed the terminal
                break
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_sample_interactive_in_a_terminal_edits_lines_and_keeps_history(in_tiny_run):
    """In a terminal, readline reads the prefixes: the up arrow brings back the last one and
    the left arrow moves into the line to insert before its end; Ctrl-D ends (exit 0), and
    Ctrl-C at the prompt ends the session as an interrupted command (exit 130)."""
    greedy = {p: run_cli("sample", "--prefix", p, "--length", "12").stdout.rstrip("\n")
              for p in ("分开", "不分开", "分不开")}
    term = _Terminal("sample", "-i", "--length", "12")
    term.expect("prefix> ")
    term.type("分开\r")
    assert greedy["分开"] in term.expect("prefix> ")
    term.type("\x1b[A\r")                                     # up: 分开 again
    assert greedy["分开"] in term.expect("prefix> ")
    term.type("分开\x1b[D不\r")                               # left: 分|开 -> 分不开
    assert greedy["分不开"] in term.expect("prefix> ")
    term.type("\x04")
    assert term.exit_code() == 0
    term = _Terminal("sample", "-i", "--length", "12")
    term.expect("prefix> ")
    term.ctrl_c_until("interrupted")              # the CLI's one line for Ctrl-C, then 130
    assert term.exit_code() == 130


def test_training_at_a_terminal_shows_each_epochs_batches_on_a_bar(tmp_path, monkeypatch):
    """At a terminal the bar of an epoch shows at once and counts its batches as they are
    (0/34, not 0.00/34.0), in batches a second; -q shows no bar."""
    monkeypatch.chdir(tmp_path)
    args = ("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set", "train.epochs=1")
    term = _Terminal(*args)
    shown = term.expect("epoch   1  train ppl")
    assert term.exit_code() == 0
    assert re.search(r"epoch 1/1: +0%\|.*\| 0/34 \[00:00<\?, \?batch/s\]", shown), shown
    term = _Terminal(*args, "--overwrite", "-q")
    shown = term.expect("best val perplexity")
    assert term.exit_code() == 0
    assert "epoch 1/1" not in shown and "batch/s" not in shown, shown


def test_a_terminal_of_no_size_shows_the_bar_80_columns_wide(tmp_path, monkeypatch):
    """A pseudo-terminal whose size nobody set says it is 0 x 0 (`docker exec -t`, some CI
    runners): tqdm, which follows the size, drew nothing, not even the epoch's name."""
    monkeypatch.chdir(tmp_path)
    term = _Terminal("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set",
                     "train.epochs=1", size=(0, 0))
    shown = term.expect("epoch   1  train ppl")
    assert term.exit_code() == 0
    bar = re.search(r"epoch 1/1: +0%\|.*\| 0/34 \[00:00<\?, \?batch/s\]", shown)
    assert bar and len(bar.group(0)) == 80, shown


def test_sample_from_a_prefix_file(in_tiny_run, tmp_path):
    """--prefix-file: a verse as the prefix, line breaks and all, from a file (UTF-16 too) or
    standard input; the same lyrics as --prefix with that text."""
    verse = "分开\n不分开\n"
    (tmp_path / "verse.txt").write_text(verse, encoding="utf-8")
    (tmp_path / "verse16.txt").write_text(verse, encoding="utf-16")
    (tmp_path / "verse.lrc").write_text("[ar:x]\n[00:01.00]分开\n[00:02.50]不分开\n",
                                        encoding="utf-8")              # timed lyrics: the lines
    expected = run_cli("sample", "--prefix", verse, "--length", "12", "--json")
    assert last_json(expected)["prefix"] == verse
    for args, stdin in ((["--prefix-file", tmp_path / "verse.txt"], None),
                        (["--prefix-file", tmp_path / "verse16.txt"], None),
                        (["--prefix-file", tmp_path / "verse.lrc"], None),
                        (["--prefix-file", "-"], verse.encode())):
        got = run_cli("sample", *args, "--length", "12", "--json", input=stdin)
        assert got.exit_code == 0 and got.stdout == expected.stdout, got.output
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "odd.txt").write_text("分开Ж", encoding="utf-8")
    import tarfile                  # a verse packed (it said "looks binary (NUL byte ...)")
    with zipfile.ZipFile(tmp_path / "verses.zip", "w") as z:
        z.write(tmp_path / "verse.txt", "verse.txt")
    with tarfile.open(tmp_path / "verses.tgz", "w:gz") as tar:
        tar.add(tmp_path / "verse.txt", "verse.txt")
    with zipfile.ZipFile(tmp_path / "verse.docx", "w") as z:   # (it said "a zip archive ...")
        z.writestr("word/document.xml", "<w:t>分开</w:t>")
    for args, message in (
            (["--prefix-file", tmp_path / "verse.docx"], "verse.docx: a Word document, not plain "
                                                         "text; save it as plain text"),
            (["--prefix-file", tmp_path / "verses.zip"], "verses.zip: a zip archive; a prefix is "
                                                         "one text: unpack it and give one of its "
                                                         "files"),
            (["--prefix-file", tmp_path / "verses.tgz"], "verses.tgz: a tar archive; a prefix is "
                                                         "one text"),
            (["--prefix-file", tmp_path / "nope.txt"], f"--prefix-file {tmp_path / 'nope.txt'}: "
                                                       "no such file"),
            (["--prefix-file", "分开的时候"], "--prefix-file 分开的时候: no such file; to start "
                                             "with these words: --prefix 分开的时候"),
            (["--prefix-file", tmp_path], "a directory; expected a text file"),
            (["--prefix-file", tmp_path / "empty.txt"], "empty; give at least one character"),
            (["--prefix-file", tmp_path / "odd.txt"], f"--prefix-file {tmp_path / 'odd.txt'} has "
                                                      "1 character not in the model's "
                                                      "vocabulary: 'Ж'"),
            (["--prefix-file", tmp_path / "verse.txt", "--prefix", "分"], "drop --prefix"),
            (["--prefix-file", tmp_path / "verse.txt", "-i"], "drop --interactive")):
        assert_clean_error(run_cli("sample", *args), message)
    assert "--prefix " not in run_cli("sample", "--prefix-file", tmp_path / "nope.txt").stderr


def test_a_closed_standard_input_is_no_traceback(in_tiny_run):
    """`<&-` (or a daemon without one): --text - and --prefix-file - say standard input is
    closed (click found no stream to read: a traceback), and -i ends as at the end of input.
    A closed stdout (`>&-`) is written to nowhere, as /dev/null (sample: an AttributeError)."""
    def run(*args, fd=0):
        return subprocess.run([sys.executable, "-m", "jaylyrics", *args], capture_output=True,
                              text=True, preexec_fn=lambda: os.close(fd))
    for args in (("sample", "--prefix", "分开", "--length", "5"), ("eval",), ("runs",)):
        quiet = run(*args, fd=1)
        assert quiet.returncode == 0 and quiet.stderr.count("Traceback") == 0, quiet.stderr
    refused = run("sample", "--prefix", "Ж", fd=1)
    assert refused.returncode == 1 and refused.stderr.startswith("Error: --prefix has 1 char")
    for args, option in ((("eval", "--text", "-"), "--text -"),
                         (("sample", "--prefix-file", "-"), "--prefix-file -")):
        result = run(*args)
        assert result.returncode == 1 and result.stderr.splitlines() == [
            f"Error: {option}: standard input is closed; pipe the text into it"], result.stderr
    ended = run("sample", "-i")
    assert ended.returncode == 0 and "Traceback" not in ended.stderr and ended.stdout == ""


def test_a_training_started_with_its_standard_streams_closed_trains(tmp_path):
    """`<&- 2>&-` (as some daemons start a job): train used to exit 1 with nothing to say it
    (no stderr), MXNet's import failing on the closed file descriptor 2, which the first file
    opened could otherwise take over. With stdout open, its summary still arrives there."""
    def closing(*fds):
        return lambda: [os.close(fd) for fd in fds]
    for n, fds in enumerate(((0, 2), (0, 1, 2))):
        result = subprocess.run(
            [sys.executable, "-m", "jaylyrics", "train", "--config", str(TINY), "--set",
             f"data.corpus={ZIP}", "--set", f"train.out_dir=run{n}", "--set", "train.epochs=1"],
            cwd=tmp_path, capture_output=True, text=True, preexec_fn=closing(*fds))
        assert result.returncode == 0, fds
        assert (tmp_path / f"run{n}" / "best.json").is_file()
        if 1 not in fds:
            assert result.stdout.startswith("best val perplexity"), result.stdout


@pytest.mark.parametrize("args, message", [
    (("-i", "--json"), "Error: --interactive writes as you type; --json is for scripts"),
    (("-i", "--next", "0"), "Error: --next 0: expected 1 to"),
])
def test_sample_interactive_mistakes(in_tiny_run, args, message):
    result = run_cli("sample", *args, input="分开\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr


GBK = "分开".encode("gbk")              # what a terminal set to GBK sends for 分开: b7 d6 bf aa
AS_ARGV = GBK.decode("utf-8", "surrogateescape")  # how Python hands such an argument on


def test_text_typed_in_another_encoding_is_named_as_such(in_tiny_run):
    """A prefix or --set value typed in a terminal set to GBK is "not UTF-8 text", naming its
    first byte: not "not in the vocabulary: '\\udcb7'", a YAML error, or (at the prompt, in a
    locale whose standard input is strict) a traceback; the session goes on after it."""
    assert_clean_error(run_cli("sample", "--prefix", AS_ARGV),
                       "--prefix is not UTF-8 text (invalid byte 0xb7)", "GBK")
    assert_clean_error(run_cli("train", "--config", TINY, "--set", f"train.prefixes=[{AS_ARGV}]",
                               "--dry-run"),
                       "--set train.prefixes is not UTF-8 text (invalid byte 0xb7)")
    greedy = run_cli("sample", "--prefix", "分开", "--length", "12").stdout
    result = run_cli("sample", "-i", "--length", "12", input=GBK + b"\n" + "分开\n".encode())
    assert result.exit_code == 0, result.stderr
    assert result.stdout == greedy
    assert "Error: the prefix is not UTF-8 text (invalid byte 0xb7)" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize("io_encoding", [None, "utf-8:strict"])
def test_a_prompt_in_a_terminal_names_bytes_typed_in_another_encoding(in_tiny_run, monkeypatch,
                                                                       io_encoding):
    """At the prompt in a terminal, with standard input as Python sets it for this locale or
    strict (as in en_US.UTF-8): GBK bytes are one error line, then the next prefix is read."""
    if io_encoding:
        monkeypatch.setenv("PYTHONIOENCODING", io_encoding)
    greedy = run_cli("sample", "--prefix", "分开", "--length", "12").stdout.rstrip("\n")
    term = _Terminal("sample", "-i", "--length", "12")
    term.expect("prefix> ")
    term.type(GBK + b"\r")
    assert "the prefix is not UTF-8 text (invalid byte 0xb7)" in term.expect("prefix> ")
    term.type("分开\r")
    assert greedy in term.expect("prefix> ")
    term.type("\x04")
    assert term.exit_code() == 0


def test_sample_without_the_cache_is_the_network_alone(in_tiny_run):
    """--no-cache: the probabilities and the greedy text of MXNet's own forward pass over the
    checkpoint's network; without it the tiny run's cache moves them."""
    import numpy as np

    from jaylyrics import checkpoint, model
    from jaylyrics.backend import mx, nd

    ck = checkpoint.load("runs/tiny", mx.cpu())
    assert ck.config.model.cache_size > 0
    ids = list(ck.vocab.encode("分开"))

    def network(ids):
        state = model.begin_state(ck.config.model, 1, mx.cpu())
        logits = model.forward(ck.params, nd.array(np.array(ids)[None, :]), state,
                               ck.config.model)[0].asnumpy()[-1].astype(np.float64)
        return np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()

    alone = last_json(run_cli("sample", "--prefix", "分开", "--next", "5", "--no-cache", "--json"))
    want = np.argsort(-network(ids), kind="stable")[:5]
    assert alone["cache"] is False
    assert [e["char"] for e in alone["next"]] == [ck.vocab.chars[i] for i in want]
    for e, i in zip(alone["next"], want):
        assert e["p"] == e["p_network"] == pytest.approx(network(ids)[i], rel=1e-4)
    mixed = last_json(run_cli("sample", "--prefix", "分开", "--next", "5", "--json"))
    assert mixed["cache"] is True and any(e["p"] != e["p_network"] for e in mixed["next"])

    greedy = last_json(run_cli("sample", "--prefix", "分开", "--length", "15", "--no-cache",
                               "--json"))["samples"][0]
    for _ in range(15):                                  # MXNet's greedy loop, no cache
        ids.append(int(np.argmax(network(ids))))
    assert greedy == "".join(ck.vocab.chars[i] for i in ids)


def test_eval_and_sample_read_the_network_with_other_cache_settings(in_tiny_run):
    """--set model.cache_*=VALUE: the cache has no trained weights, so its settings can be tried
    on a trained network (the grid-tuned weights, no prior) without training again."""
    base = last_json(run_cli("eval", "--json"))
    off = last_json(run_cli("eval", "--json", "--set", "model.cache_size=0"))
    alone = last_json(run_cli("eval", "--json", "--no-cache"))
    assert off == alone and off["cache"] is False
    nothing = last_json(run_cli("eval", "--json", "--set", "model.cache_weight=0", "--set",
                                "model.cache_match_weight=0"))
    assert nothing["perplexity"] == pytest.approx(base["perplexity_model"], rel=1e-9)
    other = last_json(run_cli("eval", "--json", "--set", "model.cache_prior=0"))
    assert other["perplexity"] != base["perplexity"]
    assert other["perplexity_model"] == base["perplexity_model"]
    # a unigram cache that outweighs the network writes only the prefix's characters
    ours = last_json(run_cli("sample", "--prefix", "分开", "--length", "8", "--json", "--set",
                             "model.cache_weight=0.99", "--set", "model.cache_match_weight=0",
                             "--set", "model.cache_prior=0"))
    assert set(ours["samples"][0]) <= set("分开")
    assert_clean_error(run_cli("eval", "--set", "train.lr=1"),
                       "--set train.lr=1: only model.cache_* keys and data.corpus can change here")
    assert_clean_error(run_cli("sample", "--prefix", "分开", "--set", "data.corpus=x.txt"),
                       "--set data.corpus=x.txt: only model.cache_* keys can change here")
    assert_clean_error(run_cli("sample", "--prefix", "分开", "--set", "model.cache_weight=0.5",
                               "--set", "model.cache_match_weight=0.6"),
                       "model.cache_weight + model.cache_match_weight must be below 1")


def test_eval_without_the_cache_scores_the_network_alone(in_tiny_run, tmp_path):
    import math

    import numpy as np

    from jaylyrics import checkpoint, model
    from jaylyrics.backend import mx, nd

    mixed = last_json(run_cli("eval", "--json"))
    alone = last_json(run_cli("eval", "--json", "--no-cache"))
    assert mixed["cache"] is True and alone["cache"] is False
    assert alone["perplexity"] == pytest.approx(mixed["perplexity_model"], rel=1e-9)
    assert alone["perplexity"] == alone["perplexity_model"] != mixed["perplexity"]
    text = run_cli("eval", "--no-cache").stdout
    assert f"perplexity {alone['perplexity']:.2f}" in text and "the network alone)" in text

    # per line: each line's perplexity under MXNet's forward pass, op by op, no cache
    (tmp_path / "lines.txt").write_text("分开分开分开\n不要说\n", encoding="utf-8")
    lines = last_json(run_cli("eval", "--text", tmp_path / "lines.txt", "--per-line",
                              "--no-cache", "--json"))
    assert lines["cache"] is False
    ck = checkpoint.load("runs/tiny", mx.cpu())
    for row in lines["lines"]:
        ids = ck.vocab.encode("\n" + row["line"] + "\n")
        state = model.begin_state(ck.config.model, 1, mx.cpu())
        logits, _ = model.forward(ck.params, nd.array(ids[None, :-1]), state, ck.config.model)
        nll = model.nll(logits, nd.array(ids[None, 1:])).asnumpy()
        assert row["perplexity"] == pytest.approx(math.exp(float(np.mean(nll))), rel=1e-4)


def test_eval_per_line_sorts_lines_by_perplexity(in_tiny_run, tmp_path):
    text = tmp_path / "lines.txt"
    text.write_text("想要有直升机\n\n想要和你飞到宇宙去\n机升直有要想\n", encoding="utf-8")
    out = last_json(run_cli("eval", "--text", text, "--per-line", "--json"))
    lines = out["lines"]
    assert sorted(r["line"] for r in lines) == sorted(["想要有直升机", "想要和你飞到宇宙去", "机升直有要想"])
    assert [r["perplexity"] for r in lines] == sorted(r["perplexity"] for r in lines)
    # each line is scored from a fresh state: alone in a file, it gets the same number
    single = tmp_path / "one.txt"
    single.write_text("机升直有要想\n", encoding="utf-8")
    alone = last_json(run_cli("eval", "--text", single, "--per-line", "--json"))["lines"][0]
    said = run_cli("eval", "--text", single, "--per-line").stderr            # not "all 1 line"
    assert said.startswith(f"the line, from a fresh state: perplexity {alone['perplexity']:.2f} "
                           "over 7 characters"), said
    assert alone["perplexity"] == pytest.approx(
        next(r["perplexity"] for r in lines if r["line"] == "机升直有要想"), rel=1e-5)
    plain = run_cli("eval", "--text", text, "--per-line")
    assert len(plain.stdout.strip().splitlines()) == 3
    # and all of them together: the mean NLL of their characters, each line scored on its own
    chars = sum(r["chars"] for r in lines)
    pooled = math.exp(sum(math.log(r["perplexity"]) * r["chars"] for r in lines) / chars)
    assert out["chars"] == chars and out["perplexity"] == pytest.approx(pooled, rel=1e-9)
    assert math.log(out["perplexity"]) == pytest.approx(out["nll"], rel=1e-12)
    assert out["perplexity_model"] != out["perplexity"]                # (the run has a cache)
    assert (f"all 3 lines together, each from a fresh state: perplexity {pooled:.2f} over "
            f"{chars} characters; the network alone {out['perplexity_model']:.2f}") in plain.stderr
    no_cache = last_json(run_cli("eval", "--text", text, "--per-line", "--no-cache", "--json"))
    assert no_cache["perplexity"] == pytest.approx(out["perplexity_model"], rel=1e-9)
    alone = run_cli("eval", "--text", text, "--per-line", "--no-cache").stderr   # (as eval says)
    assert alone.rstrip().endswith(f"perplexity {out['perplexity_model']:.2f} over {chars} "
                                   "characters; the network alone"), alone


def test_eval_reads_standard_input_for_text_dash(in_tiny_run, tmp_path):
    """--text - scores what is piped in, as the same text in a file (UTF-8, BOM and CRLF as for
    files); empty or undecodable input is a one-line error naming standard input."""
    lines = "想要有直升机\n想要和你飞到宇宙去\n"
    text = tmp_path / "lines.txt"
    text.write_text(lines, encoding="utf-8")
    for extra in ((), ("--per-line",)):
        from_file = last_json(run_cli("eval", "--text", text, *extra, "--json"))
        piped = run_cli("eval", "--text", "-", *extra, "--json",
                        input=("\ufeff" + lines.replace("\n", "\r\n")).encode("utf-8"))
        from_stdin = last_json(piped)
        assert from_stdin.pop("source") == "standard input" and from_file.pop("source") == str(text)
        assert from_stdin == from_file
    assert "nats over 1 character;" in run_cli("eval", "--text", "-", input="分\n".encode()).stdout
    for data, message in ((b"", "Error: --text -: standard input is empty"),
                          ("分".encode(), "Error: standard input: 1 character; needs at least two "
                           "to score (each is scored given the ones before it: the first has "
                           "none)\n"),
                          (b"ab\xff\xfe", "Error: standard input: not UTF-8 (invalid byte 0xff"),
                          # (a text that starts with \xff\xfe is UTF-16 with its byte-order mark)
                          (b"\xff\xfe", "Error: --text -: standard input is empty")):
        result = run_cli("eval", "--text", "-", input=data)
        assert result.exit_code == 1 and result.stderr.startswith(message), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_skip_unknown_leaves_out_the_lines_with_unseen_characters(in_tiny_run, tmp_path):
    """Without --skip-unknown a line with an unseen character stops eval (and the error names the
    flag); with it that line is left out, said on stderr, and the rest scores exactly as a file
    without it."""
    mixed, clean = tmp_path / "mixed.txt", tmp_path / "clean.txt"
    mixed.write_text("想要有直升机\nЖ 想要 😀\n想要和你飞到宇宙去\n", encoding="utf-8")
    clean.write_text("想要有直升机\n想要和你飞到宇宙去\n", encoding="utf-8")
    stopped = run_cli("eval", "--text", mixed)
    assert stopped.exit_code == 1 and "'Ж' '😀'; --skip-unknown leaves out the lines" in stopped.stderr
    for extra in ([], ["--per-line"]):
        skipped = run_cli("eval", "--text", mixed, "--skip-unknown", "--json", *extra)
        assert skipped.exit_code == 0, skipped.output
        assert "left out 1 line" in skipped.stderr and "'Ж' '😀'" in skipped.stderr
        got, want = last_json(skipped), last_json(run_cli("eval", "--text", clean, "--json", *extra))
        assert got.pop("lines_left_out") == 1
        assert got.pop("source") == str(mixed) and want.pop("source") == str(clean)
        assert got == want
    only_unknown = tmp_path / "unknown.txt"
    only_unknown.write_text("Ж\n", encoding="utf-8")
    result = run_cli("eval", "--text", only_unknown, "--skip-unknown")
    assert result.exit_code == 1 and "every line has characters outside" in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Error: {only_unknown}: every line has characters outside the model's vocabulary: 'Ж'"]


def test_a_run_trained_on_part_of_its_corpus_says_so_of_unknown_characters(in_tiny_run,
                                                                           tmp_path, monkeypatch):
    """A run trained on the first data.max_chars characters of its corpus (configs/tiny.yaml:
    3,000) has not seen the rest's characters: eval --text of that corpus, and a prefix with a
    character it has not seen, say why. A text of its own gets no such word (the skip-unknown
    test), nor does a prefix for a run that read all of its corpus."""
    result = run_cli("eval", "--text", ZIP)
    assert_clean_error(result, "; the run read only its first 3,000 characters "
                       "(data.max_chars); --skip-unknown leaves out the lines that have them")
    assert_clean_error(run_cli("sample", "--prefix", "分开笑"), "not in the model's vocabulary: "
                       "'笑'; the run read at most the first 3,000 characters of its "
                       "corpus (data.max_chars)")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "short.txt").write_text("分开\n不分开\n" * 40, encoding="utf-8")
    whole = run_cli("train", "--config", TINY, "--set", "data.corpus=short.txt", "--set",
                    "data.max_chars=0", "--set", "train.epochs=1", "-q")
    assert whole.exit_code == 0, whole.output
    unknown = run_cli("sample", "--prefix", "分开Ж")
    assert unknown.stderr == "Error: --prefix has 1 character not in the model's vocabulary: 'Ж'\n"
    assert unknown.exit_code == 1


def test_train_says_when_the_cache_raised_the_val_perplexity(tmp_path, monkeypatch):
    """The cache lowers perplexity on lyrics, which repeat themselves; on a text where the three
    characters before do not tell what comes (here the line's first character, four back, does)
    it misleads a network that has learnt the rule: train says so and how to leave it out. A
    network held back by label smoothing and dropout gains from the cache: no note. --json has
    the network's own val perplexity (best_model), or null without a val split."""
    monkeypatch.chdir(tmp_path)
    rng = random.Random(0)
    (tmp_path / "rule.txt").write_text("".join(rng.choice(["xaaab\n", "yaaac\n"])
                                               for _ in range(2000)), encoding="utf-8")
    base = ["train", "--config", TINY, "--set", "data.corpus=rule.txt", "--set",
            "data.max_chars=0", "--set", "train.epochs=1", "--set", "train.prefixes=[x]",
            "--set", "train.sample_every=0", "--overwrite", "--json"]
    plain = ["--set", "train.label_smoothing=0", "--set", "model.dropout=0",
             "--set", "model.weight_drop=0", "--set", "model.embed_drop=0"]
    for extra, hurt in ((plain, True), ([], False)):
        result = run_cli(*base, *extra)
        assert result.exit_code == 0, result.output
        best = json.loads((tmp_path / "runs" / "tiny" / "best.json").read_text())["metrics"]
        assert (best["val_ppl"] > best["val_ppl_model"] * 1.01) is hurt, best
        summary = last_json(result)             # (--json: the network alone as `runs` names it)
        assert (summary["best"], summary["best_model"]) == (best["val_ppl"], best["val_ppl_model"])
        note = (f"note: the cache of the text so far raised the val perplexity here "
                f"({best['val_ppl']:.2f}; the network alone {best['val_ppl_model']:.2f}): sample "
                "and eval --no-cache leave it out (train with --set model.cache_size=0 to choose "
                "the best epoch without it too)\n")
        assert (note in result.stderr) is hurt, result.stderr
    unsplit = run_cli(*base, "--set", "data.val_fraction=0")          # no val split: no number
    assert unsplit.exit_code == 0 and last_json(unsplit)["best_model"] is None
    assert "note: the cache" not in unsplit.stderr


def test_a_model_trained_without_line_breaks(tmp_path, monkeypatch):
    """data.keep_newlines false (the tutorial's setting): the model reads line breaks as spaces,
    --per-line still scores each line of the file on its own (it used to score the whole file as
    one line), sample --lines, which would never see a line end, says so, and a line break in a
    prefix is read as a space too."""
    monkeypatch.chdir(tmp_path)
    trained = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                      "--set", "data.keep_newlines=false", "--set", "train.epochs=1")
    assert trained.exit_code == 0, trained.output
    (tmp_path / "two.txt").write_text("想要有直升机\n想要和你飞到宇宙去\n", encoding="utf-8")
    (tmp_path / "spaced.txt").write_text("想要有直升机 想要和你飞到宇宙去 ", encoding="utf-8")
    rows = last_json(run_cli("eval", "--text", "two.txt", "--per-line", "--json"))["lines"]
    assert sorted(r["line"] for r in rows) == ["想要和你飞到宇宙去", "想要有直升机"]
    whole = [last_json(run_cli("eval", "--text", name, "--json")) for name in ("two.txt", "spaced.txt")]
    assert whole[0]["nll"] == whole[1]["nll"] and whole[0]["chars"] == whole[1]["chars"]
    no_lines = run_cli("sample", "--prefix", "想要", "--lines", "2")
    assert no_lines.exit_code == 1 and "trained without line breaks" in no_lines.stderr
    assert len(run_cli("sample", "--prefix", "想要", "--length", "5").stdout.rstrip("\n")) == 7
    # a prefix with a line break is read as eval reads one: with a space (it was refused)
    written = {p: run_cli("sample", "--prefix", p, "--length", "5").stdout
               for p in ("想要\n有", "想要 有")}
    assert written["想要\n有"] == written["想要 有"] and written["想要 有"].startswith("想要 有")
    ranked = [last_json(run_cli("sample", "--prefix", p, "--next", "3", "--json"))
              for p in ("想要\n有", "想要 有")]
    assert ranked[0] == ranked[1]
    typed = run_cli("sample", "-i", "--length", "5", input="想要\\n有\n")
    assert typed.exit_code == 0 and typed.stdout == written["想要 有"], typed.output
    # without a prefix, it starts after a space, where its lines start
    assert run_cli("sample", "--length", "6").stdout == \
        run_cli("sample", "--prefix", " ", "--length", "6").stdout[1:]


def test_sample_without_a_prefix_starts_a_line_of_its_own(in_tiny_run):
    """Without --prefix (as char-rnn's and nanoGPT's samplers), the model reads a line break
    first, which is not written out: the lyrics are those after --prefix $'\\n', without it, and
    --next shows what starts a line; the same with a temperature, --lines and --json (whose
    prefix is empty). `--prefix ""` stays a mistake (a shell variable left empty, say)."""
    drawn = ("--temperature", "0.9")
    for n, m in ((("--length", "12"),) * 2, ((*drawn, "--num-samples", "3"),) * 2,
                 ((*drawn, "--lines", "2"), (*drawn, "--lines", "3"))):
        after = last_json(run_cli("sample", "--prefix", "\n", *m, "--json"))  # (its empty line)
        alone = run_cli("sample", *n, "--json")
        assert alone.exit_code == 0 and "Error" not in alone.stderr, alone.output
        assert last_json(alone)["prefix"] == "" and after["prefix"] == "\n"
        assert after["samples"] == ["\n" + text for text in last_json(alone)["samples"]], n
    plain = run_cli("sample", "--temperature", "0.9", "--length", "30").stdout
    written = last_json(run_cli("sample", "--temperature", "0.9", "--length", "30", "--json"))
    assert plain == written["samples"][0].rstrip("\n") + "\n" and not plain.startswith("\n")
    ranked = [last_json(run_cli("sample", *p, "--next", "4", "--json"))["next"]
              for p in ((), ("--prefix", "\n"))]
    assert ranked[0] == ranked[1] and len(ranked[0]) == 4
    shown = run_cli("sample", "--next", "4")
    assert "after the start of a line (no --prefix)" in shown.stderr
    assert_clean_error(run_cli("sample", "--prefix", ""), "--prefix is empty: give at least one "
                       "character, e.g. --prefix 分开 (or leave --prefix out: the lyrics then "
                       "start a line of their own)")


def test_sample_without_a_prefix_needs_a_line_break_or_a_space_to_start_from():
    from types import SimpleNamespace

    from jaylyrics import InputError
    from jaylyrics.cli import sample_command
    from jaylyrics.corpus import Vocab

    def start(chars):
        return sample_command._line_start(SimpleNamespace(vocab=Vocab(chars), path="r/best.json"))

    assert start(" \nab") == "\n" and start(" ab") == " "
    with pytest.raises(InputError, match=r"^--prefix is missing, and r/best.json's vocabulary "
                                         r"has neither a line break nor a space to start a line "
                                         r"from: give the text the lyrics start with$"):
        start("ab")


def test_runs_lists_the_latest_run(in_tiny_run):
    result = run_cli("runs", "--json")
    runs = last_json(result)["runs"]
    tiny = next(r for r in runs if r["name"] == "tiny")
    assert tiny["latest"] and tiny["model"] == "gru 1x32" and tiny["epochs"] == 2
    assert tiny["params"] > 0 and tiny["best"] > 1
    best = json.loads((in_tiny_run / "runs" / "tiny" / "best.json").read_text(encoding="utf-8"))
    assert tiny["best_model"] == best["metrics"]["val_ppl_model"] > tiny["best"]   # the cache helps
    table = run_cli("runs")
    row = next(line for line in table.stdout.splitlines() if line.startswith("* tiny"))
    assert f"{tiny['best']:.2f}" in row and f"{tiny['best_model']:.2f}" in row
    assert "best ppl of" not in table.stderr


def test_runs_says_which_best_perplexities_are_on_the_training_text(tiny_run, tmp_path,
                                                                     monkeypatch):
    """A run without a validation split (the tutorial's) is ranked by its training perplexity,
    2.39 beside the default run's 34.00 on held-out lyrics: the table says which."""
    for name in ("tiny", "memorised", "also"):
        shutil.copytree(tiny_run / "runs" / "tiny", tmp_path / "runs" / name)
    for name in ("memorised", "also"):
        sidecar = tmp_path / "runs" / name / "best.json"
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        meta["metrics"].update(val_ppl=None, val_ppl_model=None)
        sidecar.write_text(json.dumps(meta), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    table = run_cli("runs")
    assert table.exit_code == 0, table.output
    assert table.stderr.strip().splitlines()[-1] == (
        "best ppl of also, memorised: on the training text (no validation split), lower than on "
        "lyrics the model has not seen")


def test_runs_v_shows_the_settings_that_set_each_run_apart(in_tiny_run, tmp_path,
                                                            monkeypatch):
    """Runs of one model with other dropout, corpus or epochs looked alike in `runs` (gru 1x256
    each): --json has each run's config keys that are not the defaults, and -v lists them under
    its row, as --set takes them. A run saved before a key existed shows the value it trained
    with (model.weight_drop 0.0, as ADDED_KEYS reads it), not the default."""
    import yaml

    def flat(path):
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return {f"{section}.{key}": value for section, values in raw.items()
                for key, value in values.items()}

    tiny, default = flat(TINY), flat(Path(TINY).with_name("default.yaml"))
    tiny["data.corpus"] = str(ZIP)                           # as the fixture trained it
    want = {key: value for key, value in tiny.items()
            if value != default[key] and key != "train.out_dir"}
    assert "model.hidden_size" in want and "train.lr" in want          # (the test's premise)
    listed = last_json(run_cli("runs", "--json"))["runs"]
    assert next(r for r in listed if r["name"] == "tiny")["settings"] == want

    rows = run_cli("runs", "-v").stdout.splitlines()
    below = rows[next(i for i, row in enumerate(rows) if row.startswith("* tiny")) + 1]
    assert below.startswith("    data.corpus=")
    assert {"model.hidden_size=32", "model.tie_weights=false", "train.prefixes=[分开]",
            "train.lr=0.01"} <= set(below.split())
    assert not any("model.hidden_size=" in row for row in run_cli("runs").stdout.splitlines())

    monkeypatch.chdir(tmp_path)
    shutil.copytree(in_tiny_run / "runs" / "tiny", tmp_path / "runs" / "old")
    for tag in ("best", "last"):                             # saved before weight_drop existed
        sidecar = tmp_path / "runs" / "old" / f"{tag}.json"
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        del meta["config"]["model"]["weight_drop"]
        sidecar.write_text(json.dumps(meta), encoding="utf-8")
    old = last_json(run_cli("runs", "--json"))["runs"][0]["settings"]
    assert old == {**want, "model.weight_drop": 0.0}


def test_runs_lists_a_run_it_cannot_look_into_as_unreadable(tmp_path, monkeypatch, in_tiny_run):
    """Another user's run (mode 700) among one's own: `runs` stopped with "Error:
    runs/theirs/best.json: Permission denied". As root no mode keeps a directory closed, so
    there the file system's answer (EACCES for any path inside it) is played."""
    import errno
    import pathlib

    monkeypatch.chdir(tmp_path)
    for name in ("mine", "theirs"):
        shutil.copytree(in_tiny_run / "runs" / "tiny", tmp_path / "runs" / name)
    theirs = tmp_path / "runs" / "theirs"
    if os.geteuid() == 0:
        def closed(original):
            def check(self, *args, **kwargs):
                if theirs.name in self.parts[:-1]:
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
                return original(self, *args, **kwargs)
            return check
        for method in ("exists", "is_file", "read_text", "read_bytes", "stat"):
            monkeypatch.setattr(pathlib.Path, method, closed(getattr(pathlib.Path, method)))
    else:
        theirs.chmod(0)
    try:
        result = run_cli("runs")
    finally:
        if os.geteuid() != 0:
            theirs.chmod(0o755)
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["theirs"][-1] == "unreadable" and rows["mine"][-2] == "done", result.stdout


def test_runs_elsewhere_points_to_the_projects_runs(tmp_path, monkeypatch, in_tiny_run):
    """Run from another directory, `runs` finds none there and names the project's (as sample
    and eval do for their default checkpoint)."""
    import jaylyrics.cli.runs_command as runs_command
    from jaylyrics import runs

    monkeypatch.setattr(runs_command, "PROJECT_DIR", in_tiny_run)      # where the package lies
    monkeypatch.setattr(runs, "PROJECT_DIR", in_tiny_run)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run_cli("runs")
    assert result.exit_code == 0
    assert re.fullmatch(rf"no runs in runs \(the project's: jaylyrics runs --dir "
                        rf"{re.escape(str(in_tiny_run / 'runs'))}, [1-9]\d* runs?\)\n",
                        result.stdout)
    assert_clean_error(run_cli("plot"), "no run given and no runs/latest here: jaylyrics plot "
                       f"RUN... (the project's: jaylyrics plot {in_tiny_run / 'runs' / 'tiny'})")
    monkeypatch.setattr(runs_command, "PROJECT_DIR", tmp_path / "nowhere")   # none there either
    monkeypatch.setattr(runs, "PROJECT_DIR", tmp_path / "nowhere")
    assert result.stdout != run_cli("runs").stdout == "no runs in runs\n"
    assert_clean_error(run_cli("plot"), "no run given and no runs/latest here: jaylyrics plot "
                                        "RUN...")
    monkeypatch.chdir(in_tiny_run)
    assert "no runs" not in run_cli("runs").stdout
    # a --dir given that is not there is a mistake (it said "no runs in ..." and exit 0)
    assert_clean_error(run_cli("runs", "--dir", "rnus"), "--dir rnus: no such directory; "
                       "expected the directory that holds the runs")
    assert_clean_error(run_cli("runs", "--dir", "runs/tiny/metrics.csv"),
                       "--dir runs/tiny/metrics.csv: not a directory")


def test_resume_with_a_new_learning_rate_uses_it_and_says_so(in_tiny_run, tmp_path, monkeypatch):
    shutil.copytree(in_tiny_run / "runs" / "tiny", tmp_path / "runs" / "tiny")
    monkeypatch.chdir(tmp_path)
    result = run_cli("train", "--resume", "runs/tiny", "--set", "train.epochs=3", "--set",
                     "train.lr=0.05", "--json")
    assert result.exit_code == 0, result.output
    assert "learning rate 0.05 (train.lr), where the run had 0.01" in result.stderr
    rows = (tmp_path / "runs" / "tiny" / "metrics.csv").read_text().splitlines()
    assert rows[-1].split(",")[4] == "0.05"                        # epoch 3 trained at 0.05
    result = run_cli("train", "--resume", "runs/tiny", "--set", "train.optimizer=sgd",
                     "--set", "train.epochs=4")
    assert_clean_error(result, "--set train.optimizer=sgd: runs/tiny trains with adam")


def test_train_dry_run_says_what_would_be_trained_and_writes_nothing(in_tiny_run, tmp_path,
                                                                    monkeypatch):
    """The plan's numbers are those a real run reports when it starts (its `corpus:` line), for
    a new run and a fine-tuned one; nothing is written, and MXNet is not loaded."""
    monkeypatch.chdir(tmp_path)
    base = ["train", "--config", TINY, "--set", f"data.corpus={ZIP}"]
    ft = ["--init-from", in_tiny_run / "runs" / "tiny", "--set", "data.max_chars=5000",
          "--set", "train.out_dir=runs/ft"]
    for extra in ([], ft):
        plan = last_json(run_cli(*base, *extra, "--dry-run", "--json"))
        assert not (tmp_path / plan["run_dir"]).exists()
        started = run_cli(*base, *extra, "--set", "train.epochs=1")
        line = next(x for x in started.stderr.splitlines() if x.startswith("corpus: "))
        assert (f"corpus: {plan['train_chars']:,} train / {plan['val_chars']:,} val characters, "
                f"vocabulary {plan['vocab_size']:,}; model: gru with {plan['params']:,} "
                f"parameters; {plan['batches_per_epoch']:,} batches per epoch; run directory "
                f"{plan['run_dir']}") == line
    text = run_cli(*base, "--set", "train.out_dir=runs/new", "--dry-run")
    assert text.stdout.startswith("dry run: gru 1x32 with 24,581 parameters; corpus 2,745 train")
    assert text.stdout.rstrip().endswith("into runs/new. Nothing was trained or written.")
    many = run_cli(*base, "--set", "train.out_dir=runs/new", "--set", "train.batch_size=1",
                   "--set", "train.num_steps=1", "--dry-run")
    assert "; 2,744 batches per epoch (1 x 1, consecutive); up to 2 epochs into" in many.stdout
    one = run_cli(*base, "--set", "train.out_dir=runs/new", "--set", "train.epochs=1", "--dry-run")
    assert "; up to 1 epoch into runs/new." in one.stdout, one.stdout
    assert_clean_error(run_cli(*base, "--dry-run"), "already holds a trained run")   # checked too
    assert_clean_error(run_cli("train", "--resume", "runs/ft", "--dry-run"), "--dry-run checks a "
                       "new run")
    code = ("import sys; from click.testing import CliRunner; from jaylyrics.cli import main; "
            f"r = CliRunner().invoke(main, {[str(a) for a in base]!r} + ['--set', "
            "'train.out_dir=runs/x', '--dry-run']); print(r.exit_code, 'mxnet' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split() == ["0", "False"]


def test_runs_lines_up_run_names_in_chinese(in_tiny_run, tmp_path):
    """A Chinese character takes two columns of a terminal: the table pads run names by columns,
    not characters, and widens the name column for one longer than 24 columns, so that every
    row's model starts where the header's does."""
    import unicodedata

    root = tmp_path / "runs"
    for name in ("tiny", "晴天", "晴天 dropout 0.2 第二次 longer"):
        shutil.copytree(in_tiny_run / "runs" / "tiny", root / name)
    table = run_cli("runs", "--dir", root).stdout.splitlines()

    def at(line, word):              # the terminal column where `word` starts in `line`
        return sum(2 if unicodedata.east_asian_width(c) == "W" else 1
                   for c in line[:line.index(word)])
    assert len(table) == 4
    assert {at(line, "gru") for line in table[1:]} == {at(table[0], "model")}
    assert {at(line, "done") for line in table[1:]} == {at(table[0], "status")}


def test_runs_widens_any_column_for_a_wider_cell(in_tiny_run, tmp_path):
    """Each column of the table is as wide as its widest cell: a model of 100 million parameters
    (`123,456,789`, 11 characters) or a long model name (`lstm 12x100000`) once pushed the rest
    of its row to the right, out of line with the header."""
    root = tmp_path / "runs"
    for name in ("tiny", "huge"):
        shutil.copytree(in_tiny_run / "runs" / "tiny", root / name)
    for tag in ("best", "last"):
        sidecar = root / "huge" / f"{tag}.json"
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        meta["config"]["model"].update(type="lstm", num_layers=12, hidden_size=100000)
        meta["shapes"] = {"W": [123456789]}
        sidecar.write_text(json.dumps(meta), encoding="utf-8")
    table = run_cli("runs", "--dir", root).stdout.splitlines()
    assert len(table) == 3 and "lstm 12x100000" in table[1] + table[2], table
    assert "123,456,789" in table[1] + table[2], table

    def end(line, word):
        return line.index(word) + len(word)
    params_end = {end(table[0], "params")} | {end(line, line.split()[-7]) for line in table[1:]}
    assert len(params_end) == 1, table
    assert len({line.index("done") for line in table[1:]} | {table[0].index("status")}) == 1


def test_runs_says_where_each_run_stands(in_tiny_run, tmp_path):
    """The status column, from each run's last.json and lock: done (all train.epochs), stopped
    early (train.patience), interrupted (inside an epoch), unfinished (neither: killed after
    an epoch), training (a live process holds the lock)."""
    root = tmp_path / "runs"
    edits = {"done": {}, "early": {"stale": 3, "epoch": 1}, "cut": {"partial": {"batches": 5}},
             "killed": {"epoch": 1}, "busy": {"epoch": 1}}
    for name, change in edits.items():
        shutil.copytree(in_tiny_run / "runs" / "tiny", root / name)
        last = root / name / "last.json"
        meta = json.loads(last.read_text(encoding="utf-8"))
        meta["config"]["train"]["patience"] = 3
        meta["resume"].update(change)
        last.write_text(json.dumps(meta), encoding="utf-8")
    (root / "busy" / ".lock").write_text(str(os.getpid()))      # this process: alive
    runs = {r["name"]: r["status"] for r in last_json(run_cli("runs", "--dir", root, "--json"))["runs"]}
    assert runs == {"done": "done", "early": "stopped early", "cut": "interrupted",
                    "killed": "unfinished", "busy": "training"}
    table = run_cli("runs", "--dir", root).stdout.splitlines()
    assert table[0].split()[-2:] == ["status", "saved"]
    assert any(line.split()[0] == "early" and "stopped early" in line for line in table)
    assert_clean_error(run_cli("train", "--resume", root / "busy"),
                       f"another training (process {os.getpid()}) is writing here; wait for it "
                       f"to end, then resume (if process {os.getpid()} is not a training, remove "
                       f"{root / 'busy' / '.lock'})")


def test_a_training_that_ended_before_its_first_checkpoint_is_listed_and_can_train_again(
        tmp_path, monkeypatch):
    """A run that diverged in epoch 1 has its config.yaml and metrics.csv and no checkpoint:
    `runs` lists it as "no checkpoint" (it listed nothing), `sample` says why it has none and
    how to train it again, and that command trains it (nothing to lose: no --overwrite)."""
    monkeypatch.chdir(tmp_path)
    failed = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set",
                     "train.optimizer=sgd", "--set", "train.lr=1000", "--set", "train.clip=0",
                     "--set", "train.out_dir=runs/hot", "-q")
    assert_clean_error(failed, "in epoch 1", "no checkpoint was written")
    listed = last_json(run_cli("runs", "--json"))["runs"]
    assert [(r["name"], r["status"], r["checkpoint"], r["model"]) for r in listed] == \
        [("hot", "no checkpoint", False, "gru 1x32")]
    assert "no checkpoint" in run_cli("runs").stdout
    assert_clean_error(run_cli("sample", "--checkpoint", "runs/hot", "--prefix", "分开"),
                       "runs/hot: no checkpoint: the training here ended before the end of its "
                       "first epoch", "`jaylyrics train --config runs/hot/config.yaml`")
    config = (tmp_path / "runs" / "hot" / "config.yaml").read_text(encoding="utf-8")
    (tmp_path / "runs" / "hot" / "config.yaml").write_text(
        config.replace("lr: 1000.0", "lr: 0.5"), encoding="utf-8")
    again = run_cli("train", "--config", "runs/hot/config.yaml", "--set", "train.epochs=1")
    assert again.exit_code == 0, again.output
    assert [(r["name"], r["status"]) for r in last_json(run_cli("runs", "--json"))["runs"]] == \
        [("hot", "done")]


@pytest.mark.parametrize("damage", [
    lambda m: m.update(config=None), lambda m: m.update(metrics="high"),
    lambda m: m.update(shapes=[1, 2]), lambda m: m.update(epoch="x"),
    lambda m: m["config"].update(model=[]), lambda m: m.update(resume={"epoch": "2"}),
])
def test_runs_and_train_read_a_damaged_sidecar_without_a_traceback(in_tiny_run, tmp_path, damage):
    """A sidecar edited by hand or damaged still lists (what can be read of it) and still counts
    as a run that a new training must not replace."""
    run = tmp_path / "runs" / "hurt"
    shutil.copytree(in_tiny_run / "runs" / "tiny", run)
    for name in ("best.json", "last.json"):
        meta = json.loads((run / name).read_text(encoding="utf-8"))
        damage(meta)
        (run / name).write_text(json.dumps(meta), encoding="utf-8")
    listed = run_cli("runs", "--dir", tmp_path / "runs")
    assert listed.exit_code == 0 and "Traceback" not in listed.output
    assert any(line.split()[0] == "hurt" for line in listed.stdout.splitlines()[1:])
    assert last_json(run_cli("runs", "--dir", tmp_path / "runs", "--json"))["runs"][0]["name"] == "hurt"
    refused = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                      "--set", f"train.out_dir={run}")
    assert refused.exit_code == 1 and "already holds a trained run" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_runs_lists_a_run_whose_only_sidecar_is_an_empty_object(tmp_path):
    """A last.json emptied to `{}` and no best.json: listed (with what little it says: its
    model as ?, not "? 1x?"), not a KeyError from the table; a new training there is refused."""
    run = tmp_path / "runs" / "hurt"
    run.mkdir(parents=True)
    (run / "last.json").write_text("{}", encoding="utf-8")
    listed = run_cli("runs", "--dir", tmp_path / "runs")
    assert listed.exit_code == 0 and "Traceback" not in listed.output, listed.output
    assert [line.split()[:2] for line in listed.stdout.splitlines()[1:]] == [["hurt", "?"]]
    assert_clean_error(run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                               "--set", f"train.out_dir={run}", "--dry-run"),
                       f"train.out_dir {run} already holds a trained run (0 epochs): continue it")


def test_a_run_in_its_first_epoch_or_unreadable_is_listed_and_not_trained_over(in_tiny_run,
                                                                               tmp_path):
    """A training in its first epoch (its lock and config.yaml, no checkpoint yet) is listed as
    training, first, with its model; a run whose sidecars cannot be read as unreadable. A new
    training into either is refused (also with --dry-run), sample and eval say what the first
    is, and the hint of runs to give names neither."""
    root = tmp_path / "runs"
    shutil.copytree(in_tiny_run / "runs" / "tiny", root / "done")
    busy, broken = root / "busy", root / "broken"
    busy.mkdir()
    shutil.copy(in_tiny_run / "runs" / "tiny" / "config.yaml", busy)
    (busy / ".lock").write_text(str(os.getpid()))                 # this process: alive
    broken.mkdir()
    (broken / "best.json").write_text("{not json", encoding="utf-8")
    listed = last_json(run_cli("runs", "--dir", root, "--json"))["runs"]
    assert [(r["name"], r["status"], r["model"]) for r in listed] == [
        ("busy", "training", "gru 1x32"), ("done", "done", "gru 1x32"),
        ("broken", "unreadable", "?")]
    table = run_cli("runs", "--dir", root).stdout.splitlines()
    assert table[1].split()[:4] == ["busy", "gru", "1x32", "-"], table
    train = ("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--dry-run")
    assert_clean_error(run_cli(*train, "--set", f"train.out_dir={busy}"),
                       f"{busy}: another training (process {os.getpid()}) is writing here")
    assert_clean_error(run_cli(*train, "--set", f"train.out_dir={broken}"),
                       "already holds a trained run whose checkpoint files", "cannot be read",
                       "--overwrite")
    assert_clean_error(run_cli("sample", "--checkpoint", busy, "--prefix", "分"),
                       f"{busy}: no checkpoint yet: a training (process {os.getpid()}) is in its "
                       "first epoch here")
    assert_clean_error(run_cli("eval", "--checkpoint", root),
                       "no checkpoint in this directory", "the runs in it: done (give one")


def test_the_directory_of_runs_is_no_run_directory(in_tiny_run, tmp_path, monkeypatch):
    """train.out_dir runs (where runs/latest is kept, before any run too) or another directory
    whose subdirectories are runs: refused, --overwrite or not; their checkpoints would lie among
    the runs, and runs/latest would point into itself."""
    monkeypatch.chdir(tmp_path)
    train = ("train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--dry-run")
    assert_clean_error(run_cli(*train, "--set", "train.out_dir=runs"),
                       "train.out_dir runs is a directory of runs (the runs' directory, where "
                       "runs/latest is kept); give a run directory of its own, such as runs/mine")
    shutil.copytree(in_tiny_run / "runs" / "tiny", tmp_path / "old" / "tiny")
    for extra in ((), ("--overwrite",)):
        assert_clean_error(run_cli(*train, "--set", "train.out_dir=old/", *extra),
                           "train.out_dir old is a directory of runs (it holds tiny)")
    assert run_cli(*train, "--set", "train.out_dir=old/new").exit_code == 0
    shutil.copytree(in_tiny_run / "runs" / "tiny", tmp_path / "old" / "tiny" / "ft")
    assert_clean_error(run_cli(*train, "--set", "train.out_dir=old/tiny"),   # a run, runs in it
                       "train.out_dir old/tiny already holds a trained run")


def test_a_closed_stdout_ends_quietly(in_tiny_run):
    """`jaylyrics runs | head -1` and the like: stdout closed before the command writes is no
    error message (exit code 1, as Python's own), for every command that writes to stdout."""
    for args in (["runs"], ["sample", "--prefix", "分开", "--no-stream"], ["eval"]):
        proc = subprocess.Popen([sys.executable, "-m", "jaylyrics", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdout.close()                               # nobody reads: the write fails
        err = proc.stderr.read().decode()
        assert proc.wait() == 1 and "Error" not in err and "Traceback" not in err, (args, err)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["train", "--help"], ["runs"],
                                  ["sample", "--prefix", "分开", "--no-stream"]])
def test_a_full_disk_under_stdout_is_one_line(in_tiny_run, args):
    """Output into a full disk: one line naming standard output, exit 1; --help and --version
    (which click writes while it parses the arguments, before any command) were a traceback."""
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "jaylyrics", *args], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: standard output (/dev/full): No space left on device"], result.stderr


def test_a_picture_that_cannot_be_written_names_the_picture_not_a_temporary_file(in_tiny_run,
                                                                                tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "taken.png").mkdir()
    assert_clean_error(run_cli("plot", "runs/tiny", "--out", tmp_path / "taken.png"),
                       f"Error: {tmp_path / 'taken.png'}: Is a directory")
    assert [p.name for p in tmp_path.iterdir()] == ["taken.png"]


def test_plot_of_a_run_that_is_not_there_names_the_runs_and_makes_no_directory(in_tiny_run,
                                                                              tmp_path):
    """`plot tinny` said `runs/tinny: no metrics.csv (is it a run directory?)`, after making
    the directory runs/tinny for the picture; a directory without metrics.csv given with --out
    in a new directory left that directory behind too."""
    pytest.importorskip("matplotlib")
    for given in ("tinny", "runs/tinny"):
        assert_clean_error(run_cli("plot", given),
                           f"Error: {given}: no such run (expected a run directory or the name "
                           "of a run under runs/); did you mean runs/tiny? (the runs in runs/: ")
    assert_clean_error(run_cli("plot", "elsewhere/gone"), "Error: elsewhere/gone: no such run "
                       "(expected a run directory or the name of a run under runs/)")
    assert not (in_tiny_run / "tinny").exists() and not (in_tiny_run / "runs" / "tinny").exists()
    (tmp_path / "notes").mkdir()
    out = tmp_path / "pictures" / "p.png"
    assert_clean_error(run_cli("plot", tmp_path / "notes", "--out", out),
                       f"Error: {tmp_path / 'notes'}: no metrics.csv (is it a run directory?)")
    assert not (tmp_path / "pictures").exists()


def test_plot_writes_a_readable_png(in_tiny_run, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image

    out = tmp_path / "curves.png"
    result = run_cli("plot", "runs/tiny", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(out).shape[:2] == (450, 700)
    assert (in_tiny_run / "runs" / "tiny" / "perplexity.png").exists()      # written by train
    # under the perplexity, the learning rate of each epoch, as metrics.csv has it
    import csv

    from jaylyrics import plot
    with open(in_tiny_run / "runs" / "tiny" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    fig = plot.figure([in_tiny_run / "runs" / "tiny"])
    perplexity, learning_rate = fig.axes
    assert [line.get_label() for line in perplexity.lines] == [
        "tiny train", "tiny val", "tiny val, network alone"]
    (lr_line,) = learning_rate.lines
    assert list(lr_line.get_xdata()) == [int(r["epoch"]) for r in rows]
    assert list(lr_line.get_ydata()) == [float(r["lr"]) for r in rows]
    assert learning_rate.get_ylabel() == "learning rate"
    svg = tmp_path / "curves.SVG"                           # any format matplotlib writes
    assert run_cli("plot", "tiny", "-o", svg).exit_code == 0    # (a run's name will do; -o)
    assert b"<svg" in svg.read_bytes()[:1000]
    for name in ("pic.txt", "pic"):                         # not a picture: said, nothing written
        result = run_cli("plot", "runs/tiny", "--out", tmp_path / name)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"--out {tmp_path / name}: not a picture format matplotlib writes; end the name " \
            "with .png, .pdf, .svg (or ." in result.stderr
        assert not (tmp_path / name).exists() and not (tmp_path / f"{name}.png").exists()
    # one run given twice (as a name, a path or runs/latest) would be drawn twice: refused
    assert_clean_error(run_cli("plot", "runs/tiny", "tiny", "--out", out),
                       "runs/tiny is given twice; give each run once")
    assert_clean_error(run_cli("plot", "runs/tiny", "runs/latest", "--out", out),
                       "runs/tiny and runs/latest are the same run; give each run once")


def test_plot_with_no_writable_home_says_nothing_of_matplotlib(in_tiny_run, tmp_path):
    """A container's user without a home (HOME=/ read-only, or missing): matplotlib, imported
    fresh, cannot make its config directory and said so in two long lines on stderr, on every
    `plot` and at the end of every `train`."""
    pytest.importorskip("matplotlib")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPL", "XDG_"))}
    env["HOME"] = "/proc/no-home"                  # cannot be made, not even by root
    out = tmp_path / "curves.png"
    result = subprocess.run([sys.executable, "-m", "jaylyrics", "plot", "tiny", "--out", str(out)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.strip() == str(out), result.stderr
    assert result.stderr == ""
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_a_deleted_working_directory_is_named(in_tiny_run, tmp_path):
    """The directory the shell is in removed meanwhile (from another terminal): the commands
    that need it said only "No such file or directory", naming nothing."""
    gone = tmp_path / "gone"

    def enter_and_remove():
        gone.mkdir()
        os.chdir(gone)
        os.rmdir(gone)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "jaylyrics", *args], capture_output=True,
                              text=True, preexec_fn=enter_and_remove)
    for args in (("runs",), ("train", "--config", str(TINY), "--dry-run")):
        result = run(*args)
        assert result.returncode == 1 and result.stderr.splitlines() == [
            "Error: the working directory no longer exists (deleted or moved since this shell "
            "entered it): cd to one that does"], (args, result.stderr)
    scored = run("eval", "--checkpoint", str(in_tiny_run / "runs" / "tiny"))   # needs none
    assert scored.returncode == 0 and scored.stdout.startswith("perplexity "), scored.stderr


def test_a_training_where_runs_latest_cannot_be_written_goes_on(tmp_path):
    """Trained from a directory the user cannot write (a project of another user, a read-only
    mount) into a train.out_dir elsewhere: the run stopped after its first epoch, unable to
    point runs/latest at itself ("runs/.latest.tmp123: Permission denied"). Now it trains, and
    says at the start where it is and that runs/latest will not name it. /proc/1 stands for
    such a directory: not writable, not even by root."""
    import pathlib

    here = pathlib.Path("/proc/1")
    if not here.is_dir() or os.access(here, os.W_OK):
        pytest.skip("needs a directory this user cannot write")
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "jaylyrics", "train", "--config", str(TINY), "--set",
         f"data.corpus={ZIP}", "--set", f"train.out_dir={run}"],
        cwd=here, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"note: runs/latest will not name this run (/proc/1 is not writable): give sample and "
        f"eval --checkpoint {run}")
    assert (run / "best.json").is_file()
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 2           # both epochs


def test_runs_made_a_file_is_named_in_one_line(tmp_path, monkeypatch):
    """A file where the runs' directory (or a parent of train.out_dir) should be: one line that
    names it (it was a note that runs/ "is not writable", then `cannot make this directory (Not
    a directory)`); a run elsewhere trains, with the note naming the file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").write_text("")
    base = ["train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--dry-run"]
    assert_clean_error(run_cli(*base), "train.out_dir runs/tiny: cannot make this directory: "
                                       "runs is a file, not a directory")
    (tmp_path / "a").write_text("")
    assert_clean_error(run_cli(*base, "--set", "train.out_dir=a/b/c"),
                       "a is a file, not a directory")
    elsewhere = run_cli(*base, "--set", "train.out_dir=mine")
    assert elsewhere.exit_code == 0, elsewhere.output
    assert elsewhere.stderr.splitlines()[0] == (
        f"note: runs/latest will not name this run ({tmp_path / 'runs'} is a file, not a "
        "directory): give sample and eval --checkpoint mine")


def test_plot_shows_a_run_of_one_epoch_and_whole_epochs(tmp_path):
    """A line through one point is not drawn: a run of one epoch (beside a longer one) shows as
    points; the epoch axis has whole-number ticks (it had 1.25, 1.5, ...)."""
    pytest.importorskip("matplotlib")
    from jaylyrics import plot

    for name, rows in (("one", ["1,50.0,40.0,0.01"]),
                       ("three", ["1,50.0,40.0,0.01", "2,40.0,35.0,0.01", "3,30.0,33.0,0.005"])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.csv").write_text("epoch,train_ppl,val_ppl,lr\n"
                                                     + "\n".join(rows) + "\n")
    fig = plot.figure([tmp_path / "three", tmp_path / "one"])
    perplexity, learning_rate = fig.axes
    markers = {line.get_label(): line.get_marker() for line in perplexity.lines}
    assert markers == {"three train": "None", "three val": "None", "one train": "o",
                       "one val": "o"}
    assert [line.get_marker() for line in learning_rate.lines] == ["None", "o"]
    fig.canvas.draw()
    ticks = [t for t in learning_rate.get_xticks() if 1 <= t <= 3]
    assert ticks and all(t == int(t) for t in ticks), ticks
    # numbers as numbers: 30 and 0.01, not 3 x 10^1 and 10^-2 (matplotlib's mathtext); the
    # learning rate (0.005 to 0.01) between whole decades, labelled there
    shown = [t.get_text() for axis in fig.axes
             for t in axis.get_yticklabels() + axis.get_yticklabels(minor=True) if t.get_text()]
    assert "30" in shown and not any("$" in t for t in shown), shown
    assert [t.get_text() for t in learning_rate.get_yticklabels()
            if learning_rate.get_ylim()[0] <= t.get_position()[1] <= learning_rate.get_ylim()[1]
            ] == ["0.001", "0.01"]


def test_plot_of_many_runs_keeps_its_legend_off_the_curves(tmp_path):
    """Runs compared: the legend (three lines a run) covered the curves from three runs on and
    ran off the picture from five; runs from the eleventh took the first ones' colours. Now a
    line a run (its colour) and one a kind of curve, beside the panels, a colour each."""
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_rgba

    from jaylyrics import plot

    runs = []
    for i in range(14):
        run = tmp_path / f"sweep-{i:02d}-lr0.00{i}"
        run.mkdir()
        (run / "metrics.csv").write_text("epoch,train_ppl,val_ppl,val_ppl_model,lr\n"
                                         f"1,{300 - i},{60 - i},{200 - i},0.01\n"
                                         f"2,{200 - i},{50 - i},{190 - i},0.01\n")
        runs.append(run)
    for count in (1, 5, 14):
        fig = plot.figure(runs[:count])
        perplexity, learning_rate = fig.axes
        assert perplexity.get_legend() is None and len(fig.legends) == 1
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert labels == [r.name for r in runs[:count]] + ["train", "val", "val, network alone"]
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legend = fig.legends[0].get_window_extent(renderer)
        for axes in (perplexity, learning_rate):
            assert not legend.overlaps(axes.get_window_extent(renderer)), count
        assert 0 <= legend.x0 and legend.x1 <= fig.bbox.x1 and 0 <= legend.y0, count
        colours = {to_rgba(line.get_color()) for line in learning_rate.lines}
        assert len(colours) == count


def test_plot_of_a_run_with_a_chinese_name_warns_of_no_glyph(tmp_path, monkeypatch):
    """runs/周杰伦: without a CJK font matplotlib warned once per missing glyph (on stderr, at
    the end of every training into such a run); a CJK font is used where one is installed.
    Where none is, the characters drawn as boxes are returned, and `plot` says which, and how to
    get a font (with only matplotlib's own DejaVu Sans, which has no Chinese)."""
    pytest.importorskip("matplotlib")
    import warnings

    from jaylyrics import plot

    run = tmp_path / "周杰伦"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,train_ppl,val_ppl,lr\n1,50.0,40.0,0.01\n"
                                     "2,40.0,35.0,0.01\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot.write_png([run], tmp_path / "cjk.png")
    assert (tmp_path / "cjk.png").stat().st_size > 0
    assert not [w for w in caught if "Glyph" in str(w.message)], [str(w.message) for w in caught]

    import matplotlib

    monkeypatch.setattr(plot, "CJK_FONTS", [])
    monkeypatch.setitem(matplotlib.rcParams, "font.sans-serif", ["DejaVu Sans"])
    assert plot.write_png([run], tmp_path / "boxes.png") == "周杰伦"
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "metrics.csv").write_text((run / "metrics.csv").read_text())
    assert plot.write_png([tmp_path / "tiny"], tmp_path / "ascii.png") == ""
    result = run_cli("plot", str(run), str(tmp_path / "tiny"), "--out", str(tmp_path / "two.png"))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "note: no font here has 周杰伦 of the run names: they show as boxes; install a font with "
        "Chinese characters (Debian, Ubuntu: apt install fonts-noto-cjk) and plot again"]


@pytest.mark.parametrize("content, message", [
    (b"epoch,train_ppl\nx,y\n", "cannot read it (invalid literal for int() with base 10: 'x')"),
    (b"\xff\xfe", "cannot read it ('utf-8' codec can't decode byte 0xff"),
    (b"a,b\n1,2\n", "cannot read it (no epoch or train_ppl column)"),
    # a row cut short (0.0 for 0.002: no point on a log scale; was a ValueError traceback)
    (b"epoch,train_ppl,val_ppl,val_ppl_model,lr\n1,281.6,52.5,212.9,0.0\n",
     "cannot read it (epoch 1: lr 0, not a positive number)"),
    (b"epoch,train_ppl\n1,nan\n", "cannot read it (epoch 1: train_ppl nan, not a positive number)"),
    (b"", "no epoch recorded yet"),
])
def test_a_damaged_metrics_file(in_tiny_run, tmp_path, monkeypatch, content, message):
    """plot says which file it cannot read (was a ValueError or UnicodeDecodeError traceback);
    a resume keeps the rows it can read and trains on."""
    shutil.copytree(in_tiny_run / "runs" / "tiny", tmp_path / "runs" / "tiny")
    monkeypatch.chdir(tmp_path)
    metrics = tmp_path / "runs" / "tiny" / "metrics.csv"
    good = metrics.read_text().splitlines()
    metrics.write_bytes(content)
    assert_clean_error(run_cli("plot", "runs/tiny", "--out", "x.png"),
                       f"Error: runs/tiny/metrics.csv: {message}")
    metrics.write_bytes(b"\xff\xfe\x00x,y\n" + "\n".join(good).encode() + b"\n")
    result = run_cli("train", "--resume", "runs/tiny", "--set", "train.epochs=3", "-q")
    assert result.exit_code == 0, result.output
    rows = metrics.read_text().splitlines()
    assert rows[0] == good[0] and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]


def test_plot_without_matplotlib_says_how_to_get_it(in_tiny_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run_cli("plot", "runs/tiny", "--out", "x.png")
    assert result.exit_code == 1 and 'pip install "jaylyrics[plot]"' in result.stderr


def test_training_without_matplotlib_saves_the_run_without_curves(tmp_path, monkeypatch):
    """`pip install -e .` has no matplotlib (it is the plot extra): train ends as usual, without
    the picture (README: "drawn at the end (when matplotlib is installed)")."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run_cli("train", "--config", TINY, "--set", f"data.corpus={ZIP}",
                     "--set", "train.epochs=1")
    assert result.exit_code == 0, result.output
    assert "curves:" not in result.stderr and "Traceback" not in result.output
    assert "best val perplexity" in result.stdout
    assert not (tmp_path / "runs" / "tiny" / "perplexity.png").exists()
    assert (tmp_path / "runs" / "tiny" / "best.json").exists()


def test_quiet_and_verbose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["train", "--config", TINY, "--set", f"data.corpus={ZIP}", "--set", "train.epochs=1"]
    quiet = run_cli(*base, "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert "best val perplexity" in quiet.stdout
    verbose = run_cli(*base, "-v", "--set", "train.out_dir=runs/v")
    assert "config:" in verbose.stderr and "hidden_size: 32" in verbose.stderr
    normal = run_cli(*base, "--set", "train.out_dir=runs/n")
    assert "epoch   1" in normal.stderr and "config:" not in normal.stderr


@pytest.mark.parametrize("text,prefix", [
    ("月亮代表我的心\n你問我愛你有多深\n我愛你有幾分\n" * 20, "我愛"),
    ("the night is young and so are we\nwe sing until the morning comes\n" * 20, "we "),
])
def test_training_on_ones_own_lyrics(tmp_path, monkeypatch, text, prefix):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text(text, encoding="utf-8")
    result = run_cli("train", "--config", TINY, "--set", "data.corpus=mine.txt",
                     "--set", "train.out_dir=runs/mine", "--set", f"train.prefixes=[{prefix!r}]",
                     "--set", "train.batch_size=4")
    assert result.exit_code == 0, result.output
    sample = run_cli("sample", "--prefix", prefix, "--length", "30")
    assert sample.exit_code == 0 and sample.stdout.startswith(prefix)
    assert set(sample.stdout.rstrip("\n")) <= set(text)


@pytest.mark.parametrize("configured,kept", [(None, None), ("[分开, Ha]", ("Ha",))])
def test_prefixes_that_do_not_fit_another_corpus_are_replaced_with_a_note(tmp_path, monkeypatch,
                                                                         configured, kept):
    """A config written for Jay Chou's lyrics (tiny.yaml samples from 分开) on an English corpus:
    the prefixes that fit are kept, or else the corpus's own line starts are used, and the run
    says so and records them. Prefixes given with --set are checked instead (test_cli)."""
    monkeypatch.chdir(tmp_path)
    lines = ["Hello darkness my old friend", "Hardly a word", "", "Hello again", "Under the sun"]
    (tmp_path / "en.txt").write_text("\n".join(lines * 40) + "\n", encoding="utf-8")
    config_file = tmp_path / "mine.yaml"
    text = TINY.read_text(encoding="utf-8")
    if configured:
        text = text.replace("prefixes: [分开]", f"prefixes: {configured}")
    config_file.write_text(text.replace("corpus: data/jaychou_lyrics.txt.zip", "corpus: en.txt"),
                           encoding="utf-8")
    result = run_cli("train", "--config", config_file, "--set", "train.epochs=1")
    assert result.exit_code == 0, result.output
    chosen = kept or ("He", "Ha", "Un")
    assert f"note: train.prefixes 分开 do not fit en.txt; sampling from {', '.join(chosen)}" \
        in result.stderr
    import yaml
    saved = yaml.safe_load((tmp_path / "runs" / "tiny" / "config.yaml").read_text(encoding="utf-8"))
    assert tuple(saved["train"]["prefixes"]) == chosen
    assert [line[4:6] for line in result.stderr.splitlines() if line.startswith("  - ")] == list(chosen)


def test_training_on_a_directory_of_songs_says_which_files_it_read(tmp_path, monkeypatch):
    """One song a file: the files are joined in path order, the run says how many it read (-v:
    which), and its vocabulary is that of the joined text."""
    monkeypatch.chdir(tmp_path)
    songs = tmp_path / "songs"
    (songs / "b").mkdir(parents=True)
    (songs / "b" / "2.txt").write_text("我爱你有几分\n" * 30, encoding="utf-8")
    (songs / "a.txt").write_text("月亮代表我的心\n" * 30, encoding="utf-8")
    base = ["train", "--config", TINY, "--set", "data.corpus=songs", "--set", "train.epochs=1",
            "--set", "train.batch_size=4", "--set", "train.prefixes=[月亮]"]
    result = run_cli(*base)
    assert result.exit_code == 0, result.output
    assert f"corpus files: 2 in songs, joined in path order ({songs.name}/a.txt ... " \
        f"{songs.name}/b/2.txt; -v lists them)" in result.stderr
    verbose = run_cli(*base, "-v", "--overwrite").stderr
    assert f"corpus files: 2 in songs, joined in path order:\n  {songs.name}/a.txt\n  " \
        f"{songs.name}/b/2.txt\n" in verbose and "-v lists them" not in verbose
    meta = json.loads((tmp_path / "runs" / "tiny" / "best.json").read_text(encoding="utf-8"))
    assert meta["vocab"] == "".join(sorted(set("月亮代表我的心我爱你有几分\n")))


def test_corpus_files_that_repeat_another_are_said(tmp_path, monkeypatch):
    """A song on two albums (a best-of) is trained on twice, and a copy among the last files is
    held out as if new: a new run says which files repeat which (the first; -v: all), and
    trains on them as they are; the files that differ say nothing."""
    monkeypatch.chdir(tmp_path)
    songs = tmp_path / "songs"
    for album in ("1_first", "2_second", "9_best_of"):
        (songs / album).mkdir(parents=True)
    (songs / "1_first" / "qing.txt").write_text("故事的小黄花\n从出生那年就飘着\n" * 20,
                                                encoding="utf-8")
    (songs / "2_second" / "dao.txt").write_text("月亮代表我的心\n" * 40, encoding="utf-8")
    (songs / "9_best_of" / "dao.txt").write_text("月亮代表我的心 \r\n\n" * 40, encoding="utf-8")
    (songs / "9_best_of" / "qing.lrc").write_text(
        "[ti:晴天]\n" + "".join(f"[00:{2 * i:02d}.00]故事的小黄花\n[00:{2 * i + 1:02d}.00]从出生"
                               "那年就飘着\n" for i in range(20)), encoding="utf-8")
    base = ["train", "--config", TINY, "--set", "data.corpus=songs", "--set", "train.epochs=1",
            "--set", "train.batch_size=4", "--set", "train.prefixes=[月亮]", "--dry-run"]
    result = run_cli(*base)
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "another's text" in line]
    assert notes == ["note: 2 corpus files repeat another's text (songs/9_best_of/dao.txt = "
                     "songs/2_second/dao.txt, ... 1 more; -v lists them): trained on twice, and a "
                     "copy in the validation split (the last files) is scored as lyrics the model "
                     "has learnt; leave the copies out for a fair val perplexity"], result.stderr
    verbose = run_cli(*base, "-v").stderr
    assert "(songs/9_best_of/dao.txt = songs/2_second/dao.txt, songs/9_best_of/qing.lrc = " \
           "songs/1_first/qing.txt)" in verbose
    (songs / "9_best_of" / "dao.txt").write_text("月亮代表我的心\n" * 39, encoding="utf-8")
    (songs / "9_best_of" / "qing.lrc").unlink()
    assert "another's text" not in run_cli(*base).stderr


def test_a_run_from_before_data_lrc_in_txt_resumes_on_the_text_it_was_trained_on(tmp_path,
                                                                                 monkeypatch):
    """An LRC download saved as .txt is read as its lyrics now, and a new run says so (for one
    file, and for one among a directory's); a run trained on it before (time tags and all: a
    sidecar and config.yaml without data.lrc_in_txt) reads it as it did, so it resumes and
    evaluates as before instead of 'the corpus has changed'."""
    import yaml

    from jaylyrics import reading

    monkeypatch.chdir(tmp_path)
    lines = reading.read_text(ZIP).split("\n")[:400]
    (tmp_path / "song.txt").write_text("".join(f"[{i // 60:02d}:{i % 60:02d}.00]{line}\n"
                                               for i, line in enumerate(lines)), encoding="utf-8")
    base = ["train", "--config", TINY, "--set", "data.corpus=song.txt", "--set",
            "train.prefixes=[我]", "--json"]
    new = run_cli(*base, "--set", "train.out_dir=new")
    assert new.exit_code == 0, new.output
    said = "timed like an LRC file ([01:23.45] before most lines): read as one, the lyrics " \
           "without the time tags and the credits (data.lrc_in_txt false reads it as it is)"
    assert f"note: song.txt is {said}" in new.stderr.splitlines()
    (tmp_path / "songs").mkdir()
    (tmp_path / "songs" / "a.txt").write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "songs" / "b.txt").write_text((tmp_path / "song.txt").read_text(encoding="utf-8"),
                                              encoding="utf-8")
    both = run_cli(*base, "--set", "data.corpus=songs", "--set", "train.out_dir=both",
                   "--dry-run")
    assert f"note: 1 of the 2 corpus files is {said}" in both.stderr.splitlines(), both.output
    assert not set("[]:.0123456789") & set(json.loads((tmp_path / "new" / "best.json").read_text(
        encoding="utf-8"))["vocab"])                                # the lyrics alone
    old = run_cli(*base, "--set", "train.out_dir=old", "--set", "data.lrc_in_txt=false")
    assert old.exit_code == 0 and "timed like" not in old.stderr, old.output
    for name in ("best.json", "last.json"):                      # as before the key existed
        meta = json.loads((tmp_path / "old" / name).read_text(encoding="utf-8"))
        assert set("[]:") <= set(meta["vocab"])
        del meta["config"]["data"]["lrc_in_txt"]
        (tmp_path / "old" / name).write_text(json.dumps(meta), encoding="utf-8")
    saved = yaml.safe_load((tmp_path / "old" / "config.yaml").read_text(encoding="utf-8"))
    del saved["data"]["lrc_in_txt"]
    (tmp_path / "old" / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    resumed = run_cli("train", "--resume", "old", "--set", "train.epochs=3", "--json")
    assert resumed.exit_code == 0 and "timed like" not in resumed.stderr, resumed.output
    assert last_json(resumed)["epochs"] == 3
    scored = run_cli("eval", "--checkpoint", "old", "--json")
    assert scored.exit_code == 0, scored.output


def test_characters_that_do_not_show_are_named_with_where_the_first_is(tmp_path, monkeypatch):
    """Lyrics copied from web pages, or files with a byte-order mark joined by `cat`, hold
    zero-width spaces, no-break spaces and BOMs inside the text: they were learnt (and written by
    `sample`) as characters, silently. A new run names each kind, how often, and where the first
    one is; the shipped corpus (spaces and U+3000 only) and a resumed run say nothing."""
    from jaylyrics import reading

    monkeypatch.chdir(tmp_path)
    songs = tmp_path / "songs"
    songs.mkdir()
    (songs / "a.txt").write_text("月亮代表我的心\n故事的小黄花\n" * 30, encoding="utf-8")
    (songs / "b.txt").write_text("月亮\u200b代表\n我的心\xa0故事\n\ufeff小黄花\u200b\n" * 20,
                                 encoding="utf-8")
    found = reading.unseen(reading.read_files(songs))
    assert found == (("\u200b", 40, str(songs / "b.txt"), 1), ("\xa0", 20, str(songs / "b.txt"), 2),
                     ("\ufeff", 20, str(songs / "b.txt"), 3))
    assert reading.unseen(reading.read_files(ZIP)) == ()

    def notes(*more):
        result = run_cli("train", "--config", TINY, "--set", "data.corpus=songs", "--set",
                         "train.batch_size=2", "--set", "train.prefixes=[月亮]", "--set",
                         "train.epochs=1", "--set", "train.out_dir=run", *more)
        assert result.exit_code == 0, result.output
        return [line for line in result.stderr.splitlines() if "do not show" in line]

    assert notes() == [
        f"note: the corpus holds characters that do not show, which the model learns and writes "
        f"as characters of their own: U+200B (zero width space) 40 times, first in "
        f"{Path('songs', 'b.txt')} line 1; U+00A0 (no-break space) 20 times, first in "
        f"{Path('songs', 'b.txt')} line 2; U+FEFF (byte-order mark) 20 times, first in "
        f"{Path('songs', 'b.txt')} line 3; if they are not part of the lyrics, take them out of "
        "the files first: perl -CSD -pi -e 's/[\\x{A0}]/ /g; s/[\\x{200B}\\x{FEFF}]//g' FILE..."]
    resumed = run_cli("train", "--resume", "run", "--set", "train.epochs=2")
    assert resumed.exit_code == 0 and "do not show" not in resumed.stderr, resumed.output
    (songs / "c.txt").write_text("月亮\u200e代表\n" * 5, encoding="utf-8")   # a fourth kind
    assert notes("--set", "train.out_dir=four", "--dry-run")[0].endswith(
        "first in " + str(Path("songs", "b.txt")) + " line 3; 1 more kind; if they are not part of "
        "the lyrics, take them out of the files first: perl -CSD -pi -e 's/[\\x{A0}]/ /g; "
        "s/[\\x{200B}\\x{FEFF}\\x{200E}]//g' FILE...")   # (most frequent first)


@pytest.mark.skipif(not shutil.which("perl"), reason="the note's command is perl's")
def test_the_command_the_note_gives_takes_the_characters_that_do_not_show_out(tmp_path,
                                                                             monkeypatch):
    """For a corpus of one text file the note names it in its command, and the command (run by
    perl itself) leaves the lyrics without them: spaces as spaces, a line separator a line
    break; then the note is gone."""
    monkeypatch.chdir(tmp_path)
    song = tmp_path / "song.txt"
    song.write_text("月亮\u200b代表\u2028我的心\xa0故事\u00ad\n" * 40, encoding="utf-8")

    def notes():
        result = run_cli("train", "--config", TINY, "--set", "data.corpus=song.txt", "--set",
                         "train.batch_size=2", "--set", "train.prefixes=[月亮]", "--dry-run")
        assert result.exit_code == 0, result.output
        return [line for line in result.stderr.splitlines() if "do not show" in line]

    note, = notes()
    command = note.split("take them out of the files first: ")[1]
    assert command.endswith(" song.txt")
    subprocess.run(command, shell=True, check=True)
    assert song.read_text(encoding="utf-8") == "月亮代表\n我的心 故事\n" * 40
    assert notes() == []


def test_a_corpus_of_data_or_markup_is_said_to_be_read_as_plain_text(tmp_path, monkeypatch):
    """A dataset's CSV (also zipped or gzipped, as downloads come), a JSON export or a saved web
    page is read as plain text: a new run says what else the model learns from it; a .txt, a
    resumed run and the files of a directory (only .txt and .lrc are read there) say nothing."""
    import gzip

    monkeypatch.chdir(tmp_path)
    rows = "".join(f'{i},song{i},"月亮代表我的心\n故事的小黄花"\n' for i in range(60))
    (tmp_path / "songs.csv").write_text("id,title,lyrics\n" + rows, encoding="utf-8")
    with zipfile.ZipFile(tmp_path / "songs.zip", "w") as z:
        z.writestr("songs.csv", "id,title,lyrics\n" + rows)
    (tmp_path / "songs.json.gz").write_bytes(gzip.compress(
        ("[" + ",".join('{"lyrics": "月亮代表我的心"}\n' for _ in range(60)) + "]").encode()))
    (tmp_path / "page.html").write_text("<p>月亮代表我的心</p>\n" * 60, encoding="utf-8")
    (tmp_path / "songs.txt").write_text(rows, encoding="utf-8")

    def notes(corpus, *more):
        result = run_cli("train", "--config", TINY, "--set", f"data.corpus={corpus}", "--set",
                         "train.batch_size=2", "--set", "train.prefixes=[月亮]",
                         "--set", "train.out_dir=run", *more)
        assert result.exit_code == 0, result.output
        return [line for line in result.stderr.splitlines() if "read as plain text" in line]

    assert notes("songs.csv", "--dry-run") == [
        "note: songs.csv is a CSV table, read as plain text: the model learns its commas, quotes "
        "and every column as well as the lyrics; for a model of the lyrics alone, save them as a "
        ".txt file first"]
    assert notes("songs.zip", "--dry-run")[0].startswith(
        "note: songs.zip:songs.csv is a CSV table, read as plain text")
    assert notes("songs.json.gz", "--dry-run")[0].startswith(
        "note: songs.json.gz is JSON, read as plain text: the model learns its braces, quotes "
        "and keys as well")
    assert notes("page.html", "--dry-run")[0].startswith(
        "note: page.html is a web page, read as plain text: the model learns its HTML tags")
    assert notes("songs.txt", "--dry-run") == []
    assert len(notes("songs.csv", "--set", "train.epochs=1")) == 1
    resumed = run_cli("train", "--resume", "run", "--set", "train.epochs=2")
    assert resumed.exit_code == 0, resumed.output
    assert "read as plain text" not in resumed.stderr


def test_the_progress_bar_says_how_long_the_remaining_epochs_take_at_most(monkeypatch):
    """From the second epoch on, the bar's title adds the mean time per epoch so far times the
    epochs still to run (this one included); also after a resume, whose elapsed time counts the
    epochs before it."""
    import tqdm

    from jaylyrics import config
    from jaylyrics.cli.train_command import _TrainReporter, _time_left
    from jaylyrics.train import EpochResult

    titles = []

    class Bar:
        def __init__(self, total, desc, **kwargs):
            titles.append(desc)

        def close(self):
            pass

    monkeypatch.setattr(tqdm, "tqdm", Bar)
    reporter = _TrainReporter(config.from_dict({"train": {"epochs": 10}}))
    reporter.epoch_start(1, 5)
    reporter.epoch_end(EpochResult(1, 100.0, None, 0.1, 1000.0, elapsed=30.0))
    reporter.epoch_start(2, 5)                                      # 9 epochs x 30 s
    reporter.epoch_end(EpochResult(2, 90.0, None, 0.1, 1000.0, elapsed=50.0))
    reporter.epoch_start(3, 5)                                      # 8 epochs x 25 s
    resumed = _TrainReporter(config.from_dict({"train": {"epochs": 10}}))
    resumed.epoch_start(9, 5)
    resumed.epoch_end(EpochResult(9, 50.0, None, 0.1, 1000.0, elapsed=4500.0))
    resumed.epoch_start(10, 5)                                      # 1 epoch x 500 s
    assert titles == ["epoch 1/10", "epoch 2/10 (at most 4 min left)",
                      "epoch 3/10 (at most 3 min left)", "epoch 9/10",
                      "epoch 10/10 (at most 8 min left)"]
    assert [_time_left(s) for s in (0.2, 59, 89, 91, 5399, 5400, 36000)] == \
        ["at most 1 s left", "at most 59 s left", "at most 89 s left", "at most 2 min left",
         "at most 90 min left", "at most 1.5 h left", "at most 10.0 h left"]


def test_eval_per_char_lists_each_characters_probability(in_tiny_run, tmp_path):
    """--per-char: each character's probability and the likeliest in its place, as `sample`'s
    own reader (one character at a time, its cache mixed in) gives them step by step; their mean
    -log is eval's NLL (scored through cache.mix_nll), with the cache and without, and for an
    ensemble; the summary line stays what eval prints without --per-char."""
    import numpy as np

    from jaylyrics import checkpoint, sample

    text = "想要有直升机\n想要和你飞到宇宙去\n想要有直升机\n"
    path = tmp_path / "lines.txt"
    path.write_text(text, encoding="utf-8")
    ck = checkpoint.load("runs/tiny")
    for flags, others in (([], ()), (["--no-cache"], ()),
                          (["--checkpoint", "runs/tiny", "--checkpoint", "runs/tiny/last.json"],
                           ((checkpoint.load("runs/tiny/last.json").params, ck.config.model),))):
        model_cfg = ck.config.model if "--no-cache" not in flags else \
            checkpoint.without_cache(ck).config.model
        got = last_json(run_cli("eval", "--text", path, "--per-char", "--json", *flags))
        plain = last_json(run_cli("eval", "--text", path, "--json", *flags))
        rows = got.pop("per_char")
        nll = plain["nll"]
        for key in ("perplexity", "nll", "perplexity_model"):
            assert got.pop(key) == pytest.approx(plain.pop(key), rel=1e-12)
        assert got == plain
        assert "".join(r["char"] for r in rows) == text[1:]
        reader = sample._Reader(ck.params, model_cfg, ck.vocab, text[0], others)
        for r, char in zip(rows, text[1:]):
            mixed, network = reader.next_probs()
            i = ck.vocab.chars.index(char)
            assert r["p"] == pytest.approx(mixed[i], rel=1e-6)
            assert r["p_network"] == pytest.approx(network[i], rel=1e-6)
            assert r["likeliest"] == ck.vocab.chars[int(np.argmax(mixed))]
            assert r["p_likeliest"] == pytest.approx(mixed.max(), rel=1e-6)
            reader.read(i)
        assert np.mean([-np.log(r["p"]) for r in rows]) == pytest.approx(nll, rel=1e-9)
        if "--no-cache" in flags:
            assert all(r["p"] == r["p_network"] for r in rows)
        else:                    # the second 想要有直升机: the cache lifts what came before
            assert any(r["p"] > 2 * r["p_network"] for r in rows[-7:])

    shown = run_cli("eval", "--text", path, "--per-char")
    lines = shown.stdout.strip().splitlines()
    assert len(lines) == len(text) and lines[-1] == run_cli("eval", "--text", path).stdout.strip()
    assert lines[0].split()[:2] == ["1", "'要'"] and lines[5].split()[:2] == ["6", "'\\n'"]
    assert "the likeliest in its place" in shown.stderr
    both = run_cli("eval", "--text", path, "--per-char", "--per-line")
    assert both.exit_code == 1 and both.stderr.startswith("Error: --per-line and --per-char: ")


def test_a_gbk_corpus_with_data_encoding_trains_as_its_utf8_text(tiny_run, tmp_path, monkeypatch):
    """The shipped corpus saved as GB18030 (what 'GBK' files are) and read with data.encoding
    gbk: the same run as tiny_run's on the UTF-8 zip, to the last digit; without the key, the
    error says to set it; eval reads the corpus again the same way."""
    from jaylyrics import reading

    monkeypatch.chdir(tmp_path)
    (tmp_path / "jay.txt").write_bytes(reading.read_text(ZIP).replace("\n", "\r\n").encode("gb18030"))
    base = ["train", "--config", TINY, "--set", "data.corpus=jay.txt", "--json"]
    assert_clean_error(run_cli(*base), "jay.txt: not UTF-8 (invalid byte 0xcf at offset 0); "
                       "convert it first", ", or set data.encoding to gbk (or big5) to read it as "
                       "it is")
    result = run_cli(*base, "--set", "data.encoding=gbk")
    assert result.exit_code == 0, result.output
    assert "note: jay.txt is not UTF-8: read as data.encoding gbk, it begins '想要有直升机' (if " \
           "that is not its text, set data.encoding to the encoding it is saved in)" in result.stderr
    utf8 = json.loads((tiny_run / "runs" / "tiny" / "best.json").read_text(encoding="utf-8"))
    gbk = json.loads((tmp_path / "runs" / "tiny" / "best.json").read_text(encoding="utf-8"))
    assert gbk["metrics"] == utf8["metrics"] and gbk["vocab"] == utf8["vocab"]
    assert gbk["config"]["data"]["encoding"] == "gbk"
    assert last_json(run_cli("eval", "--json"))["perplexity"] == pytest.approx(
        gbk["metrics"]["val_ppl"], rel=1e-5)
    # its --text and --prefix-file are read as its corpus was: GBK files too
    verse = "分开\n我不能再想\n"
    (tmp_path / "verse.txt").write_bytes(verse.encode("gbk"))
    (tmp_path / "verse8.txt").write_text(verse, encoding="utf-8")
    scored = [last_json(run_cli("eval", "--text", name, "--json"))["perplexity"]
              for name in ("verse.txt", "verse8.txt")]
    assert scored[0] == scored[1]
    written = run_cli("sample", "--prefix-file", "verse.txt", "--length", "5")
    assert written.exit_code == 0 and written.stdout.startswith(verse)
    (tmp_path / "odd.txt").write_bytes("分开\n".encode("gbk") + b"\x80\n")   # GBK has no 0x80
    assert_clean_error(run_cli("eval", "--text", "odd.txt"), "odd.txt: neither UTF-8 nor GBK "
                       "(invalid byte 0x80 at offset 5 for gbk); convert it to UTF-8 first, e.g. "
                       "from Big5: iconv -f BIG5 -t UTF-8 (the run reads UTF-8 and, as its "
                       "data.encoding, gbk)")
    # (Big5 text is mostly valid GBK: read as other characters, which the vocabulary refuses)
    (tmp_path / "big5.txt").write_bytes("故事的小黃花\n從出生那年就飄著\n".encode("big5"))
    assert_clean_error(run_cli("eval", "--text", "big5.txt"), "big5.txt has ",
                       "characters not in the model's vocabulary")


def test_a_cache_setting_edited_in_config_yaml_is_named_with_the_set_that_takes_it(tiny_run,
                                                                                  tmp_path):
    """sample and eval read a run as saved (its sidecar's config), not its config.yaml: one who
    edits model.cache_weight there saw nothing change, without a word. Now a note names the edit
    and the --set that reads it; with that --set, or --no-cache, or a config.yaml that does not
    read, there is none."""
    run = tmp_path / "edited"
    shutil.copytree(tiny_run / "runs" / "tiny", run)
    config_yaml = run / "config.yaml"
    saved = config_yaml.read_text(encoding="utf-8")
    assert "  cache_weight: 0.05\n" in saved
    config_yaml.write_text(saved.replace("  cache_weight: 0.05\n", "  cache_weight: 0.2\n"),
                           encoding="utf-8")
    note = (f"note: {config_yaml} was edited since the run was saved (model.cache_weight 0.2, "
            "saved as 0.05); {} reads the run as saved: --set model.cache_weight=0.2 reads it "
            "with the edit")
    sampled = run_cli("sample", "--checkpoint", run, "--prefix", "分开", "--length", "5")
    assert sampled.exit_code == 0 and note.format("sample") in sampled.stderr.splitlines()
    as_saved = last_json(run_cli("eval", "--checkpoint", tiny_run / "runs" / "tiny", "--json"))
    scored = run_cli("eval", "--checkpoint", run, "--json")
    assert note.format("eval") in scored.stderr.splitlines()
    assert last_json(scored)["perplexity"] == as_saved["perplexity"]
    with_edit = run_cli("eval", "--checkpoint", run, "--set", "model.cache_weight=0.2", "--json")
    assert "was edited" not in with_edit.stderr
    assert last_json(with_edit)["perplexity"] != as_saved["perplexity"]
    alone = run_cli("sample", "--checkpoint", run, "--prefix", "分开", "--no-cache")
    assert alone.exit_code == 0 and "was edited" not in alone.stderr
    config_yaml.write_text("model: [\n", encoding="utf-8")                 # does not read
    broken = run_cli("sample", "--checkpoint", run, "--prefix", "分开", "--length", "5")
    assert broken.exit_code == 0 and "was edited" not in broken.stderr, broken.output


def test_the_notes_name_some_of_a_directorys_files_by_count(tmp_path, monkeypatch):
    """The notes on files read in data.encoding and on .txt files read as LRC name one file
    alone by its name, and some of several as 'N of the M corpus files'."""
    monkeypatch.chdir(tmp_path)
    songs = tmp_path / "songs"
    songs.mkdir()
    gbk = "故事的小黄花\n从出生那年就飘着\n".encode("gbk") * 40
    (songs / "a.txt").write_bytes(gbk)
    (songs / "b.txt").write_bytes(gbk)
    (songs / "c.txt").write_text("".join(f"[00:{i:02d}.00]月亮代表我的心\n" for i in range(40)),
                                 encoding="utf-8")
    result = run_cli("train", "--config", TINY, "--set", "data.corpus=songs", "--set",
                     "data.encoding=gbk", "--set", "train.batch_size=2", "--set",
                     "train.prefixes=[故事]", "--dry-run")
    assert result.exit_code == 0, result.output
    notes = result.stderr.splitlines()
    assert (f"note: 2 of the 3 corpus files are not UTF-8: read as data.encoding gbk, "
            f"{Path('songs', 'a.txt')} begins '故事的小黄花' (if that is not its text, set "
            "data.encoding to the encoding it is saved in)") in notes
    assert ("note: 1 of the 3 corpus files is timed like an LRC file ([01:23.45] before most "
            "lines): read as one, the lyrics without the time tags and the credits "
            "(data.lrc_in_txt false reads it as it is)") in notes
