"""reading.py: files, directories, archives, compression, encodings and LRC files read as lyrics,
and the errors for what cannot be read."""

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from jaylyrics import CorpusError, corpus, reading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZIP = os.path.join(ROOT, "data", "jaychou_lyrics.txt.zip")


def test_the_shipped_corpus_reads_straight_from_the_zip():
    text = reading.read_text(ZIP)
    assert len(text) == 63282
    assert len(set(text)) == 2583
    assert text.startswith("想要有直升机\n")


def test_plain_text_crlf_and_bom(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_bytes("\ufeffhello\r\nworld\r\n".encode("utf-8"))
    assert reading.read_text(path) == "hello\nworld\n"
    path.write_bytes("old\rmac\r".encode("utf-8"))      # was one line holding '\r' characters
    assert reading.read_text(path) == "old\nmac\n"
    path.write_bytes("分开\n不分开".encode("utf-8")[:-1])   # cut by bytes: it said "not UTF-8"
    with pytest.raises(CorpusError, match=r"mine\.txt: ends in the middle of a character \(its "
                                          r"last 2 bytes begin one\): the file was cut short, as "
                                          r"head -c cuts; cut it by lines \(head -n\)$"):
        reading.read_text(path)
    for utf16 in ("utf-16-le", "utf-16-be"):           # Notepad's "Unicode": was "looks binary"
        bom = "\ufeff分开\r\n不分开\r\n".encode(utf16)
        path.write_bytes(bom)
        assert reading.read_text(path) == "分开\n不分开\n"
    path.write_bytes(bom + b"\x00")                     # an odd byte out: not UTF-16 after all
    with pytest.raises(CorpusError, match="starts as UTF-16 but is not .*expected UTF-8 text"):
        reading.read_text(path)


@pytest.mark.parametrize("content,message", [
    (b"", "empty or only whitespace"),
    (b"  \n\t\n", "empty or only whitespace"),
    (b"abc\xff\xfedef", r"not UTF-8 \(invalid byte 0xff at offset 3\)"),
    (b"\x89PNG\x00\x00", "looks binary"),
])
def test_bad_text_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        reading.read_text(path)


@pytest.mark.parametrize("name, kind", [("song.docx", "a Word document"), ("song.PDF", "a PDF"),
                                        ("book.epub", "an EPUB book")])
def test_a_document_is_said_to_be_one(tmp_path, name, kind):
    """A Word file is a zip of XML ("expected .txt files in the zip, found [Content_Types].xml"),
    an EPUB a zip of one readable member, a PDF "not UTF-8": each is named for what it is."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype" if name.endswith("epub") else "[Content_Types].xml", "x\ny\n")
    with pytest.raises(CorpusError, match=rf"{name}: {kind}, not plain text; save it as plain "
                                          r"text \(UTF-8, \.txt\) first$"):
        reading.read_text(path)


def _zip(path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


_WORD = {"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:t>晴天</w:t>", "_rels/.rels": ""}


@pytest.mark.parametrize("name, members, kind", [
    ("song.txt", _WORD, "a Word document"), ("song.zip", _WORD, "a Word document"),
    ("table.txt", {"xl/workbook.xml": "<x/>", "xl/sheet1.xml": "<x/>"}, "a spreadsheet"),
    ("slides.zip", {"ppt/presentation.xml": "<x/>"}, "a PowerPoint presentation"),
    ("song.zip", {"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": "<x/>"},
     "an OpenDocument text"),
    ("book.zip", {"mimetype": "application/epub+zip", "OEBPS/ch1.xhtml": "<p>晴天</p>"},
     "an EPUB book"),
    ("song.txt", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "a PDF"),
    ("song.txt", b"{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}}\\f0 \\u26228?\n\\par\n}\n",
     "an RTF document"),
    ("song.txt", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
     "a Word, Excel or PowerPoint file of before 2007"),
])
def test_a_document_saved_or_renamed_as_text_or_zip_is_said_to_be_one(tmp_path, name, members,
                                                                      kind):
    """A Word file saved as song.txt was "expected .txt files (or a single file) in the zip,
    found word/document.xml, ...; its files are text: unpack it, join them", a PDF "looks binary
    (NUL byte ...)", an RTF file was read as lyrics: each is named for what it is, by its content,
    for the corpus, --text and --prefix-file alike."""
    path = tmp_path / name
    if isinstance(members, dict):
        _zip(path, members)
        also = reading.not_a_document                  # (what --prefix-file checks first)
    else:
        path.write_bytes(members)
        also = lambda path: reading.file_text(path.read_bytes(), str(path))  # noqa: E731
    message = rf"{name}: {kind} \(by its content\), not plain text; save it as plain text"
    for read in (reading.read_text, also):
        with pytest.raises(CorpusError, match=message):
            read(path)


def test_lyrics_beside_a_document_part_are_read_and_a_pdf_inside_a_zip_is_named(tmp_path):
    """A zip with text files is lyrics whatever else it holds (a part name alone is no Word
    document); a member named .txt that is a PDF is named as the zip's member."""
    lyrics = _zip(tmp_path / "songs.zip", {**_WORD, "晴天.txt": "故事的小黄花\n"})
    assert reading.read_text(lyrics) == "故事的小黄花\n"
    odd = _zip(tmp_path / "odd.zip", {"mimetype": "application/x-lyrics", "a.txt": "晴天\n"})
    assert reading.read_text(odd) == "晴天\n"
    pdf = _zip(tmp_path / "pdfs.zip", {"晴天.txt": b"%PDF-1.7\n"})
    with pytest.raises(CorpusError, match=r"pdfs\.zip:晴天\.txt: a PDF \(by its content\)"):
        reading.read_text(pdf)


def test_a_run_or_a_config_given_as_the_corpus_says_where_it_goes(tmp_path, monkeypatch):
    """--set data.corpus=runs/default read its samples.txt as the lyrics ("the training text (951
    characters) is too short for one batch"), data.corpus=configs/default.yaml its YAML: each
    is named for what it is, with the option it goes with. A directory of lyrics leaves out a
    run inside it (a train.out_dir there); one of runs only is named. A YAML file that is no
    config is text like any other."""
    from jaylyrics.config import DataConfig

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "mine"
    run.mkdir(parents=True)
    (run / "samples.txt").write_text("=== epoch 5: 分开 ===\n分开\n", encoding="utf-8")
    (run / "best.json").write_text("{}", encoding="utf-8")
    with pytest.raises(CorpusError) as e:
        corpus.load(DataConfig(corpus="runs/mine", val_fraction=0.0))
    assert str(e.value) == ("runs/mine: a run directory, not lyrics (data.corpus expects a .txt "
                            "file, a .zip or .tar of them, or a directory of .txt (or .lrc) "
                            "files); a run goes "
                            "with --checkpoint, --resume or --init-from runs/mine")
    with pytest.raises(CorpusError) as e:                      # the runs, all of them
        corpus.load(DataConfig(corpus="runs", val_fraction=0.0))
    assert str(e.value) == ("runs: a directory of runs, not lyrics (data.corpus expects a .txt "
                            "file, a .zip or .tar of them, or a directory of .txt (or .lrc) "
                            "files); their samples.txt files are what the models wrote")
    (tmp_path / "runs" / "song.txt").write_text("不分开\n", encoding="utf-8")  # lyrics beside
    assert reading.read_text("runs") == "不分开\n"                    # a run: the run left out
    (tmp_path / "lyrics" / "x").mkdir(parents=True)           # a run named as a folder of
    (tmp_path / "lyrics" / "x" / "last.json").write_text("{}", encoding="utf-8")  # songs deeper
    (tmp_path / "lyrics" / "b" / "x").mkdir(parents=True)
    (tmp_path / "lyrics" / "b" / "x" / "song.txt").write_text("分开\n", encoding="utf-8")
    assert reading.read_files("lyrics") == [(str(Path("lyrics/b/x/song.txt")), "分开\n")]
    (tmp_path / "my config.yaml").write_text("model:\n  hidden_size: 64\ntrain:\n  lr: 0.01\n",
                                             encoding="utf-8")
    with pytest.raises(CorpusError) as e:
        reading.read_text("my config.yaml", key="--text")
    assert str(e.value) == ("my config.yaml: a config, not lyrics (--text expects a .txt file, a "
                            ".zip or .tar of them, or a directory of .txt (or .lrc) files); a "
                            "config goes with "
                            "--config 'my config.yaml'")
    (tmp_path / "song.yaml").write_text("title: 晴天\nverse: 故事的小黄花\n", encoding="utf-8")
    assert reading.read_text("song.yaml") == "title: 晴天\nverse: 故事的小黄花\n"
    (tmp_path / "broken.yaml").write_text("a: [\n", encoding="utf-8")
    assert reading.read_text("broken.yaml") == "a: [\n"


@pytest.mark.parametrize("given", ["https://example.com/lyrics.txt",
                                   Path("https://example.com/lyrics.txt")])   # (--text: https:/)
def test_a_url_is_named_as_one(given):
    with pytest.raises(CorpusError, match=r"^https://example\.com/lyrics\.txt: a URL; --text "
                                          r"expects a file here: download it first \(curl -LO "
                                          r"https://example\.com/lyrics\.txt\)"):
        reading.read_text(given, key="--text")


def test_zip_without_text_files_or_with_one_other_file(tmp_path):
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w"):
        pass
    with pytest.raises(CorpusError, match="found no files"):
        reading.read_text(empty)
    tables = tmp_path / "tables.zip"
    with zipfile.ZipFile(tables, "w") as z:
        z.writestr("a.csv", "a")
        z.writestr("b.csv", "b")
    with pytest.raises(CorpusError, match=r"expected \.txt files \(or a single file\).*a\.csv, b\.csv"):
        reading.read_text(tables)
    songs = tmp_path / "songs.zip"              # hundreds of them: the first few are named
    with zipfile.ZipFile(songs, "w") as z:
        for i in range(300):
            z.writestr(f"song{i:03}.md", "歌")
    with pytest.raises(CorpusError, match=r"in the zip, found song000\.md, song001\.md, "
                                          r"song002\.md, song003\.md, song004\.md and 295 more; "
                                          r"its \.md files are text: join them"):
        reading.read_text(songs)
    lyrics = tmp_path / "lyrics.zip"
    with zipfile.ZipFile(lyrics, "w") as z:
        z.writestr("lyrics", "la la\n")
    assert reading.read_text(lyrics) == "la la\n"


def test_a_damaged_zip_is_said_so(tmp_path):
    """A .zip cut short (a download that stopped) or with a damaged member is an error naming
    the file, not read as text (a cut one was: 'the training split is empty: 1 line')."""
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", "分开不分开\n" * 300)
    data = whole.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorpusError, match=f"^{re.escape(str(cut))}: cannot read this zip file"):
        reading.read_text(cut)
    bad_member = tmp_path / "bad.zip"
    body = data.index(b"a.txt") + len(b"a.txt")                  # the member's compressed bytes
    bad_member.write_bytes(data[:body + 5] + bytes(b ^ 0xFF for b in data[body + 5:body + 9])
                           + data[body + 9:])
    with pytest.raises(CorpusError, match=f"^{re.escape(str(bad_member))}: cannot read this zip"):
        reading.read_text(bad_member)
    damaged = tmp_path / "damaged.zip"                  # every single byte flipped, in turn:
    for i in range(len(data)):                          # an error or a text, nothing else
        for flip in (0x01, 0xFF):
            damaged.write_bytes(data[:i] + bytes([data[i] ^ flip]) + data[i + 1:])
            try:
                assert isinstance(reading.read_text(damaged), str)
            except CorpusError as e:
                assert str(e).startswith(f"{damaged}: ")
    named = tmp_path / "named.zip"               # a name marked UTF-8 (歌/), damaged in its local
    with zipfile.ZipFile(named, "w") as z:       # header: zipfile raised UnicodeDecodeError
        z.writestr("歌/a.txt", "分开\n")
    data = bytearray(named.read_bytes())
    data[30] = 0                                         # the name's first byte (after 30 bytes)
    named.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match=f"^{re.escape(str(named))}: cannot read this zip file "
                                          r"\(a file name in it is marked UTF-8 and is not"):
        reading.read_text(named)
    nameless = tmp_path / "nameless.zip"         # a name in the central directory starting with
    with zipfile.ZipFile(nameless, "w") as z:    # NUL: zipfile makes it '' (is_dir raised
        z.writestr("a.txt", "分开\n")            # IndexError)
    data = bytearray(nameless.read_bytes())
    data[data.rindex(b"a.txt")] = 0
    nameless.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match=f"^{re.escape(str(nameless))}: expected .txt files "
                                          r"\(or a single file\) in the zip, found no files$"):
        reading.read_text(nameless)


