"""Stopping on a hang-up: SIGHUP (the terminal closed, the ssh connection dropped) asks a
training, or a launch of several, to stop as Ctrl-C and SIGTERM do, so that what is under way is
saved or cleaned up instead of lost or left running; unless it is ignored, as `nohup` makes it, to
keep training. The terminal is gone by then, and writing to it fails (EIO): `leave_terminal`
points standard output and error elsewhere first. No MXNet or NumPy here.
"""

from __future__ import annotations

import os
import signal
import stat


def stop_signals() -> list:
    """The signals that ask to stop: SIGINT, SIGTERM, and SIGHUP where it is not ignored."""
    signals = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signals.append(signal.SIGHUP)
    return signals


def is_hangup(signum: int) -> bool:
    return signum == getattr(signal, "SIGHUP", None)


def leave_terminal() -> None:
    """Point standard output and error at /dev/null where they are a terminal (a character
    device): the progress bar or the last lines would fail the saving. Files and pipes stay."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            try:
                if stat.S_ISCHR(os.fstat(fd).st_mode):
                    os.dup2(devnull, fd)
            except OSError:
                pass
    finally:
        os.close(devnull)
