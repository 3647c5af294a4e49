"""jaylyrics: character-level RNN language models from scratch, trained on Jay Chou's lyrics.

This module holds the version, the error classes and how their messages count things
(`counted`). It imports nothing heavy, so that
`jaylyrics --help` and every configuration error are instant; MXNet is imported only by
`jaylyrics.backend`, and only by the commands that need it.
"""

from pathlib import Path

__version__ = "0.1.0"

# The directory that holds the package: in an editable install, the checkout with data/ and
# runs/, which the errors about a missing corpus or run point at when they are there.
PROJECT_DIR = Path(__file__).resolve().parent.parent


def counted(n: int, noun: str, plural: str = "") -> str:
    """`n` and the noun for it, as a message says it: 1 character, 3 characters, 1,200 lines,
    1 batch, 2 batches (`plural` where adding an s is not the English)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


class JaylyricsError(Exception):
    """A mistake the user can fix. The CLI prints its message on one line and exits with 1."""


class ConfigError(JaylyricsError):
    """A configuration file, key or value that is missing, malformed or out of range."""


class CorpusError(JaylyricsError):
    """A corpus that cannot be read or is unusable for training."""


class CheckpointError(JaylyricsError):
    """A checkpoint that is missing, corrupt, or does not match its sidecar."""


class DeviceError(JaylyricsError):
    """A device that was asked for but is not there."""


class InputError(JaylyricsError):
    """A bad argument to a command: a prefix outside the vocabulary, a negative length, ..."""
