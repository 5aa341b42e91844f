"""The sanitizer for what reaches a person's terminal from someone else (client/terminal.py says why and where it
is used). Imports nothing of the client, so every layer that writes to a terminal can use it (client/output.py's
progress line names a file another person chose)."""

from __future__ import annotations

import re
from typing import Final

BIDI: Final = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE: Final = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI}]")
_UNSAFE_ONE_LINE: Final = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI}]")


def clean(text: object, *, one_line: bool = False) -> str:
    """`text` as a string that cannot drive a terminal (see client/terminal.py's docstring)."""
    value = str(text)
    if one_line:
        return _UNSAFE_ONE_LINE.sub(lambda m: " " if m.group() in "\n\t\r" else "", value)
    return _UNSAFE.sub("", value)
