"""Reading lyrics from disk: from a path (a .txt or .lrc file, also compressed; a .zip or tar
archive; a directory of them) to the text of each file, decoded (UTF-8, UTF-16 with its mark, or
data.encoding's GBK, Big5 or CP1252) with \\n line breaks, an LRC's timed lines as the lyrics
they sing; and what a user should hear about the files read (one holding another's text, a
table or web page read as lyrics, characters that do not show).

Every way a file can be unreadable is a CorpusError that names it and says what to do. No
NumPy or MXNet here: `corpus` builds the vocabulary and the batches from these texts.
"""

from __future__ import annotations

import bz2
import codecs
import fnmatch
import gzip
import hashlib
import lzma
import os
import re
import shlex
import sys
import tarfile
import unicodedata
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from jaylyrics import PROJECT_DIR, ConfigError, CorpusError, windows_path
from jaylyrics.config import SECTIONS, DataConfig, read_yaml
from jaylyrics.runs import has_checkpoint


def read_text(path: str | Path, key: str = "data.corpus", encoding: str = "utf-8",
              lrc_in_txt: bool = True) -> str:
    """The text of a corpus: a UTF-8 .txt file (or one compressed: .gz, .bz2, .xz), a .zip or tar
    archive holding text files, or a directory of .txt files (searched recursively; one song a
    file, say). Several files are joined in the order of their paths, each ending with a line
    break. `key` is the setting that named the corpus, for the error when it is missing; files
    that are not UTF-8 are read in `encoding`; a .txt file of timed lines as an .lrc file with
    `lrc_in_txt` (data.lrc_in_txt)."""
    return join(read_files(path, key, encoding, lrc_in_txt))


# data.encoding -> the codec that reads it: GB18030 is a superset of GBK, itself one of GB2312,
# and Big5-HKSCS of Big5 (Hong Kong's characters added), so each reads all files of the others;
# cp1252 (Windows' Western European, a superset of Latin-1's letters) for lyrics in English,
# French, Spanish ... saved by Windows.
CODECS = {"gbk": "gb18030", "gb2312": "gb18030", "gb18030": "gb18030", "big5": "big5hkscs",
          "cp1252": "cp1252"}
_HIGH = bytes(range(0x80, 0x100))


TARS = (".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz")
TEXT_FILES = (".txt", ".lrc")     # what a directory, zip or tar of lyrics is read for
# (for the errors)
EXPECTED = "a .txt file, a .zip or .tar of them, or a directory of .txt (or .lrc) files"

# Files that hold text but are not text (a .docx is a zip of XML): said so, not read.
DOCUMENTS = {".doc": "a Word document", ".docx": "a Word document", ".pdf": "a PDF",
             ".odt": "an OpenDocument text", ".rtf": "an RTF document",
             ".pages": "a Pages document",
             ".epub": "an EPUB book", ".xls": "a spreadsheet", ".xlsx": "a spreadsheet"}
# The same by content, for one saved or renamed as .txt or .zip: a file's first bytes, and, in a
# zip of a document's parts with no text file, the part that names the document (Office's, the
# mimetype of OpenDocument and EPUB).
MAGIC = {b"%PDF-": "a PDF", b"{\\rtf": "an RTF document",
         b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "a Word, Excel or PowerPoint file of before 2007"}
PARTS = {"word/document.xml": "a Word document", "xl/workbook.xml": "a spreadsheet",
         "ppt/presentation.xml": "a PowerPoint presentation",
         "Index/Document.iwa": "a Pages document"}
MIMETYPES = {"application/epub+zip": "an EPUB book",
             "application/vnd.oasis.opendocument.text": "an OpenDocument text",
             "application/vnd.oasis.opendocument.spreadsheet": "a spreadsheet"}


def read_files(path: str | Path, key: str = "data.corpus", encoding: str = "utf-8",
               lrc_in_txt: bool = True) -> list[tuple[str, str]]:
    """(where, text) of each non-blank file of a corpus (see `read_text`), in path order; `where`
    is the file's path, or zip:member. A file that is not UTF-8 is read in `encoding` (see
    `decode`), a .txt file of timed lines as an .lrc file with `lrc_in_txt`."""
    return [(f.where, f.text) for f in read_each(path, key, encoding, lrc_in_txt)]


def looks_like_words(text: str) -> bool:
    """Whether a name that is no file is more likely the text itself: no directory, no file
    extension, and a space or a character that is not ASCII (`--text "分开的时候"`)."""
    return "/" not in text and not Path(text).suffix and (" " in text or not text.isascii())


class Read(NamedTuple):
    """A file as read: where it is, its text, and how: in `encoding` (data.encoding; it is not
    UTF-8), and as an LRC file's lyrics though not named .lrc (its lines are timed)."""

    where: str
    text: str
    in_encoding: bool = False
    timed: bool = False


