"""The command line: `jaylyrics train | sample | eval | runs | plot | launch`.

The only package that prints or exits. Every user mistake arrives as a `JaylyricsError` and
leaves, in `app`, as a one-line message with exit code 1 (click's usage errors exit with 2;
Ctrl-C with 130). One module per command (`completion` adds shell completion of runs and
config keys to their options; `corpus_notes` holds what `train` says about a corpus); heavy
imports (MXNet, the model) happen inside the commands, so `--help` is instant. Results go to
stdout (with --json: one JSON object on the last line); progress and logs go to stderr.
"""

from jaylyrics.cli.app import main
from jaylyrics.cli import train_command, sample_command, eval_command  # each adds its command
from jaylyrics.cli import runs_command, launch_command                 # to `main`

__all__ = ["main", "train_command", "sample_command", "eval_command", "runs_command",
           "launch_command"]
