"""The README's Python examples ("From Python") run, and print what it shows."""

import re
import shutil
import subprocess
import sys

from conftest import ROOT


def _examples() -> list[tuple[str, str]]:
    """(code, the output block after it) of each Python example under "From Python"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### From Python"):text.index("## Configuration")]
    return re.findall(r"```python\n(.*?)```\n\n```\n(.*?)```", section, re.S)


def test_the_python_examples_run_as_shown(tiny_run, tmp_path):
    """The first example on a run of its own (the tiny one as runs/default here: its samples and
    numbers differ from the README's default run, its shape of output does not); the second,
    which trains configs/tiny.yaml, prints exactly what the README shows."""
    (sample_code, _), (train_code, train_shown) = _examples()
    shutil.copytree(tiny_run / "runs" / "tiny", tmp_path / "runs" / "default")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    (tmp_path / "data").symlink_to(ROOT / "data")

    def run(code):
        result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()
    lines = run(sample_code)
    assert lines[0].startswith("Checkpoint('runs/default/best.json': gru 1x32, 24,581 "
                               "parameters"), lines
    assert lines[1].startswith("分开") and len(lines) >= 6, lines
    assert all(re.fullmatch(r"'.+' 0\.\d+", line) for line in lines[-4:-1]), lines
    from jaylyrics import checkpoint
    meta = checkpoint.load(tmp_path / "runs" / "default").meta["metrics"]      # what eval says
    assert lines[-1] == (f"val perplexity {meta['val_ppl']:.2f}, the network alone "
                         f"{meta['val_ppl_model']:.2f}"), lines
    assert run(sample_code + "\nimport sys; print('mxnet' in sys.modules)")[-1] == "False"
    assert run(train_code) == train_shown.splitlines()
    assert (tmp_path / "runs" / "notebook" / "best.json").is_file()
