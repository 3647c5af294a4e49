"""corpus.py: vocabulary, look-alikes, the split protocol and the tutorial's two samplers."""

import os
import subprocess
import sys

import numpy as np
import pytest

from jaylyrics import CorpusError, InputError, corpus, reading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZIP = os.path.join(ROOT, "data", "jaychou_lyrics.txt.zip")


def test_vocabulary_is_sorted_and_independent_of_the_hash_seed():
    code = ("from jaylyrics import corpus, reading; import hashlib; "
            "v = corpus.Vocab.build(reading.read_text(%r)); "
            "print(hashlib.sha256(v.chars.encode()).hexdigest())" % ZIP)
    digests = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    vocab = corpus.Vocab.build("cab\nba")
    assert vocab.chars == "\nabc"


def test_encode_decode_round_trip_and_unknown_characters_are_named():
    vocab = corpus.Vocab.build("分开不战争\n")
    ids = vocab.encode("不分开\n")
    assert ids.dtype == np.int32
    assert vocab.decode(ids) == "不分开\n"
    with pytest.raises(InputError, match=r"2 characters not in the model's vocabulary: 'X' 'Y'"):
        vocab.encode("分X开Y", "the prefix")


def test_unknown_characters_are_named_with_the_look_alike_the_vocabulary_has():
    """A prefix typed with the other width of punctuation, the other case or another space
    names the character the vocabulary has; one with no look-alike is named alone."""
    vocab = corpus.Vocab.build("分开，不分\u3000abc！\n")
    with pytest.raises(InputError) as e:
        vocab.encode("分开,不 分A!Xé", "--prefix")
    assert str(e.value) == (
        "--prefix has 6 characters not in the model's vocabulary: ',' (the vocabulary has '，') "
        "' ' (the vocabulary has '\\u3000') 'A' (the vocabulary has 'a') "
        "'!' (the vocabulary has '！') 'X' 'é'")
    assert vocab.look_alike("Ｂ") == "b" and vocab.look_alike("\xa0") == "\u3000"
    assert vocab.look_alike("X") is None
    assert corpus.Vocab.build("a").show_unknown(list("bcd"), limit=2) == "'b' 'c' ..."


def test_prefixes_written_with_commas_are_told_how_to_be_several():
    """`--set train.prefixes=分开,不分开` is one prefix, with a comma the lyrics may not have:
    the error named the comma alone; it now says how to write several. A comma the vocabulary
    has, or parts it lacks too, get the error as it was."""
    from types import SimpleNamespace

    def check(vocab, *prefixes):
        corpus.check_prefixes(vocab, SimpleNamespace(prefixes=prefixes, sample_every=1))

    vocab = corpus.Vocab.build("分开，不分开\n")
    with pytest.raises(InputError) as e:
        check(vocab, "不分开", "分开, 不分开")
    assert str(e.value) == ("train.prefixes entry '分开, 不分开' has 2 characters not in the "
                            "model's vocabulary: ',' (the vocabulary has '，') ' '; several "
                            "prefixes are a list: train.prefixes=[分开, 不分开]")
    with pytest.raises(InputError, match=r"'X'$"):
        check(vocab, "分开,X")
    check(corpus.Vocab.build("分开,不\n"), "分开,不分开", "分开")          # a comma it has: one prefix
    check(vocab, "分开")


def test_a_straight_quote_or_a_letter_without_its_accent_names_the_vocabularys_one():
    """English lyrics saved from the web have I’m, “...” and — where a terminal types I'm, "..."
    and -; a prefix named them with no look-alike (likewise é for e). Both ways round; kana's
    voicing mark makes another character, so ガ is no look-alike of カ."""
    curly = corpus.Vocab.build("I’m on the “old town road” — café\nカ\n")
    assert curly.show_unknown(curly.unknown("I'm \"Cafe\" - Ü ガ")) == (
        "\"'\" (the vocabulary has '’') '\"' (the vocabulary has '“') 'C' (the vocabulary has "
        "'c') '-' (the vocabulary has '—') 'Ü' 'ガ'")
    straight = corpus.Vocab.build("I'm on the \"old town road\" - cafe ou\n")
    assert [straight.look_alike(c) for c in "’”–Üé"] == ["'", '"', "-", "u", "e"]


def test_split_protocol_on_the_corpus():
    """First int(0.9 n) lines train, the rest val, each joined by \\n plus a final \\n."""
    text = reading.read_text(ZIP)
    data = corpus.prepare(text, val_fraction=0.1)
    lines = text.split("\n")
    k = int(0.9 * len(lines))
    assert data.train == "\n".join(lines[:k]) + "\n"
    assert data.val == "\n".join(lines[k:]) + "\n"
    assert len(data.vocab) == 2583
    assert (len(data.train), len(data.val)) == (55233, 8050)