def test_a_zip_of_several_text_files_is_joined_in_name_order(tmp_path):
    path = tmp_path / "songs.zip"
    with zipfile.ZipFile(path, "w") as z:               # written out of order, with clutter
        z.writestr("songs/b.txt", "second\r\nsong")
        z.writestr("__MACOSX/songs/._a.txt", "\x00\x01")
        z.writestr("songs/a.txt", "\ufefffirst\n")
        z.writestr("songs/notes.md", "not lyrics")
        z.writestr("songs/empty.txt", " \n")
    assert reading.read_text(path) == "first\nsecond\nsong\n"


def test_a_directory_of_text_files_is_joined_in_path_order(tmp_path):
    songs = tmp_path / "songs"
    (songs / "album2").mkdir(parents=True)
    (songs / ".git").mkdir()
    (songs / "album2" / "c.TXT").write_bytes("三\r\n".encode("utf-8"))
    (songs / "b.txt").write_text("二", encoding="utf-8")            # no final line break
    (songs / "a.txt").write_text("一\n", encoding="utf-8")
    (songs / "cover.jpg").write_bytes(b"\xff\xd8\x00")               # not .txt: left out
    (songs / ".draft.txt").write_text("hidden", encoding="utf-8")
    (songs / ".git" / "x.txt").write_text("hidden", encoding="utf-8")
    (songs / "blank.txt").write_text("\n\n", encoding="utf-8")
    # a.txt < album2/c.TXT < b.txt as paths; b.txt gains its line break, blank.txt adds nothing
    assert reading.read_text(songs) == "一\n三\n二\n"
    data = corpus.prepare(reading.read_text(songs), val_fraction=0.0)
    assert data.vocab.chars == "\n一三二"                             # sorted by code point


