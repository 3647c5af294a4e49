"""`jaylyrics runs` and `jaylyrics plot`: what the saved runs hold, as a table and as curves."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from jaylyrics import PROJECT_DIR, JaylyricsError, columns, counted, padded
from jaylyrics.cli.app import VERBOSITY, echo_json, log, main, verbosity
from jaylyrics.cli.completion import runs_or_files


@main.command("runs")
@click.option("--dir", "runs_dir", type=click.Path(path_type=Path), default=None,
              help="Where the runs are (default: runs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@verbosity
def runs_command(runs_dir, as_json):
    """List the trained runs: model, size, best perplexity, epochs, status, date (-v: and the
    config keys each one set to other values than the defaults)."""
    from jaylyrics import InputError, runs as runs_mod

    if runs_dir is not None and not runs_dir.is_dir():     # (runs/ itself: none trained yet)
        raise InputError(f"--dir {runs_dir}: " + ("not a directory" if runs_dir.exists() else
                                                  "no such directory") + "; expected the "
                         "directory that holds the runs")
    runs_dir = runs_dir or Path("runs")
    runs = runs_mod.list_runs(runs_dir)
    if as_json:
        echo_json({"runs": runs})
        return
    if not runs:
        project = PROJECT_DIR / "runs"
        elsewhere = runs_mod.list_runs(project) if project.resolve() != runs_dir.resolve() else []
        click.echo(f"no runs in {runs_dir}" + (f" (the project's: jaylyrics runs --dir "
                                               f"{shlex.quote(str(project))}, "
                                               f"{counted(len(elsewhere), 'run')})"
                                               if elsewhere else ""))
        return
    rows = []
    for r in runs:
        best = f"{r['best']:.2f}" if r["best"] is not None else "-"
        alone = f"{r['best_model']:.2f}" if r.get("best_model") is not None else "-"
        params = f"{r['params']:,}" if r["params"] else "-"      # (none saved yet, or unreadable)
        rows.append(["*" if r["latest"] else " ", r["name"], r["model"], params, best, alone,
                     str(r["best_epoch"] or "-"), str(r["epochs"]), r["status"], r["saved"]])
    lines = _table(_HEADER, rows)
    click.echo(lines[0])
    for r, line in zip(runs, lines[1:]):
        click.echo(line + (f"  (fine-tuned from {r['init_from']})" if r.get("init_from") else ""))
        if VERBOSITY["level"] >= 2 and r["settings"]:
            click.echo("    " + " ".join(f"{key}={_shown(value)}"
                                         for key, value in r["settings"].items()))
    if any(r["latest"] for r in runs):
        log("* runs/latest (what sample and eval use without --checkpoint)")
    on_train = [r["name"] for r in runs if r["best"] is not None and r["metric"] == "train"]
    if on_train:               # (a model scores far lower on the text it learnt than on new text)
        log(f"best ppl of {', '.join(on_train)}: on the training text (no validation split), "
            "lower than on lyrics the model has not seen")


# The columns of `runs`: heading, at least this wide, aligned left (<) or right (>), and the
# spaces before it. A column widens for a wider cell (a Chinese name: two columns a character).
_HEADER = [("", 1, "<", ""), ("run", 24, "<", " "), ("model", 14, "<", " "),
           ("params", 10, ">", " "), ("best ppl", 9, ">", " "), ("network", 8, ">", " "),
           ("at", 4, ">", " "), ("epochs", 6, ">", " "), ("status", 13, "<", "  "),
           ("saved", 0, "<", "  ")]


def _table(header, rows: list[list[str]]) -> list[str]:
    """The heading line and one line per row, every column as wide as its widest cell."""
    widths = [max(least, columns(title), *(columns(row[i]) for row in rows))
              for i, (title, least, _, _) in enumerate(header)]
    return [
        "".join(gap + padded(cell, width, align == ">")
                for cell, width, (_, _, align, gap) in zip(cells, widths, header)).rstrip()
        for cells in [[title for title, *_ in header], *rows]]


def _shown(value) -> str:
    """A config value as --set takes it: a list as [a, b], a flag as true or false
    (`config.shown`), a text with a space quoted."""
    from jaylyrics import config

    return shlex.quote(value) if isinstance(value, str) else config.shown(value)


@main.command("plot")
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path),
                shell_complete=runs_or_files)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="The PNG to write (default: RUN/perplexity.png for one run, "
                   "perplexity.png for several).")
@verbosity
def plot_command(runs, out):
    """Draw train and val perplexity per epoch of one or more runs (directories, or names under
    runs/; default: runs/latest)."""
    from jaylyrics import plot, runs as runs_mod

    if not runs:
        latest = runs_mod.latest_run()
        if latest is None:
            project = runs_mod.project_latest()
            hint = f" (the project's: jaylyrics plot {project})" if project else ""
            raise JaylyricsError("no run given and no runs/latest here: jaylyrics plot "
                                 f"RUN...{hint}")
        runs = (latest,)
    runs = [runs_mod.by_name(Path(r)) for r in runs]       # `default` for runs/default too
    for run in runs:
        if not run.exists():
            raise JaylyricsError(f"{run}: no such run (expected a run directory or the name of a "
                                 f"run under {runs_mod.LATEST.parent}/)"
                                 f"{runs_mod.missing_run_hint(run)}")
    seen = {}
    for run in runs:
        first = seen.setdefault(run.resolve(), run)
        if first is not run:
            raise JaylyricsError((f"{run} is given twice" if run == first else
                                  f"{first} and {run} are the same run") + "; give each run once")
    out = out or (runs[0] / "perplexity.png" if len(runs) == 1 else Path("perplexity.png"))
    boxes = plot.write_png(runs, out)
    click.echo(str(out))
    if boxes:
        log(plot.boxes_note(boxes))