def read_each(path: str | Path, key: str, encoding: str, lrc_in_txt: bool = True) -> list[Read]:
    """`read_files`, each file as `Read`, with how it was read."""
    path = Path(path)
    if not path.exists():
        url = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]+):/+(.*)", str(path))   # (Path: https:/...)
        if url:
            url = f"{url[1]}://{url[2]}"
            raise CorpusError(f"{url}: a URL; {key} expects a file here: download it first "
                              f"(curl -LO {url}) and give the file")
        windows = windows_path(path)
        if windows:
            raise CorpusError(f"{path}: no such file{windows}")
        where = "" if path.is_absolute() else f" in {Path.cwd()} (a relative {key} is read " \
                                              "from the working directory)"
        hint = ""
        if not path.is_absolute() and (PROJECT_DIR / path).exists():
            hint = (f" (the project's {PROJECT_DIR / path}: run from {PROJECT_DIR} or give its "
                    "full path)")
        elif key == "--text" and looks_like_words(str(path)):
            hint = (f"; to score these words themselves, give them on standard input: echo "
                    f"{shlex.quote(str(path))} | jaylyrics eval --text -")
        elif path == Path(DataConfig.corpus):          # a pip-installed jaylyrics has no data/
            hint = ("; the Jay Chou corpus comes with jaylyrics' source, not with an installed "
                    "package: run from a checkout of it (pip install -e .), or give lyrics of "
                    "your own")
        raise CorpusError(f"{path}: no such file{where}; {key} expects {EXPECTED}{hint}")
    not_a_document(path)
    _not_one_of_ours(path, key)
    try:
        if path.is_dir():
            files = [(_path_name(f, encoding), f.read_bytes()) for f in _text_files(path, key)]
        elif zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
            files = _read_zip(path, encoding)   # a damaged .zip is said so, not read as text
        elif path.name.lower().endswith(TARS) or _is_tar(path):
            files = _read_tar(path, encoding)
        else:
            files = [(str(path), path.read_bytes())]
    except OSError as e:
        raise CorpusError(f"{e.filename or path}: cannot read: {e.strerror}") from None
    texts, unread = [], []
    for where, data in files:
        try:
            texts.append(_file_text(data, where, encoding,
                                    "data.encoding" if key == "data.corpus" else "", lrc_in_txt))
        except CorpusError as e:
            unread.append(e)             # (all of a directory's or zip's, to say how many)
    if unread:
        more = (f"; so {'is' if len(unread) == 2 else 'are'} {len(unread) - 1:,} more of the "
                f"{len(files):,} files in {path}" if len(unread) > 1 else "")
        raise CorpusError(f"{unread[0]}{more}")
    texts = [read for read in texts if read.text.strip()]
    if not texts:
        what = files[0][0] if len(files) == 1 else f"{path} ({len(files)} files)"
        raise CorpusError(f"{what}: empty or only whitespace, nothing to read")
    return texts


def _not_one_of_ours(path: Path, key: str) -> None:
    """A run directory (whose samples.txt was read as the lyrics) or a config given as a corpus
    or as a text to score: a CorpusError saying where it goes instead."""
    given = shlex.quote(str(path))
    if path.is_dir() and has_checkpoint(path):
        raise CorpusError(f"{path}: a run directory, not lyrics ({key} expects {EXPECTED}); a "
                          f"run goes with --checkpoint, --resume or --init-from {given}")
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        try:
            sections = set(read_yaml(path))
        except ConfigError:                                   # not a config: text to read
            return
        if sections and sections <= set(SECTIONS):
            raise CorpusError(f"{path}: a config, not lyrics ({key} expects {EXPECTED}); a "
                              f"config goes with --config {given}")


def not_a_document(path: Path) -> None:
    """A CorpusError for a document given as lyrics: by its name (DOCUMENTS), or a zip of a
    document's parts with no text file (PARTS, MIMETYPES: a .docx saved or renamed as .txt or
    .zip). A file's first bytes are checked as it is decoded (MAGIC: a PDF named .txt)."""
    if not path.is_file():                  # (missing, a directory: what reads it says so)
        return
    kind = DOCUMENTS.get(path.suffix.lower())
    if not kind and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if not any(map(is_text_name, names)):
                    kind = next((PARTS[n] for n in names if n in PARTS), None) or (
                        "mimetype" in names and MIMETYPES.get(z.read("mimetype")[:60].decode(
                            "ascii", "replace").strip()))
        except (OSError, UnicodeDecodeError, *_ZIP_DAMAGE):  # (damaged: what reads it says
            return                                   # so; Python 3.9 seeks before the start)
        kind = kind and f"{kind} (by its content)"
    if kind:
        raise _document(path, kind)