def _album_folders(root):
    """A directory of album folders with the clutter a real one has: (its files' read text)."""
    (root / "2_second").mkdir(parents=True)
    (root / "1_first").mkdir()
    (root / ".git").mkdir()
    (root / "2_second" / "c.lrc").write_text("[ti:c]\n[00:02.00]三\n[00:01.00]二\n",
                                             encoding="utf-8")
    (root / "1_first" / "b.txt").write_bytes("不分开\r\n".encode("utf-8"))
    (root / "1_first" / "a.txt").write_text("分开\n", encoding="utf-8")
    (root / ".git" / "x.txt").write_text("hidden", encoding="utf-8")
    (root / "1_first" / "._a.txt").write_bytes(b"\x00\x05\x16\x07")    # macOS's AppleDouble
    (root / "cover.jpg").write_bytes(b"\xff\xd8\x00")
    return reading.read_files(root)


@pytest.mark.parametrize("mode, name", [("w", "songs.tar"), ("w:gz", "songs.tgz"),
                                        ("w:bz2", "songs.tar.bz2"), ("w:xz", "songs.tar.xz")])
@pytest.mark.parametrize("arcname", ["songs", "."])          # tar -C songs . names them ./a.txt
def test_a_tar_archive_reads_as_the_directory_it_was_made_from(tmp_path, mode, name, arcname):
    import tarfile

    songs = tmp_path / "songs"
    read = _album_folders(songs)
    assert [text for _, text in read] == ["分开\n", "不分开\n", "二\n三\n"]
    with tarfile.open(tmp_path / name, mode) as tar:
        tar.add(songs, arcname=arcname)
    files = reading.read_files(tmp_path / name)
    assert [text for _, text in files] == [text for _, text in read]
    inner = "songs/" if arcname == "songs" else ""
    assert [where for where, _ in files] == [f"{tmp_path / name}:{inner}{f}" for f in
                                             ("1_first/a.txt", "1_first/b.txt", "2_second/c.lrc")]
    assert reading.read_text(tmp_path / name) == reading.read_text(songs)


def test_a_tar_archive_is_read_in_one_pass_and_joined_in_name_order(tmp_path, monkeypatch):
    """Members are unpacked in the archive's order (tar writes them in the order the directory
    listed them; a .tgz read in name order was unpacked from its start again for each step back:
    2,000 songs took 54 s instead of 0.4 s), then joined in name order."""
    import tarfile

    names = [f"song{i:02d}.txt" for i in (7, 2, 9, 0, 5, 3, 8, 1, 6, 4)]
    for name in names:
        (tmp_path / name).write_text(f"{name}\n", encoding="utf-8")
    with tarfile.open(tmp_path / "songs.tgz", "w:gz") as tar:
        for name in names:
            tar.add(tmp_path / name, name)
    unpacked = []
    extract = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile",
                        lambda self, member: unpacked.append(member.name) or extract(self, member))
    assert reading.read_text(tmp_path / "songs.tgz") == "".join(f"{n}\n" for n in sorted(names))
    assert unpacked == names


