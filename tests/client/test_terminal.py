"""The terminal sanitizer: nothing the server or another person wrote can drive a terminal; JSON stays exact."""

from __future__ import annotations

import json

import pytest

from client.terminal import clean, emit_json, table

NASTY = "a\x1b[2J\x07b\x9b31m\x7fc\u202ed\u2066e\r\x00f"


def test_clean_strips_c0_c1_del_and_bidi_but_keeps_newline_and_tab() -> None:
    assert clean(NASTY) == "a[2Jb31mcdef"
    assert clean("one\ntwo\tthree") == "one\ntwo\tthree"
    assert clean("one\ntwo\tthree\rfour", one_line=True) == "one two three four"
    assert clean("김영희 — ok") == "김영희 — ok"
    assert clean(42) == "42"


def test_tables_and_json_carry_no_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    table([(NASTY, "x\ny")], ("a", "b"))
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\x07\x9b\x7f\u202e\u2066\r\x00") and "x y" in out
    data = {"text": NASTY, "name": "김영희"}
    emit_json(data)
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\x07\x9b\x7f\u202e\u2066\r\x00") and "김영희" in out
    assert json.loads(out) == data  # escaped, not removed: the data is exact