def _document(where, kind: str) -> CorpusError:
    return CorpusError(f"{where}: {kind}, not plain text; save it as plain text (UTF-8, .txt) "
                       "first")


def join(files: list[tuple[str, str]]) -> str:
    """The texts of `read_files` as one: a single file as it is, several each ending with a line
    break."""
    if len(files) == 1:
        return files[0][1]
    return "".join(text if text.endswith("\n") else text + "\n" for _, text in files)


def _text_files(directory: Path, key: str) -> list[Path]:
    """The .txt and .lrc files under `directory`, sorted by their relative paths. Hidden files
    and directories are left out, and the directories not even walked through (a .git or .venv
    beside the lyrics can hold thousands of files); so are runs (their samples.txt is what a
    model wrote: runs/ given as the corpus, a train.out_dir inside the lyrics). Symbolic links
    to directories are followed (albums linked from elsewhere), each directory once: a link
    back to one already walked, or up to one that holds `directory` (a loop), is not."""
    found, others, other_files, runs = [], set(), [], []
    walked = {directory.resolve(), *directory.resolve().parents}
    for root, dirs, files in os.walk(directory, followlinks=True):
        into = []
        for d in sorted(dirs):                        # (sorted: a directory linked twice is
            path = Path(root, d)                      # walked under the same name each time)
            if d.startswith("."):
                continue
            if has_checkpoint(path):
                runs.append(d)
            elif _first_visit(path, walked):
                into.append(d)
        dirs[:] = into
        for f in map(Path(root).joinpath, files):
            if f.name.startswith(".") or not f.is_file():
                continue
            if is_text_name(f.name):
                found.append((f.relative_to(directory).as_posix(), f))
            else:
                others.add(f.suffix.lower() or f.name)
                other_files.append(f)
    found.sort()
    if not found and runs:
        raise CorpusError(f"{directory}: a directory of runs, not lyrics ({key} expects "
                          f"{EXPECTED}); their samples.txt files are what the models wrote")
    if not found:
        held = f" (it holds {', '.join(sorted(others)[:5])} files)" if others else ""
        raise CorpusError(f"{directory}: a directory without .txt files{held}; {key} expects "
                          f"{EXPECTED}{_how_to_join(directory, other_files)}")
    return [f for _, f in found]


def _how_to_join(directory: Path, files: list[Path]) -> str:
    """For a directory without .txt files whose files are text by other names (lyrics as .md
    files, songs named by their titles alone, source code): how to make one file of them, as
    the end of the error; else "". Documents and tables are left out; the first 50 files are
    looked at."""
    files = files[:50]
    text = [f for f in files if _joinable(f.name) and _looks_like_text(f)]
    if not text:
        return ""
    what, pattern = _join_pattern([f.name for f in files], [f.name for f in text])
    if pattern is None or any(f.parent != directory for f in text):
        return f"; {what} are text: join them into one .txt file and give that"
    glob = "*" + (shlex.quote(pattern[1:]) if pattern != "*" else "")    # (*'.m d' for .m d)
    command = f"cat {shlex.quote(str(directory))}/{glob} > {_beside(directory)}"
    return f"; {what} are text: join them into one ({command}) and give that"


def _how_to_join_archive(path: Path, archive: str, names: list[str], peek, left_out: list[str]
                         ) -> str:
    """`_how_to_join` for a zip or tar archive (`archive`) of its files `names` (which `peek`
    gives the first 8,001 bytes of), which holds no .txt file: a command that writes the files'
    texts one after the other into a .txt file beside it (unzip -p; tar -O, as GNU tar takes it,
    or on macOS and the BSDs as bsdtar does), leaving out `left_out`, the hidden and macOS files
    the reader leaves out too; else ""."""
    names = names[:50]
    text = [n for n in names if _joinable(n) and _starts_like_text(peek(n), f"{path}:{n}")]
    if not text:
        return ""
    what, pattern = _join_pattern(names, text)
    if pattern is None:
        return f"; {what} are text: unpack it, join them into one .txt file and give that"
    skipped = [n for n in left_out if fnmatch.fnmatchcase(n, pattern)]
    given, quoted = shlex.quote(str(path)), shlex.quote(pattern)
    if archive == "zip":                                   # (unzip's * matches a / too)
        skip = [shlex.quote(x) for x in ("__MACOSX/*", ".*")
                if any(fnmatch.fnmatchcase(n, x) for n in skipped)]
        command = f"unzip -p {given} {quoted}" + (f" -x {' '.join(skip)}" if skip else "")
    elif sys.platform.startswith(("darwin", "freebsd", "openbsd", "netbsd")):
        # bsdtar, their tar: no --wildcards (names are patterns), options before the names
        skip = " --exclude '.*' --exclude '*/.*' --exclude __MACOSX" if skipped else ""
        command = f"tar -xOf {given}{skip} {quoted}"
    else:       # GNU tar (an --exclude matches a name's leading components; * matches a /)
        command = f"tar -xOf {given} --wildcards {quoted}"
        command += " --exclude='.[!/]*' --exclude=__MACOSX" if skipped else ""
    return f"; {what} are text: join them into one ({command} > {_beside(path)}) and give that"