def test_a_tar_archive_without_text_files_or_damaged(tmp_path):
    import tarfile

    (tmp_path / "a.csv").write_text("a", encoding="utf-8")
    (tmp_path / "b.csv").write_text("b", encoding="utf-8")
    with tarfile.open(tmp_path / "tables.tar", "w") as tar:
        tar.add(tmp_path / "a.csv", "a.csv")
        tar.add(tmp_path / "b.csv", "b.csv")
    with pytest.raises(CorpusError, match=r"tables\.tar: expected \.txt files \(or a single "
                                          r"file\) in the tar archive, found a\.csv, b\.csv$"):
        reading.read_text(tmp_path / "tables.tar")
    with tarfile.open(tmp_path / "one.tar.gz", "w:gz") as tar:           # its only file: read
        tar.add(tmp_path / "a.csv", "lyrics")
    assert reading.read_text(tmp_path / "one.tar.gz") == "a"
    (tmp_path / "big.txt").write_text("分开不分开\n" * 3000, encoding="utf-8")
    with tarfile.open(tmp_path / "whole.tgz", "w:gz") as tar:
        tar.add(tmp_path / "big.txt", "big.txt")
    data = (tmp_path / "whole.tgz").read_bytes()
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(data[:len(data) // 2])                   # a download that stopped
    with pytest.raises(CorpusError, match=f"^{re.escape(str(cut))}: cannot read this tar archive"):
        reading.read_text(cut)
    damaged = bytearray((tmp_path / "tables.tar").read_bytes())
    damaged[0] = 0                              # a header's checksum no longer fits: tarfile
    (tmp_path / "damaged.tar").write_bytes(bytes(damaged))   # listed each compression it tried
    with pytest.raises(CorpusError) as e:
        reading.read_text(tmp_path / "damaged.tar")
    # (Python 3.11 and later name what the plain tar reader found; 3.9 says only that it failed)
    assert re.fullmatch(rf"{re.escape(str(tmp_path / 'damaged.tar'))}: cannot read this tar "
                        r"archive \((bad checksum|file could not be opened successfully)\); "
                        r"expected an intact one", str(e.value)), str(e.value)


@pytest.mark.parametrize("kind, suffix", [("gzip", ".gz"), ("bzip2", ".bz2"), ("xz", ".xz")])
def test_a_compressed_file_reads_as_the_file_it_holds(tmp_path, kind, suffix):
    """lyrics.txt.gz (.bz2, .xz) is read as lyrics.txt; an .lrc inside as its lyrics; one cut
    short is an error naming it (it was 'looks binary (NUL byte at offset 8)')."""
    import bz2
    import gzip
    import lzma

    compress = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[kind]
    text = "分开\r\n不分开\n" * 500
    path = tmp_path / ("lyrics.txt" + suffix)
    path.write_bytes(compress(text.encode("utf-8")))
    (tmp_path / "lyrics.txt").write_text(text, encoding="utf-8")
    assert reading.read_text(path) == reading.read_text(tmp_path / "lyrics.txt")
    assert reading.file_text(path.read_bytes(), str(path)) == text.replace("\r\n", "\n")
    lrc = tmp_path / ("song.lrc" + suffix)
    lrc.write_bytes(compress(LRC.encode("utf-8")))
    assert reading.read_text(lrc) == reading.from_lrc(LRC)
    cut = tmp_path / ("cut.txt" + suffix)
    cut.write_bytes(path.read_bytes()[:60])
    with pytest.raises(CorpusError, match=f"^{re.escape(str(cut))}: cannot read this {kind} file"):
        reading.read_text(cut)


def test_compressed_text_files_in_a_directory_or_a_zip_are_read(tmp_path):
    import bz2
    import gzip

    songs = tmp_path / "songs"
    songs.mkdir()
    (songs / "a.txt.gz").write_bytes(gzip.compress("分开\n".encode("utf-8")))
    (songs / "b.LRC.bz2").write_bytes(bz2.compress(LRC.encode("utf-8")))
    (songs / "c.txt").write_text("不分开\n", encoding="utf-8")
    (songs / "cover.jpg.gz").write_bytes(gzip.compress(b"\xff\xd8"))           # not lyrics
    assert reading.read_text(songs) == "分开\n" + reading.from_lrc(LRC) + "不分开\n"
    with zipfile.ZipFile(tmp_path / "songs.zip", "w") as z:
        z.write(songs / "a.txt.gz", "a.txt.gz")
        z.write(songs / "cover.jpg.gz", "cover.jpg.gz")
        z.writestr("c.txt", "不分开\n")
    assert reading.read_text(tmp_path / "songs.zip") == "分开\n不分开\n"


def test_text_that_begins_like_a_compressed_file_is_text(tmp_path):
    path = tmp_path / "bzh.txt"
    path.write_text("BZh9 is how this song starts\n", encoding="utf-8")
    assert reading.read_text(path) == "BZh9 is how this song starts\n"


@pytest.mark.parametrize("name, head, says, give", [
    ("songs.7z", b"7z\xbc\xaf\x27\x1c\x00\x04", "a 7z archive; unpack it first (7z x ",
     "the directory of its .txt files"),
    ("songs.rar", b"Rar!\x1a\x07\x01\x00", "a RAR archive; unpack it first (unrar x ",
     "the directory of its .txt files"),
    ("songs.tar.zst", b"\x28\xb5\x2f\xfd\x04\x58",
     "a Zstandard file; unpack it first (zstd -d ", "the file it holds")])
def test_an_archive_python_cannot_read_is_named(tmp_path, name, head, says, give):
    path = tmp_path / name
    path.write_bytes(head + b"\x00" * 30)
    with pytest.raises(CorpusError) as e:
        reading.read_text(path)
    assert str(e.value) == f"{path}: {says}{path}) and give {give}"


def test_repeated_files_pairs_each_copy_with_the_first_of_its_text():
    files = [("a.txt", "一\n二\n"), ("b.txt", "三\n"), ("c.txt", " 一 \r\n\n二"),
             ("d.txt", "一\n二\n三\n"), ("e.txt", "一\n二\n")]
    assert reading.repeated_files(files) == (("c.txt", "a.txt"), ("e.txt", "a.txt"))
    assert reading.repeated_files(files[:2]) == ()


def test_hidden_directories_are_not_walked_through(tmp_path, monkeypatch):
    import os

    root = tmp_path / "lyrics"
    (root / "songs").mkdir(parents=True)
    (root / "songs" / "a.txt").write_text("一\n", encoding="utf-8")
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "LICENSE.txt").write_text("MIT", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.txt").write_text("二\n", encoding="utf-8")
    (root / ".hidden_link").symlink_to(tmp_path / "elsewhere")          # hidden: not followed
    scanned = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: scanned.append(str(path)) or real(path))
    assert reading.read_text(root) == "一\n"
    assert scanned and not any(".venv" in path or "elsewhere" in path for path in scanned), scanned


def test_linked_directories_are_read_once_and_loops_are_not_followed(tmp_path):
    """Albums linked into the corpus directory from elsewhere were left out without a word
    (a corpus of links only: `a directory without .txt files`); a link is followed, and a
    directory reached again (a link to an ancestor, or twice linked) is not read again."""
    root, albums = tmp_path / "lyrics", tmp_path / "albums"
    (root / "mine").mkdir(parents=True)
    (root / "mine" / "a.txt").write_text("一\n", encoding="utf-8")
    (albums / "fantasy").mkdir(parents=True)
    (albums / "fantasy" / "b.txt").write_text("二\n", encoding="utf-8")
    only_links = tmp_path / "links"
    only_links.mkdir()
    (only_links / "fantasy").symlink_to(albums / "fantasy")
    assert reading.read_text(only_links) == "二\n"
    (root / "fantasy").symlink_to(albums / "fantasy")
    (root / "same_album").symlink_to(albums / "fantasy")                 # again: read once
    (root / "mine" / "up").symlink_to(root)                              # a loop
    (albums / "fantasy" / "home").symlink_to(root)                       # a loop, through a link
    (root / "mine" / "all").symlink_to(tmp_path)                         # up: it holds lyrics/
    (tmp_path / "notes.txt").write_text("三\n", encoding="utf-8")
    assert reading.read_files(root) == [(str(root / "fantasy" / "b.txt"), "二\n"),
                                       (str(root / "mine" / "a.txt"), "一\n")]


def test_a_directory_of_text_by_other_names_is_told_how_to_join_it(tmp_path):
    """Lyrics saved as .md files, or as songs named by their titles alone: the error said only
    what the directory holds. Now, when its files are text (as the reader would read them), it
    says how to make one file of them, and the command it gives makes a corpus that reads."""
    md = tmp_path / "my lyrics"
    md.mkdir()
    (md / "晴天.md").write_text("故事的小黄花\n", encoding="utf-8")
    (md / "七里香.md").write_text("窗外的麻雀\n", encoding="utf-8")
    (md / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    with pytest.raises(CorpusError) as e:
        reading.read_text(md)
    command = f"cat '{md}'/*.md > '{tmp_path}/my lyrics.txt'"
    assert str(e.value).endswith(f"(or .lrc) files; its .md files are text: join them into one "
                                 f"({command}) and give that"), e.value
    subprocess.run(["bash", "-c", command], check=True)
    assert reading.read_text(tmp_path / "my lyrics.txt") == "窗外的麻雀\n故事的小黄花\n"

    titles = tmp_path / "songs"
    titles.mkdir()
    for title in ("晴天", "七里香"):
        (titles / title).write_text(f"{title}\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=re.escape(f"; its files are text: join them into one "
                                                    f"(cat {titles}/* > {titles}.txt) and give "
                                                    "that")):
        reading.read_text(titles)
    (titles / "album").mkdir()                       # files in a directory below: no command
    (titles / "晴天").rename(titles / "album" / "晴天")
    with pytest.raises(CorpusError, match=r"; its files are text: join them into one \.txt "
                                          r"file and give that$"):
        reading.read_text(titles)


def test_an_archive_of_text_by_other_names_is_told_how_to_join_it(tmp_path, monkeypatch):
    """The same for a zip or tar of .md lyrics: the error named the files found, and said no
    more. Now it gives a command that writes them into one .txt file beside the archive (unzip
    -p, GNU tar -O), leaving out what the reader leaves out (macOS's __MACOSX/ and ._ files,
    which hold no text): the file it makes reads as the songs."""
    monkeypatch.chdir(tmp_path)
    songs = {"晴天.md": "故事的小黄花\n", "album/七里香.md": "窗外的麻雀\n"}
    with zipfile.ZipFile("my songs.zip", "w") as z:
        for name, text in songs.items():
            z.writestr(name, text)
        z.writestr("__MACOSX/._晴天.md", b"\x00\x05\x16\x07")         # (text by name only)
        z.writestr(".DS_Store.md", b"Bud1\x00")
    with pytest.raises(CorpusError) as e:
        reading.read_text("my songs.zip")
    command = "unzip -p 'my songs.zip' '*.md' -x '__MACOSX/*' '.*' > 'my songs.txt'"
    assert str(e.value).endswith(f"in the zip, found 晴天.md, album/七里香.md; its .md files are "
                                 f"text: join them into one ({command}) and give that"), e.value
    with tarfile.open(tmp_path / "songs.tar.gz", "w:gz") as tar:
        for name, text in [*songs.items(), ("album/._七里香.md", "\x00")]:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(sys, "platform", "linux")      # GNU tar's: patterns need --wildcards
    with pytest.raises(CorpusError) as e:
        reading.read_text(tmp_path / "songs.tar.gz")
    tar_command = (f"tar -xOf {tmp_path}/songs.tar.gz --wildcards '*.md' --exclude='.[!/]*' "
                   f"--exclude=__MACOSX > {tmp_path}/songs.txt")
    assert str(e.value).endswith(f"its .md files are text: join them into one ({tar_command}) "
                                 "and give that"), e.value
    monkeypatch.setattr(sys, "platform", "darwin")     # macOS's tar is bsdtar: no --wildcards
    with pytest.raises(CorpusError) as e:
        reading.read_text(tmp_path / "songs.tar.gz")
    bsd_command = (f"tar -xOf {tmp_path}/songs.tar.gz --exclude '.*' --exclude '*/.*' --exclude "
                   f"__MACOSX '*.md' > {tmp_path}/songs.txt")
    assert str(e.value).endswith(f"({bsd_command}) and give that"), e.value
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    gnu_tar = shutil.which("tar") and "GNU tar" in subprocess.run(
        ["tar", "--version"], capture_output=True, text=True).stdout
    made = [(shutil.which("unzip"), command, "my songs.txt"),      # (unzip and GNU tar on this
            (gnu_tar, tar_command, tmp_path / "songs.txt"),        # machine and CI's; bsdtar,
            (shutil.which("bsdtar"), bsd_command.replace("tar", "bsdtar", 1),   # Debian's
             tmp_path / "songs.txt")]                              # libarchive-tools, if there)
    for there, run, out in made:
        if there:
            Path(out).unlink(missing_ok=True)
            subprocess.run(["bash", "-c", run], check=True)
            assert reading.read_text(out) == "故事的小黄花\n窗外的麻雀\n", run

    Path("songs.txt").write_bytes(Path("my songs.zip").read_bytes())  # a zip by another name:
    with pytest.raises(CorpusError, match=r"\(unzip -p songs\.txt .* > songs\.txt\.txt\)"):
        reading.read_text("songs.txt")                # not written over by the command
    Path("lyrics.txt").mkdir()                        # nor is a directory
    Path("lyrics.txt", "晴天.md").write_text("故事的小黄花\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"\(cat lyrics\.txt/\*\.md > lyrics\.txt\.txt\)"):
        reading.read_text("lyrics.txt")

    # a suffix a glob would read otherwise (found by fuzzing: unzip matched no file), and one
    # with a space (cat was given two words): all the files, and the suffix quoted
    with zipfile.ZipFile("odd.zip", "w") as z:
        z.writestr("?.[x]", "歌\n")
        z.writestr("??.[x]", "歌\n")
    with pytest.raises(CorpusError, match=re.escape("(unzip -p odd.zip '*' > odd.txt)")):
        reading.read_text("odd.zip")
    Path("spaced").mkdir()
    Path("spaced", "a.m d").write_text("歌\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=re.escape("(cat spaced/*'.m d' > spaced.txt)")):
        reading.read_text("spaced")
    if shutil.which("unzip"):
        subprocess.run(["bash", "-c", "unzip -p odd.zip '*' > odd.txt"], check=True)
        assert reading.read_text("odd.txt") == "歌\n歌\n"
    subprocess.run(["bash", "-c", "cat spaced/*'.m d' > spaced.txt"], check=True)
    assert reading.read_text("spaced.txt") == "歌\n"

    with zipfile.ZipFile("mixed.zip", "w") as z:     # text and a picture: no one glob
        z.writestr("a.md", "歌\n")
        z.writestr("b", "歌\n")
        z.writestr("cover.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF")
    with pytest.raises(CorpusError, match=r"found a\.md, b, cover\.jpg; its files are text: "
                                          r"unpack it, join them into one \.txt file and give "
                                          r"that$"):
        reading.read_text("mixed.zip")
    with zipfile.ZipFile("pictures.zip", "w") as z:  # no text: no hint
        z.writestr("a.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF")
        z.writestr("b.csv", "a,b\n")
    with pytest.raises(CorpusError, match=r"found a\.jpg, b\.csv$"):
        reading.read_text("pictures.zip")


def test_a_directory_without_text_or_with_a_bad_file(tmp_path):
    (tmp_path / "cover.jpg").write_bytes(b"\xff")
    (tmp_path / "song.docx").write_bytes(b"PK")
    with pytest.raises(CorpusError, match=r"a directory without \.txt files \(it holds \.docx, "
                                          r"\.jpg files\); --text expects .* or a directory of "
                                          r"\.txt \(or \.lrc\) files$"):
        reading.read_text(tmp_path, key="--text")
    (tmp_path / "song.docx").unlink()
    (tmp_path / "blank.txt").write_text(" \n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"blank\.txt: empty or only whitespace"):
        reading.read_text(tmp_path)
    (tmp_path / "good.txt").write_text("好\n", encoding="utf-8")
    (tmp_path / "old.txt").write_bytes("旧歌\n".encode("gbk"))
    bad = re.escape(str(tmp_path / "old.txt")) + r": not UTF-8 .*iconv -f GBK -t UTF-8"
    with pytest.raises(CorpusError, match=bad):
        reading.read_text(tmp_path)


LRC = """[ti:晴天]
[ar:周杰伦]
[offset:0]
[00:00.00]晴天 - 周杰伦
[00:01.00] 作词 : 周杰伦
[00:02.00]曲：周杰伦
[00:03.00]编曲：钟兴民
[00:04.00]Lyrics by: Jay Chou
[00:15.10]故事的小黄花
[00:18.20] 从出生那年就飘着 

[00:40.00][01:50.00]刮风这天 我试过握着你手
[00:45.00]<00:45.00>但<00:45.50>偏偏
不带时间的一行
[00:47.00]
[01:55:30]完
[01:56.00]她说：再见
[01:57.00]制作人 : 周杰伦
"""


def test_an_lrc_file_is_read_as_its_lyrics_in_the_order_they_are_sung():
    """LRC (a music player's timed lyrics): the time tags, word timings, ID lines and empty
    lines go, and so do the credits and the title line (that of [ti:] and [ar:]) that lyric
    sites add; a line tagged twice (a chorus) is sung twice, in time order; a line without a
    time stays where it was."""
    assert reading.from_lrc(LRC) == ("故事的小黄花\n从出生那年就飘着\n"
                                    "刮风这天 我试过握着你手\n但偏偏\n不带时间的一行\n"
                                    "刮风这天 我试过握着你手\n完\n她说：再见\n")
    assert reading.from_lrc("没有时间\n的歌词\n") == "没有时间\n的歌词\n"
    # without its [ti:] and [ar:], a line of that shape is a line like any other
    assert reading.from_lrc("[00:00.00]晴天 - 周杰伦\n[00:01.00]曲终人散\n") == \
        "晴天 - 周杰伦\n曲终人散\n"


def test_an_lrc_saved_as_txt_is_read_as_its_lyrics(tmp_path):
    """Lyric sites' downloads are often LRC saved as .txt: the model learnt its time tags,
    credits and ID lines. A text whose lines are mostly timed is read as an LRC file, whatever
    its name (alone, compressed, in a directory or a zip); a few timed lines among lyrics are
    left as they are."""
    import gzip

    (tmp_path / "qingtian.txt").write_text(LRC, encoding="utf-8")
    (tmp_path / "qingtian.txt.gz").write_bytes(gzip.compress(LRC.encode("utf-8")))
    for name in ("qingtian.txt", "qingtian.txt.gz"):
        assert reading.read_text(tmp_path / name) == reading.from_lrc(LRC)
    assert reading.read_text(tmp_path / "qingtian.txt", lrc_in_txt=False) == LRC   # (as it is)
    with zipfile.ZipFile(tmp_path / "songs.zip", "w") as z:
        z.writestr("qingtian.txt", LRC)
    assert reading.read_text(tmp_path / "songs.zip") == reading.from_lrc(LRC)
    some = "".join(f"[00:0{i}.00]第{i}行\n" for i in range(3)) + "不带时间\n" * 4
    (tmp_path / "some.txt").write_text(some, encoding="utf-8")
    assert reading.read_text(tmp_path / "some.txt") == some          # 3 of 7 lines: lyrics
    (tmp_path / "qingtian.lrc").write_text(LRC, encoding="utf-8")
    timed = {Path(f.where).name: f.timed for name in ("qingtian.txt", "some.txt", "qingtian.lrc")
             for f in reading.read_each(tmp_path / name, "data.corpus", "utf-8")}
    assert timed == {"qingtian.txt": True, "some.txt": False, "qingtian.lrc": False}  # (named so)


def test_lrc_files_in_a_directory_a_zip_or_alone(tmp_path):
    """.lrc files are read beside .txt ones (in a directory, in a zip, or given alone), as their
    lyrics; a .txt file with brackets is left as it is."""
    songs = tmp_path / "songs"
    songs.mkdir()
    (songs / "a.lrc").write_text("[ar:x]\n[00:01.00]分开\n", encoding="utf-8")
    (songs / "b.txt").write_text("[00:01.00]不分开\n", encoding="utf-8")
    assert reading.read_text(songs) == "分开\n[00:01.00]不分开\n"
    assert reading.read_text(songs / "a.lrc") == "分开\n"
    with zipfile.ZipFile(tmp_path / "songs.zip", "w") as z:
        z.writestr("a.LRC", LRC)
        z.writestr("cover.jpg", b"\xff")
    assert reading.read_text(tmp_path / "songs.zip") == reading.from_lrc(LRC)


@pytest.mark.parametrize("first", ["utf-8", "gbk"])
def test_a_file_joined_from_utf8_and_gbk_ones_names_a_line_of_each(tmp_path, first):
    """`cat *.txt > all.txt` over UTF-8 and GBK files: said to be 'not UTF-8 ... or set
    data.encoding to gbk', which then said 'neither UTF-8 nor GBK' (or read the UTF-8 lines as
    other characters). Now a line of each is named, with or without data.encoding; the real
    corpus saved as GBK alone is still read (its GBK lines are not taken for UTF-8 ones)."""
    text = reading.read_text(ZIP)
    lines = text.splitlines(keepends=True)
    parts = ["".join(lines[:100]).encode(first), "".join(lines[100:]).encode(
        "gbk" if first == "utf-8" else "utf-8")]
    path = tmp_path / "all.txt"
    path.write_bytes(b"".join(parts))
    utf8, bad = (1, 101) if first == "utf-8" else (101, 1)
    byte = re.escape(f"0x{lines[bad - 1].encode('gbk')[0]:02x}")
    message = (rf"all\.txt: line {bad} is not UTF-8 \(invalid byte {byte}\) though line {utf8} is: "
               r"joined from files saved in different encodings\? Convert those lines to UTF-8 "
               r"\(from GBK: iconv -f GBK -t UTF-8\), or give the files as a directory with "
               r"data\.encoding set to theirs$")
    for encoding in ("utf-8", "gbk"):
        with pytest.raises(CorpusError, match=message):
            reading.read_files(path, encoding=encoding)
    path.write_bytes(text.encode("gbk"))
    assert reading.join(reading.read_files(path, encoding="gbk")) == text
    # the files it was joined from, as a directory: each read in its own encoding
    (tmp_path / "all.txt").unlink()
    for i, part in enumerate(parts):
        (tmp_path / f"{i}.txt").write_bytes(part)
    assert reading.join(reading.read_files(tmp_path, encoding="gbk")) == text


def test_a_directory_of_gbk_files_says_how_many_there_are(tmp_path):
    """Lyrics saved from old sites are GBK file after file: the first is named, with how many
    more of the directory's files are not UTF-8 either (one at a time, it was a loop of fixes)."""
    for name in ("a.lrc", "b.txt", "c.txt"):
        (tmp_path / name).write_bytes("分开\n".encode("gbk"))
    (tmp_path / "d.txt").write_text("分开\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=re.escape(str(tmp_path / "a.lrc")) + r": not UTF-8 .* "
                                          r"-f BIG5\), or set data.encoding to gbk \(or big5\) to "
                                          r"read it as it is; so are 2 more of the 4 files in "
                                          + re.escape(str(tmp_path)) + "$"):
        reading.read_text(tmp_path)
    # data.encoding gbk: the GBK files read as GBK, the UTF-8 one as UTF-8
    assert reading.join(reading.read_files(tmp_path, encoding="gbk")) == "分开\n" * 4


# traditional Chinese, for Big5 (the first lines of 晴天)
BIG5_TEXT = "故事的小黃花\n從出生那年就飄著\n童年的盪鞦韆\n隨記憶一直晃到現在\n"
GBK_TEXT = "故事的小黄花\n从出生那年就飘着\n童年的荡秋千\n随记忆一直晃到现在\n"
# and a Western one, with Windows' curly quotes and dash, and accents
WESTERN_TEXT = "I’m on the “old town road”\nNa na na — café olé\nDon’t stop me now\n"


@pytest.mark.parametrize("text, saved_as, advice", [
    (GBK_TEXT, "gbk", "from GBK: iconv -f GBK -t UTF-8 (from Big5: -f BIG5), or set data.encoding "
                      "to gbk (or big5) to read it as it is"),
    (BIG5_TEXT, "big5", "from GBK: iconv -f GBK -t UTF-8 (from Big5: -f BIG5), or set "
                        "data.encoding to gbk (or big5) to read it as it is"),
    (WESTERN_TEXT, "cp1252", "from Windows' Western European: iconv -f CP1252 -t UTF-8, or "
                                  "set data.encoding to cp1252 to read it as it is"),
    # Chinese lyrics with a line of English among them are still Chinese
    (GBK_TEXT + "Don't stop me now, baby\n", "gbk", "from GBK: iconv -f GBK -t UTF-8"),
], ids=["gbk", "big5", "cp1252", "gbk-with-english"])
def test_the_advice_for_a_file_not_utf8_names_the_kind_of_encoding_it_has(tmp_path, text, saved_as,
                                                                          advice):
    """English lyrics saved by Windows (curly quotes in Windows-1252) were told to convert 'e.g.
    from GBK' or set data.encoding to gbk, which then said 'neither UTF-8 nor GBK': a text in a
    Latin alphabet is now told about CP1252 (and data.encoding cp1252 reads it), Chinese about
    GBK and Big5 as before."""
    path = tmp_path / "song.txt"
    path.write_bytes(text.encode(saved_as))
    with pytest.raises(CorpusError, match=r"song\.txt: not UTF-8 \(invalid byte 0x[0-9a-f]{2} at "
                                          r"offset \d+\); convert it first, e\.g\. "
                                          + re.escape(advice)):
        reading.read_text(path)


@pytest.mark.parametrize("encoding, saved_as, text", [
    ("gbk", "gbk", GBK_TEXT), ("gb2312", "gb2312", GBK_TEXT),
    ("gbk", "gb18030", GBK_TEXT + "€"), ("gb18030", "gbk", GBK_TEXT),
    ("big5", "big5", BIG5_TEXT), ("big5", "big5hkscs", BIG5_TEXT + "嗰"),
    ("cp1252", "cp1252", WESTERN_TEXT), ("cp1252", "latin-1", "Café olé, señor\nÇa va\n"),
], ids=["gbk", "gb2312", "gbk-reads-gb18030", "gb18030-reads-gbk", "big5", "big5-reads-hkscs",
        "cp1252", "cp1252-reads-latin1"])
def test_data_encoding_reads_files_that_are_not_utf8(tmp_path, encoding, saved_as, text):
    """Each as Python's own codec of that name saved it, line breaks as Windows writes them;
    gbk reads GB18030 (and gb2312 GBK), big5 Hong Kong's additions: the supersets."""
    path = tmp_path / "song.txt"
    path.write_bytes(text.replace("\n", "\r\n").encode(saved_as))
    with pytest.raises(CorpusError, match="not UTF-8"):
        reading.read_text(path)
    assert reading.join(reading.read_files(path, encoding=encoding)) == text
    (tmp_path / "utf8.txt").write_text(text, encoding="utf-8")        # UTF-8 stays UTF-8
    assert reading.join(reading.read_files(tmp_path / "utf8.txt", encoding=encoding)) == text


def _zip_with_raw_names(path, files):
    """A zip whose member names are the given bytes, without the UTF-8 flag, as Chinese Windows
    (GBK) and macOS (UTF-8) write them: written under ASCII names of the same length, then
    patched (a name is in no checksum)."""
    with zipfile.ZipFile(path, "w") as z:
        for i, (raw, text) in enumerate(files):
            z.writestr(f"{i}".rjust(len(raw) - 4, "_") + ".txt", text)
    data = path.read_bytes()
    for i, (raw, _) in enumerate(files):
        data = data.replace((f"{i}".rjust(len(raw) - 4, "_") + ".txt").encode(), raw)
    path.write_bytes(data)


def test_zip_member_names_without_the_utf8_flag_are_shown_as_written(tmp_path):
    """Python reads such names as CP437 ('╟τ╠∞.txt' for GBK's 晴天.txt): the errors and the list
    of files showed them so. UTF-8 is tried, then data.encoding's codec; the members keep the
    order Python's names give them, so that the text and its split do not change."""
    path = tmp_path / "songs.zip"
    _zip_with_raw_names(path, [("晴天.txt".encode("gbk"), GBK_TEXT.encode("gbk")),
                               ("稻香.txt".encode("gbk"), "对这个世界\n".encode("gbk")),
                               ("七里香.txt".encode("utf-8"), "窗外的麻雀\n".encode("utf-8"))])
    with zipfile.ZipFile(path) as z:                   # what Python makes of the names
        assert {i.flag_bits & 0x800 for i in z.infolist()} == {0}
        python_order = [i.filename for i in z.infolist()]
        assert python_order[0] == "晴天.txt".encode("gbk").decode("cp437")
    files = reading.read_files(path, encoding="gbk")
    shown = {"╟τ╠∞.txt": "晴天.txt", "╡╛╧π.txt": "稻香.txt",
             "七里香.txt".encode("utf-8").decode("cp437"): "七里香.txt"}
    assert [where for where, _ in files] == [f"{path}:{shown[n]}" for n in sorted(python_order)]
    assert dict(files)[f"{path}:晴天.txt"] == GBK_TEXT
    # without data.encoding: UTF-8 names as written, GBK ones as Python reads them; "is" for one
    with pytest.raises(CorpusError, match=re.escape(f"{path}:╟τ╠∞.txt: not UTF-8") + ".*; so is "
                                          "1 more of the 3 files in"):
        reading.read_files(path)


@pytest.mark.skipif(sys.platform != "linux", reason="file names as bytes")
def test_file_names_that_are_not_utf8_are_shown_in_data_encoding(tmp_path):
    """A directory unpacked from a Chinese Windows zip has GBK file names, which Python holds
    with surrogates and the messages showed as '\\udcc7\\udce7...'."""
    songs = tmp_path / "歌"
    songs.mkdir()
    with open(os.path.join(os.fsencode(songs), "晴天.txt".encode("gbk")), "wb") as f:
        f.write(GBK_TEXT.encode("gbk"))
    (songs / "稻香.txt").write_text("对这个世界\n", encoding="utf-8")
    files = reading.read_files(songs, encoding="gbk")
    assert sorted(where for where, _ in files) == [str(songs / "晴天.txt"), str(songs / "稻香.txt")]
    assert dict(files)[str(songs / "晴天.txt")] == GBK_TEXT
    with pytest.raises(CorpusError, match=re.escape(str(songs)) + "/" + re.escape(
            "晴天.txt".encode("gbk").decode("utf-8", "surrogateescape")) + ": not UTF-8"):
        reading.read_files(songs)             # without data.encoding, as Python holds it


def test_the_files_read_in_data_encoding_are_those_neither_utf8_nor_utf16(tmp_path):
    """What `train`'s note lists, with each one's first line."""
    from jaylyrics.config import DataConfig

    songs = tmp_path / "songs"
    songs.mkdir()
    (songs / "a.txt").write_bytes(GBK_TEXT.encode("gbk"))
    (songs / "b.txt").write_text("分开\n", encoding="utf-16")
    (songs / "c.txt").write_text("不分开\n", encoding="utf-8")
    data = corpus.load(DataConfig(corpus=str(songs), val_fraction=0.0, encoding="gbk"))
    assert data.read_as == ((str(songs / "a.txt"), "故事的小黄花"),)
    assert data.train == GBK_TEXT + "分开\n不分开\n"
    assert corpus.load(DataConfig(corpus=str(songs / "c.txt"), val_fraction=0.0,
                                  encoding="gbk")).read_as == ()


def test_a_wrong_data_encoding_or_a_cut_file_is_refused_not_misread(tmp_path):
    path = tmp_path / "song.txt"
    path.write_bytes(reading.read_text(ZIP)[:2000].encode("gb18030"))
    with pytest.raises(CorpusError, match=r"song\.txt: neither UTF-8 nor BIG5 \(invalid byte "
                                          r"0x[0-9a-f]{2} at offset \d+ for big5\); set "
                                          r"data.encoding to the one it is saved in"):
        reading.read_files(path, encoding="big5")
    path.write_bytes("分开\n不分开".encode("utf-8")[:-1])     # UTF-8 cut short, not GBK
    with pytest.raises(CorpusError, match="ends in the middle of a character"):
        reading.read_files(path, encoding="gbk")
    path.write_bytes(GBK_TEXT.encode("gbk"))                 # --text has no data.encoding
    with pytest.raises(CorpusError, match=r"\(from Big5: -f BIG5\)$"):
        reading.read_text(path, key="--text")


def test_missing_corpus(tmp_path, monkeypatch):
    with pytest.raises(CorpusError, match="nope.txt: no such file; data.corpus expects a .txt"):
        reading.read_text(tmp_path / "nope.txt")
    monkeypatch.chdir(tmp_path)      # a relative path: say where it was looked for
    with pytest.raises(CorpusError, match=re.escape(f"data/x.zip: no such file in {tmp_path} "
                                                    "(a relative data.corpus is read from the working")):
        reading.read_text("data/x.zip")
    with pytest.raises(CorpusError, match="a relative --text is read") as missing:
        reading.read_text("x.txt", key="--text")
    assert "standard input" not in str(missing.value)
    # words given as --text (the text itself, not a file): how to score them
    for words in ("分开的时候", "it is raining"):
        with pytest.raises(CorpusError, match=re.escape(
                f"; to score these words themselves, give them on standard input: echo "
                f"'{words}' | jaylyrics eval --text -")):
            reading.read_text(words, key="--text")
    for path in ("lyrics", "歌词/a.txt", "我的歌词.txt"):       # files (or directories) not there
        with pytest.raises(CorpusError) as missing:
            reading.read_text(path, key="--text")
        assert "standard input" not in str(missing.value)
    with pytest.raises(CorpusError) as missing:                   # a corpus is never words
        reading.read_text("分开的时候")
    assert "standard input" not in str(missing.value)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), frac=st.sampled_from([0.0, 0.1, 0.5]))
@example(data=b"\x1f\x8b", frac=0.0)               # the starts of gzip (tarfile raised EOFError),
@example(data=b"BZh91AY&SY\x00", frac=0.0)         # bzip2, xz, 7z and RAR files
@example(data=b"\xfd7zXZ\x00\x00", frac=0.0)
@example(data=b"7z\xbc\xaf\x27\x1c", frac=0.0)
@example(data=b"Rar!\x1a\x07\x00", frac=0.0)
@example(data=b"\x28\xb5\x2f\xfd", frac=0.0)
def test_random_bytes_as_a_corpus_give_a_clean_error_or_a_corpus(tmp_path_factory, data, frac):
    path = tmp_path_factory.mktemp("fuzz") / "corpus.txt"
    path.write_bytes(data)
    try:
        prepared = corpus.prepare(reading.read_text(path), val_fraction=frac)
        corpus.check_batchable(len(prepared.train), 2, 3, "random")
    except CorpusError as e:
        assert str(e) and "\n" not in str(e)
