"""jaylyrics: character-level RNN language models from scratch, trained on Jay Chou's lyrics.

This module holds the version, the error classes and what their messages share: how they
count things (`counted`) and how they name a Windows path (`windows_path`); and how wide a text
shows in a terminal (`columns`), for the tables that line up Chinese text. It imports nothing
heavy, so that `jaylyrics --help` and every configuration error are instant; MXNet is imported
only by `jaylyrics.backend`, and only by the commands that need it.
"""

import re
import unicodedata
from pathlib import Path

__version__ = "0.1.0"

# The directory that holds the package: in an editable install, the checkout with data/ and
# runs/, which the errors about a missing corpus or run point at when they are there.
PROJECT_DIR = Path(__file__).resolve().parent.parent


def counted(n: int, noun: str, plural: str = "") -> str:
    """`n` and the noun for it, as a message says it: 1 character, 3 characters, 1,200 lines,
    1 batch, 2 batches (`plural` where adding an s is not the English)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def columns(text: str) -> int:
    """How many terminal columns `text` takes: two for a wide character (Chinese, Japanese,
    Korean, full-width forms, most emoji), none for a combining mark, one for the rest."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF"
               else 1 for c in text)


def padded(text: str, width: int, right: bool = False) -> str:
    """`text` with spaces after it (or before it, `right`) to fill `width` terminal columns
    (`columns`): what f"{text:<24}" does for text that is one column a character."""
    fill = " " * max(0, width - columns(text))
    return fill + text if right else text + fill


def windows_path(path) -> str:
    """For a path that is not there: how Linux under Windows (WSL, where the README sends
    Windows users) names a Windows path (C:\\Users\\me\\x.txt, as Explorer's "Copy as path"
    gives it, quotes and all) as '; a Windows path: under WSL, /mnt/c/Users/me/x.txt'; else ''."""
    found = re.fullmatch(r'"?([A-Za-z]):(.*?)"?', str(path))
    if not found:
        return ""
    drive, rest = found[1].lower(), found[2]
    if rest[:1] not in ("\\", "/"):       # C:Usersmex.txt: the shell took the backslashes
        return (f"; a Windows path without its backslashes (the shell takes them unless the "
                f"path is quoted)? under WSL, drive {drive.upper()}: is /mnt/{drive}/")
    return f"; a Windows path: under WSL, /mnt/{drive}/" + rest.replace("\\", "/").lstrip("/")


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
