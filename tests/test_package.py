"""jaylyrics/__init__.py: what messages and tables share (counting, terminal columns)."""

from jaylyrics import columns, counted, padded


def test_messages_count_in_english():
    """'1 character(s)', '1 epochs': a message says 1 character, 3 characters, 2 batches."""
    assert [counted(n, "character") for n in (0, 1, 3, 1200)] == [
        "0 characters", "1 character", "3 characters", "1,200 characters"]
    assert (counted(1, "batch", "batches"), counted(2, "batch", "batches")) == ("1 batch",
                                                                                "2 batches")


def test_terminal_columns_count_a_chinese_character_as_two_and_a_combining_mark_as_none():
    assert columns("分开 ab") == 7
    assert columns("ｆｕｌｌ") == 8                        # full-width forms
    assert columns("cafe\u0301") == 4                    # e and its accent: one column
    assert columns("🎵") == 2
    assert padded("晴天", 6) + "|" == "晴天  |"
    assert padded("晴天", 6, right=True) == "  晴天"
    assert padded("一个很长的名字", 6) == "一个很长的名字"     # wider than the width: as it is