def _joinable(name: str) -> bool:
    """Whether a file by this name may be lyrics saved by another name: no table, web page or
    document."""
    return not markup(name) and PurePosixPath(name).suffix.lower() not in DOCUMENTS


def _join_pattern(names: list[str], text: list[str]) -> tuple[str, str | None]:
    """(what to call them, the glob that takes them) for the files `text` among `names`: "its
    .md files" and *.md when they share a suffix and are all the files with it (and the suffix
    has no character a glob reads otherwise: .[1]); "its files" and * when they are all the
    files; else no glob."""
    suffixes = {PurePosixPath(n).suffix for n in text}
    suffix = suffixes.pop() if len(suffixes) == 1 else ""
    what = f"its {suffix} files" if suffix else "its files"
    if suffix and not any(c in suffix for c in "*?[]\\") \
            and all(n in text for n in names if PurePosixPath(n).suffix == suffix):
        return what, f"*{suffix}"                  # (the glob takes these, and only these)
    return what, "*" if len(text) == len(names) else None


def _beside(path: Path) -> str:
    """The .txt file beside a directory or archive, named after it (songs.tar.gz: songs.txt),
    and never it (songs.txt, a directory: songs.txt.txt); shell-quoted, relative if `path` is."""
    real = path.resolve()
    name = real.name
    if path.is_file():
        suffix = next((s for s in TARS + (".zip",) if name.lower().endswith(s)), "")
        name = name[:len(name) - len(suffix)] or name
    if not name.lower().endswith(".txt") or real.parent / name == real:
        name += ".txt"
    joined = real.parent / name
    return shlex.quote(str(joined if path.is_absolute() else Path(os.path.relpath(joined))))


def _looks_like_text(path: Path) -> bool:
    """`_starts_like_text` of a file's first bytes."""
    try:
        with open(path, "rb") as f:
            return _starts_like_text(f.read(8001), str(path))
    except OSError:
        return False


def _starts_like_text(start: bytes, where: str) -> bool:
    """Whether the reader would read a file's first 8,000 bytes (of `start`, its first 8,001) as
    text (`decode`, with GBK for what is not UTF-8), a character cut off at their end aside, and
    they are not blank; with no NUL byte (git's measure), so not UTF-16 either, which `cat`
    would not join."""
    if b"\0" in start[:8000]:
        return False
    cuts = range(4) if len(start) > 8000 else range(1)        # (8,001: the file goes on)
    for cut in cuts:
        try:
            return bool(decode(start[:min(len(start), 8000) - cut], where, "gbk").strip())
        except CorpusError:
            pass
    return False


def _first_visit(path: Path, walked: set) -> bool:
    """Whether the directory `path` leads to (through links) is not in `walked`; it is now."""
    real = path.resolve()
    if real in walked:
        return False
    walked.add(real)
    return True


# What zipfile raises for a damaged zip (zlib: a member's data; NotImplementedError: its header)
# or an encrypted one (RuntimeError).
_ZIP_DAMAGE = (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError)


def _read_zip(path: Path, encoding: str = "utf-8") -> list[tuple[str, bytes]]:
    """(path:member, bytes) of the zip's .txt and .lrc files in name order, or of its only
    file."""
    try:
        with zipfile.ZipFile(path) as z:
            members, left_out = {}, []
            for i in z.infolist():
                if not i.filename or i.is_dir():      # (a damaged name can be empty)
                    continue
                if i.filename.startswith(("__MACOSX/", ".")):
                    left_out.append(i.filename)
                else:
                    members[i.filename] = _member_name(i, encoding)
            chosen = _chosen(path, members, "zip", lambda n: z.open(n).read(8001), left_out)
            return [(f"{path}:{members[n]}", z.read(n)) for n in chosen]
    except _ZIP_DAMAGE as e:
        raise CorpusError(f"{path}: cannot read this zip file ({e}); expected an intact zip "
                          "without a password") from None
    except UnicodeDecodeError:        # a header's name marked UTF-8 that is not: damaged
        raise CorpusError(f"{path}: cannot read this zip file (a file name in it is marked "
                          "UTF-8 and is not: the zip is damaged, or was made by a tool that "
                          "marks names wrongly); expected an intact zip") from None


