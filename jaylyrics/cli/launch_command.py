"""`jaylyrics launch`: `train` as several data-parallel worker processes on this machine."""

from __future__ import annotations

import sys

import click

from jaylyrics.cli.app import VERBOSITY, main, verbosity
from jaylyrics.launch import MAX_PROCESSES          # (no MXNet there)


@main.command("launch", context_settings={"ignore_unknown_options": True,
                                          "allow_interspersed_args": False})
@click.option("-n", "--workers", default=2, show_default=True,
              help=f"Worker processes (1 to {MAX_PROCESSES}).")
@click.option("-s", "--servers", default=1, show_default=True,
              help=f"Parameter-server processes (1 to {MAX_PROCESSES}).")
@click.option("--timeout", type=float, default=None,
              help="Stop the workers (as Ctrl-C does: rank 0 says how to resume) if they have "
                   "not finished after this many seconds (default: no limit).")
@click.argument("train_args", nargs=-1, type=click.UNPROCESSED)
@verbosity
def launch_command(workers, servers, timeout, train_args):
    """Run `train` as WORKERS data-parallel processes on this machine (dist_sync).

    \b
      jaylyrics launch -n 2 -- train --config configs/default.yaml --set train.batch_size=16
      jaylyrics launch -n 2 --config configs/default.yaml        (the same: train's options)
    """
    from jaylyrics import launch

    given = {"-q", "--quiet", "-v", "--verbose"} & set(train_args)     # (train's own wins)
    args = list(train_args) + ([] if given else {0: ["-q"], 1: [], 2: ["-v"]}[VERBOSITY["level"]])
    code = launch.run(workers, servers, args, timeout, sink=click.get_text_stream("stderr"),
                      out=click.get_text_stream("stdout"))
    if code:
        sys.exit(code)
