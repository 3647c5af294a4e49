"""Writing files so that nothing already written is lost, and so that a failed write (a full
disk, a quota) names its file: Python's own errors for a write do not, and "No space left on
device" alone does not say which disk. No MXNet or NumPy here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def naming(path: Path):
    """An OSError inside, which names no file, names `path`."""
    try:
        yield
    except OSError as e:
        if e.filename:
            raise
        raise OSError(e.errno, e.strerror, str(path)) from None


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees either the old file or the whole new one;
    a write that fails leaves the old one and no temporary file, and its error names `path`
    (not the temporary file, which the user never asked for)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise
    _fsync_dir(path.parent)


def append(path: Path, text: str) -> None:
    """Add `text` (UTF-8, line ends as they are) to the end of `path`."""
    with naming(path), open(path, "a", encoding="utf-8", newline="") as f:
        f.write(text)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