def test_tutorial_preparation_gives_its_vocabulary():
    data = corpus.prepare(reading.read_text(ZIP), max_chars=20000, keep_newlines=False,
                          val_fraction=0.0)
    assert len(data.train) == 20000 and data.val == ""
    assert "\n" not in data.train
    assert len(data.vocab) == 1447


def test_empty_validation_split_is_an_error():
    """A split that leaves a part without text. The lines are counted as an editor counts them
    (a last line break ends the last line: it starts no other); a text of one line says so, with
    or without its line break (it said 'the validation split has no characters: 2 lines' for
    one, and 'use more text' for 50,000 characters)."""
    with pytest.raises(CorpusError, match=r"^the validation split has no characters: 3 lines with "
                                          r"data.val_fraction 0.1 \(use more text or "
                                          r"data.val_fraction 0\)$"):
        corpus.prepare("a\nb\nc\n", val_fraction=0.1)
    with pytest.raises(CorpusError, match=r"^the training split is empty: 2 lines with "
                                          r"data.val_fraction 0.9 \(the split is by lines: use text "
                                          r"with more line breaks, or data.val_fraction 0\)$"):
        corpus.prepare("a\nb", val_fraction=0.9)
    for text, fraction in (("one line only\n", 0.5), ("a" * 5000, 0.1), ("a" * 5000 + "\n", 0.1),
                           ("\n\n" + "a" * 5000 + "\n\n", 0.1)):
        with pytest.raises(CorpusError, match=r"^the text is one line \(" +
                           f"{len(text.strip()):,}" + r" characters\), and the split into training "
                           r"and validation text takes whole lines: break it into lines, or set "
                           r"data.val_fraction 0 \(no validation\)$"):
            corpus.prepare(text, val_fraction=fraction)
    assert corpus.prepare("a" * 5000, val_fraction=0.0).train == "a" * 5000


def test_random_sampler_on_range_30():
    """The tutorial's demonstration: windows of 3 starting at multiples of 3, labels shifted by
    one, 9 windows -> 4 batches of 2, in an order that the seed reproduces."""
    seq = np.arange(30)
    got = list(corpus.random_batches(seq, 2, 3, np.random.RandomState(0)))
    assert len(got) == 4
    starts = []
    for X, Y in got:
        assert X.shape == Y.shape == (2, 3)
        np.testing.assert_array_equal(Y, X + 1)
        for row in X:
            assert row[0] % 3 == 0
            np.testing.assert_array_equal(row, row[0] + np.arange(3))
            starts.append(row[0])
    assert len(set(starts)) == 8 and max(starts) <= 24
    again = list(corpus.random_batches(seq, 2, 3, np.random.RandomState(0)))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(got, again))
    other = list(corpus.random_batches(seq, 2, 3, np.random.RandomState(1)))
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(got, other))


def test_consecutive_sampler_on_range_30():
    """Two streams [0..14] and [15..29]; each batch's rows continue the previous batch's."""
    got = list(corpus.consecutive_batches(np.arange(30), 2, 3))
    assert len(got) == 4
    np.testing.assert_array_equal(got[0][0], [[0, 1, 2], [15, 16, 17]])
    np.testing.assert_array_equal(got[0][1], [[1, 2, 3], [16, 17, 18]])
    np.testing.assert_array_equal(got[3][0], [[9, 10, 11], [24, 25, 26]])
    for (X0, _), (X1, _) in zip(got, got[1:]):
        np.testing.assert_array_equal(X1[:, 0], X0[:, -1] + 1)
    assert corpus.num_batches(30, 2, 3, "consecutive") == 4
    assert corpus.num_batches(30, 2, 3, "random") == 4


@pytest.mark.parametrize("sampler", ["random", "consecutive"])
def test_too_short_for_one_batch(sampler):
    with pytest.raises(CorpusError, match="too short for one batch"):
        corpus.check_batchable(20, 4, 5, sampler)
    corpus.check_batchable(4 * 5 + 4, 4, 5, sampler)


from hypothesis import given, strategies as st  # noqa: E402


@given(st.text(min_size=1))
def test_vocabulary_round_trip(text):
    vocab = corpus.Vocab.build(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert list(vocab.chars) == sorted(set(text))


@pytest.mark.parametrize("sampler", ["random", "consecutive"])
def test_a_text_shorter_than_the_batch_size_has_no_batch(sampler):
    assert corpus.num_batches(2, 8, 10, sampler) == 0
    with pytest.raises(CorpusError, match="too short for one batch"):
        corpus.check_batchable(2, 8, 10, sampler)


def test_line_starts_are_the_first_distinct_beginnings_of_lines():
    assert corpus.line_starts("ab c\n\n  ab d\ncd\nef\ngh\n") == ("ab", "cd", "ef")
    assert corpus.line_starts("x\n", n=3, length=4) == ("x",)
    assert corpus.line_starts("\n\n") == ()
