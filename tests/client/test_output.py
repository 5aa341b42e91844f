"""Tables line up by display width: a Hangul, Chinese or Japanese character takes two terminal columns, a
combining mark none, so counting characters (str.ljust) misaligns every column after a name like 김영희."""

from __future__ import annotations

import pytest
from wcwidth import wcswidth

from client.output import display_width, pad, table


@pytest.mark.parametrize(
    ("text", "columns"),
    [("Kim", 3), ("김영희", 6), ("金英姬", 6), ("キム・ヨンヒ", 12), ("Jose\u0301", 4), ("", 0), ("a\x1bb", 2)],
)
def test_display_width_counts_terminal_columns(text: str, columns: int) -> None:
    assert display_width(text) == columns
    assert display_width(pad(text, 14)) == 14


def test_table_columns_line_up_with_cjk_names(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [("김영희", "open", "day 3"), ("Kim", "closed", "day 12"), ("延吉 市場", "new", "—")]
    table(rows, ("name", "state", "when"))
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "name       state   when",
        "김영희     open    day 3",
        "Kim        closed  day 12",
        "延吉 市場  new     —",
    ]
    for line, (_, state, when) in zip(lines, [("name", "state", "when"), *rows], strict=True):
        at = line.index(state)
        assert wcswidth(line[:at]) == 9 + 2  # the widest name, 延吉 市場, is 9 columns wide
        assert wcswidth(line[: line.index(when, at + len(state))]) == 11 + 6 + 2


def test_an_empty_table_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    table([], ("case", "state"))
    assert capsys.readouterr().out.splitlines() == ["case  state", "(none)"]