def _chosen(path: Path, shown: dict[str, str], archive: str, peek, left_out: list[str]
            ) -> list[str]:
    """The members of an archive to read, from {name: name to show} of its files: its .txt and
    .lrc files in name order, or its only file; a CorpusError naming what it holds otherwise
    (and how to join them, `_how_to_join_archive`, with `peek` and `left_out`)."""
    texts = sorted(n for n in shown if is_text_name(n))
    if not texts and len(shown) != 1:
        names = list(shown.values())                     # (the first few of hundreds, say)
        found = (", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                 if names else "no files")
        raise CorpusError(f"{path}: expected .txt files (or a single file) in the {archive}, "
                          f"found {found}"
                          f"{_how_to_join_archive(path, archive, list(shown), peek, left_out)}")
    return texts or list(shown)


def _is_tar(path: Path) -> bool:
    """Whether a regular file (a pipe would be read by the test) is a tar archive, compressed or
    not; a file cut short is not (tarfile.is_tarfile raises EOFError on two bytes of gzip)."""
    try:
        return path.is_file() and tarfile.is_tarfile(path)
    except (EOFError, zlib.error, lzma.LZMAError, ValueError):
        return False


def archive_kind(path: Path) -> str:
    """'a zip archive' or 'a tar archive' for a file that is one, by its content; else ''. (Where
    one text is wanted, as a prefix: a corpus reads them as the directory they were made from.)"""
    if path.is_file() and zipfile.is_zipfile(path):
        return "a zip archive"
    return "a tar archive" if _is_tar(path) else ""


def _read_tar(path: Path, encoding: str = "utf-8") -> list[tuple[str, bytes]]:
    """(path:member, bytes) of a tar archive's .txt and .lrc files in name order, or of its only
    file, as for a zip (`_read_zip`); hidden files and directories left out, as in a directory
    (among them the ._ files macOS's tar adds beside each file)."""
    try:
        with tarfile.open(path) as tar:
            members, left_out = {}, []
            for m in tar.getmembers():               # (a name given twice: the last, as tar -x)
                name = m.name.removeprefix("./")
                if not m.isfile():
                    continue
                if any(p.startswith(".") or p == "__MACOSX" for p in name.split("/")):
                    left_out.append(name)
                else:
                    members[name] = m
            shown = {n: _path_name(Path(n), encoding) for n in members}
            chosen = _chosen(path, shown, "tar archive",
                             lambda n: tar.extractfile(members[n]).read(8001), left_out)
            wanted = set(chosen)
            # read in the archive's order: a compressed archive read in name order is unpacked
            # from its start again for each step back (2,000 songs in a .tgz: 54 s, not 0.7 s)
            data = {n: tar.extractfile(members[n]).read() for n in members if n in wanted}
            return [(f"{path}:{shown[n]}", data[n]) for n in chosen]
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as e:
        raise CorpusError(f"{path}: cannot read this tar archive ({_tar_reason(e)}); expected "
                          "an intact one") from None


def _tar_reason(e: Exception) -> str:
    """What tarfile says went wrong, on one line: opening a damaged archive it tries every
    compression in turn and lists them all, one line each; the plain tar's says it."""
    reason = str(e)
    if "\n" not in reason:
        return reason
    plain = re.search(r"^- method tar: \w+\((.*)\)$", reason, re.MULTILINE)
    return plain.group(1).strip("'\"") if plain else " ".join(reason.split())


# A single compressed file, by its first bytes (bzip2's with its first block's): read as the
# file it holds. Archives Python cannot read are named, to be unpacked first (else: "binary").
COMPRESSED = {"gzip": (re.compile(b"\x1f\x8b"), gzip.decompress),
              "bzip2": (re.compile(b"BZh[1-9]1AY&SY"), bz2.decompress),
              "xz": (re.compile(b"\xfd7zXZ\x00"), lzma.decompress)}
_UNPACKED = "the directory of its .txt files"
ARCHIVES = {"a 7z archive": (re.compile(b"7z\xbc\xaf\x27\x1c"), "7z x", _UNPACKED),
            "a RAR archive": (re.compile(b"Rar!\x1a\x07"), "unrar x", _UNPACKED),
            "a Zstandard file": (re.compile(re.escape(b"\x28\xb5\x2f\xfd")), "zstd -d",
                                 "the file it holds")}


def _uncompressed(where: str, data: bytes) -> bytes:
    """A file's bytes, decompressed if it is a gzip, bzip2 or xz file (lyrics.txt.gz); a
    CorpusError naming `where` for an archive that only other programs unpack (.7z, .rar, .zst)."""
    for kind, (magic, decompress) in COMPRESSED.items():
        if magic.match(data):
            try:
                return decompress(data)
            except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as e:
                raise CorpusError(f"{where}: cannot read this {kind} file ({e}); expected an "
                                  "intact one") from None
    for what, (magic, unpack, give) in ARCHIVES.items():
        if magic.match(data):
            raise CorpusError(f"{where}: {what}; unpack it first ({unpack} {shlex.quote(where)}) "
                              f"and give {give}")
    return data


def _member_name(info: zipfile.ZipInfo, encoding: str) -> str:
    """A zip member's name as its maker wrote it, to show. Without the zip's UTF-8 flag, Python
    reads a name's bytes as CP437, which is right only for ASCII: macOS writes UTF-8 without the
    flag, Chinese Windows GBK; so UTF-8 is tried, then data.encoding's codec. (The members are
    still taken in the order of Python's names, so that a corpus keeps its order and split.)"""
    if info.flag_bits & 0x800:
        return info.filename
    return _name(info.filename.encode("cp437"), encoding) or info.filename


def _path_name(path: Path, encoding: str) -> str:
    """A file's path to show: the parts of it that are not UTF-8 (GBK names, unpacked from a
    Chinese Windows zip), which Python holds as surrogates ('\\udcc7\\udce7'), in
    data.encoding's codec where it reads them."""
    return os.path.join(*(_name(os.fsencode(part), encoding) or part for part in path.parts))


def _name(raw: bytes, encoding: str) -> str | None:
    """A file name's bytes as UTF-8, else in data.encoding's codec; None if neither reads them."""
    for codec in ("utf-8", CODECS.get(encoding)):
        try:
            return raw.decode(codec) if codec else None
        except UnicodeDecodeError:
            pass
    return None


_TIME_TAG = re.compile(r"\[(\d+):(\d+(?:[.:]\d+)?)\]\s*")     # [01:23.45], [01:23:45], [01:23]
_WORD_TIME = re.compile(r"<\d+:\d+(?:[.:]\d+)?>")             # enhanced LRC: <01:23.45>word
_ID_TAG = re.compile(r"\[[a-zA-Z#]+:[^\]]*\]")                  # [ar:周杰伦], [ti:...], [offset:..]
# The credits lyric sites put among the timed lines ([00:00.00] 作词 : 方文山, 曲：周杰伦)
_CREDIT = re.compile(r"(作词|作曲|词曲|填词|词|曲|编曲|制作人|制作|监制|出品|发行|演唱|原唱|"
                     r"和声|和音|配唱|混音|录音|母带|吉他|贝斯|鼓|键盘|弦乐|人声|OP|SP|"
                     r"(lyrics|music|composed|written|arranged|produced)( by)?)\s*[:：].*",
                     re.IGNORECASE)


def from_lrc(text: str) -> str:
    """The lyrics of an LRC file (a music player's timed lyrics, `[01:23.45]一句歌词`): each line
    once for every time it is sung (a chorus tagged [00:40.00][01:50.00] twice), in the order of
    the times, without the tags, the word timings or the ID lines ([ar:...], [ti:...]), and
    without what lyric sites add as timed lines: the credits (`作词 : 方文山`, `曲：周杰伦`) and
    the title line `晴天 - 周杰伦` of the file's [ti:] and [ar:]. Lines without a time stay where
    they were, and empty ones (the music between) are left out."""
    sung, at, ids = [], -1.0, {}
    for i, line in enumerate(text.split("\n")):
        times, line = [], line.strip()
        while (tag := _TIME_TAG.match(line)):
            times.append(int(tag[1]) * 60 + float(tag[2].replace(":", ".", 1)))
            line = line[tag.end():]
        line = _WORD_TIME.sub("", line).strip()
        at = max(times, default=at)
        if not times and _ID_TAG.fullmatch(line):
            key, _, value = line[1:-1].partition(":")
            ids[key.lower()] = value.strip()
        elif line and not _CREDIT.fullmatch(line):
            sung += [(t, i, line) for t in times or [at]]
    title = f"{ids.get('ti')} - {ids.get('ar')}" if "ti" in ids and "ar" in ids else None
    return "".join(line + "\n" for _, _, line in sorted(sung) if line != title)


def file_text(data: bytes, where: str, encoding: str = "utf-8", setting: str = "",
              lrc_in_txt: bool = True) -> str:
    """A file's bytes as the lyrics it holds: decompressed (a gzip, bzip2 or xz file), `decode`d,
    and for an .lrc file (`where` names it: song.lrc, song.lrc.gz), or another whose lines are
    mostly timed (an LRC saved as .txt) with `lrc_in_txt`, its lines, `from_lrc`."""
    return _file_text(data, where, encoding, setting, lrc_in_txt).text


def _file_text(data: bytes, where: str, encoding: str, setting: str,
               lrc_in_txt: bool = True) -> Read:
    """`file_text`, with how it was read (in `encoding`: see `_decode`)."""
    text, in_encoding = _decode(_uncompressed(where, data), where, encoding, setting)
    named_lrc = _inner_name(where).endswith(".lrc")
    timed = not named_lrc and lrc_in_txt and _timed(text)
    return Read(where, from_lrc(text) if named_lrc or timed else text, in_encoding, timed)


def _timed(text: str) -> bool:
    """Whether a text is an LRC file's, whatever its name: three or more of its lines, and at
    least half of those not blank, begin with a time tag ([01:23.45])."""
    if "[" not in text:
        return False
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    timed = sum(1 for line in lines if _TIME_TAG.match(line))
    return timed >= 3 and 2 * timed >= len(lines)


def is_text_name(name: str) -> bool:
    """Whether a file of a directory, zip or tar of lyrics is read for them, by its name: a .txt
    or .lrc file, also compressed (song.txt.gz)."""
    return _inner_name(name).endswith(TEXT_FILES)


def is_corpus_name(name: str) -> bool:
    """Whether a file's name says it is a corpus: a text file, a .zip or a tar archive."""
    return is_text_name(name) or name.lower().endswith((".zip", *TARS))


def _inner_name(where: str) -> str:
    """A file's name in lower case without the ending of its compression: song.lrc.gz is an
    .lrc file."""
    return re.sub(r"\.(gz|bz2|xz)$", "", where.lower())


def decode(data: bytes, where: str, encoding: str = "utf-8", setting: str = "") -> str:
    """UTF-8 bytes -> text without a byte-order mark and with \\n line breaks (from Windows'
    \\r\\n and old Macs' \\r too); `where` names them in the error if they are not UTF-8 text.
    UTF-16 with its byte-order mark (what Windows Notepad saves as "Unicode") is read too, and
    bytes that are not UTF-8 in `encoding` (a data.encoding) when it is not utf-8: valid UTF-8
    is not read in it, since UTF-8 Chinese is also valid GBK, read as other characters. `setting`
    is the key that chooses `encoding`, which the error about bytes not UTF-8 suggests."""
    return _decode(data, where, encoding, setting)[0]


def _decode(data: bytes, where: str, encoding: str, setting: str) -> tuple[str, bool]:
    """`decode`'s text, and whether it was read in `encoding` (being neither UTF-8 nor UTF-16)."""
    read_as = False
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as e:
            raise CorpusError(f"{where}: starts as UTF-16 but is not ({e.reason}); expected UTF-8 "
                              "text") from None
    kind = next((kind for magic, kind in MAGIC.items() if data.startswith(magic)), None)
    if kind:
        raise _document(where, f"{kind} (by its content)")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CorpusError(f"{where}: looks binary (NUL byte at offset {nul}); expected UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data":           # UTF-8, cut inside its last character
            raise CorpusError(f"{where}: ends in the middle of a character (its last "
                              f"{len(data) - e.start} bytes begin one): the file was cut short, as "
                              "head -c cuts; cut it by lines (head -n)") from None
        mixed = _mixed(data)
        if mixed:
            utf8, bad, byte = mixed
            each = f" with {setting} set to theirs" if setting else ""
            raise CorpusError(f"{where}: line {bad:,} is not UTF-8 (invalid byte 0x{byte:02x}) "
                              f"though line {utf8:,} is: joined from files saved in different "
                              "encodings? Convert those lines to UTF-8 (from GBK: iconv -f GBK -t "
                              f"UTF-8), or give the files as a directory{each}") from None
        if encoding in CODECS:
            text, read_as = _decode_as(data, where, encoding, setting), True
        else:
            # Chinese in GBK or Big5 is two bytes over 0x7f a character; a text in a Latin
            # alphabet has a few such bytes (accents, Windows' curly quotes) among its letters
            western = len(data) - len(data.translate(None, _HIGH)) < len(data) / 5
            codec, name, iconv = (("cp1252", "Windows' Western European", "CP1252") if western
                                  else ("gbk (or big5)", "GBK", "GBK"))
            read_as = f", or set {setting} to {codec} to read it as it is" if setting else ""
            also = "" if western else " (from Big5: -f BIG5)"
            raise CorpusError(f"{where}: not UTF-8 (invalid byte 0x{data[e.start]:02x} at offset "
                              f"{e.start}); convert it first, e.g. from {name}: iconv -f {iconv} "
                              f"-t UTF-8{also}{read_as}") from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n"), read_as


def _mixed(data: bytes) -> tuple[int, int, int] | None:
    """(a line that is UTF-8 text other than ASCII, a line that is not UTF-8, its first invalid
    byte) where bytes that are not UTF-8 hold both: a file joined from UTF-8 and GBK ones (`cat
    *.txt`), which would be read as neither; else None. A line counts as UTF-8 text with eight
    bytes more than characters (four Chinese ones): a short GBK line can be valid UTF-8 by chance
    (one of the 5,820 lines of the corpus saved as GBK is, by four bytes)."""
    utf8 = bad = byte = 0
    for number, line in enumerate(data.split(b"\n"), 1):
        try:
            wide = len(line) - len(line.decode("utf-8"))       # 2 a Chinese character
        except UnicodeDecodeError as e:
            bad, byte = bad or number, byte or line[e.start]
        else:
            utf8 = utf8 or (number if wide >= 8 else 0)
        if utf8 and bad:
            return utf8, bad, byte
    return None


def _decode_as(data: bytes, where: str, encoding: str, setting: str) -> str:
    """Bytes that are not UTF-8, in `encoding` (a data.encoding other than utf-8); `setting`
    chooses it, or "" where it is a run's (eval --text, sample --prefix-file)."""
    try:
        return data.decode(CODECS[encoding])
    except UnicodeDecodeError as e:
        fix = (f"set {setting} to the one it is saved in (utf-8, gbk, big5, cp1252)" if setting
               else "convert it to UTF-8 first, e.g. from Big5: iconv -f BIG5 -t UTF-8 (the run "
               f"reads UTF-8 and, as its data.encoding, {encoding})")
        raise CorpusError(f"{where}: neither UTF-8 nor {encoding.upper()} (invalid byte "
                          f"0x{data[e.start]:02x} at offset {e.start} for {encoding}); "
                          f"{fix}") from None


# Files read as plain text that hold data or markup besides the lyrics (a dataset's CSV, a
# JSON export, a saved web page), by the end of their names: what they are, what else the model
# learns from them.
_JSON = ("JSON", "its braces, quotes and keys")
_PAGE = ("a web page", "its HTML tags and scripts")
MARKUP = {".csv": ("a CSV table", "its commas, quotes and every column"),
          ".tsv": ("a TSV table", "its tabs and every column"), ".json": _JSON, ".jsonl": _JSON,
          ".xml": ("XML", "its tags"), ".html": _PAGE, ".htm": _PAGE}


def markup(where: str) -> tuple[str, str, str] | tuple[()]:
    """(where, what it is, what else is learnt: MARKUP's) for a file named as data or markup
    (also compressed: songs.csv.gz), else ()."""
    name = _inner_name(where)
    return next(((where, *what) for suffix, what in MARKUP.items() if name.endswith(suffix)), ())


def unseen(files: list[tuple[str, str]]) -> tuple[tuple[str, int, str, int], ...]:
    """(character, how many times, the first file with it, its line there) for each character of
    `files` (where, text) that does not show as itself, most frequent first: format characters
    (zero-width spaces and joiners, byte-order marks that `cat` leaves inside a text, direction
    marks, soft hyphens), control characters but the line break and the tab, and spaces but ' '
    and U+3000 (Chinese text's own; a no-break space, from web pages, looks like a space and is
    another character). Lyrics copied from the web carry them; the model learns each as a
    character of its own, and writes them."""
    chars = set().union(*(set(text) for _, text in files))
    odd = [c for c in chars if _unseen(c)]
    found = []
    for c in odd:
        where, text = next((where, text) for where, text in files if c in text)
        line = text.count("\n", 0, text.index(c)) + 1
        found.append((c, sum(other.count(c) for _, other in files), where, line))
    return tuple(sorted(found, key=lambda f: (-f[1], f[0])))


def _unseen(c: str) -> bool:
    kind = unicodedata.category(c)
    return (kind in ("Cf", "Zl", "Zp") or (kind == "Cc" and c not in "\n\t")
            or (kind == "Zs" and c not in " \u3000"))


def unseen_name(c: str) -> str:
    """How a note names a character that does not show: U+200B (zero width space)."""
    name = "byte-order mark" if c == "\ufeff" else unicodedata.name(c, "control character")
    return f"U+{ord(c):04X} ({name.lower()})"


def repeated_files(files: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """(a file, the first file with its text) for each of `files` (where, text) whose text an
    earlier one already holds: a song on two albums (a best-of), a download saved twice. Texts
    are compared line by line without blank lines and the spaces at either end of a line."""
    first: dict[bytes, str] = {}
    repeats = []
    for where, text in files:
        lines = "\n".join(line.strip() for line in text.splitlines() if line.strip())
        key = hashlib.sha256(lines.encode("utf-8")).digest()
        if key in first:
            repeats.append((where, first[key]))
        else:
            first[key] = where
    return tuple(repeats)
