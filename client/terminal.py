"""What reaches a person's terminal from someone else: one sanitizer for every string the server sent or another
person wrote (purposes, notes, messages, case fields, names, the server's error messages, table cells).

A terminal obeys control characters: ESC and CSI sequences clear the screen, move the cursor, rewrite earlier
lines, set the window title or, on some terminals, answer back; Unicode bidi overrides reorder what is shown
(a purpose that reads differently from what it says). `clean` removes C0 controls but newline and tab, DEL, C1
controls (U+0080-U+009F, which 8-bit terminals read as CSI and the like) and the bidi embedding, override and
isolate characters; `one_line` also turns newlines and tabs into spaces, so a table cell or a one-line field
cannot fake further lines. JSON output keeps the data exact: control, C1 and bidi characters are written as
`\\uXXXX` escapes instead (JSON's own escaping already covers C0).

`clean` itself is in client/sanitize.py (which imports nothing of the client). Shown by
tests/hostile/test_terminal.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

from client import output
from client.sanitize import BIDI, clean

__all__ = ["clean", "emit_json", "say", "table"]

_JSON_UNSAFE: Final = re.compile(f"[\x7f-\x9f{BIDI}]")


def say(*parts: object, one_line: bool = False) -> None:
    """print() with every part cleaned."""
    print(*(clean(p, one_line=one_line) for p in parts))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """output.table with every cell cleaned to one line."""
    output.table([[clean(c, one_line=True) for c in row] for row in rows], headers)


def emit_json(data: Any) -> None:
    """output.emit_json's document, with control, C1 and bidi characters escaped (the data stays exact)."""
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
    print(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
