"""The command line's parser: argparse, with its own words ("usage:", "options", "show this help message and
exit", "error:") in the command's language and help wrapped by terminal columns.

argparse wraps help with textwrap, which counts characters: a line of Hangul, Chinese or Japanese, two columns
a character, comes out twice as wide as the terminal and breaks in the middle of a word on the next line.
Here a line holds as many columns as the terminal does, Latin words are never split, and a line may break
between two wide characters (those scripts do not put spaces between words) but not before closing
punctuation (、。）and the like, nor after opening punctuation.

argparse's other words (its error details, e.g. "invalid choice: 'fr' (choose from ...)") stay English:
they come from Python's own "argparse" catalog, which a system Python rarely has; only the sentence around
them is ours.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from typing import Any, Final, NoReturn

from wcwidth import wcwidth

from client.i18n import _

# no line starts with these, none ends with the opening ones (a short form of the Japanese and Chinese rules)
_NO_START: Final = frozenset("、。，．・：；！？）」』】〕〉》ー…‥,.:;!?)]}%")
_NO_END: Final = frozenset("（「『【〔〈《([{")
_SPACES: Final = re.compile(r"\s+")


def _width(ch: str) -> int:
    return max(wcwidth(ch), 0)


def _hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"


def _may_break(before: str, after: str) -> bool:
    """Whether a line may break between the characters `before` and `after`."""
    if after == " " or after in _NO_START or before in _NO_END:
        return False
    if before == " ":
        return True
    # Korean separates words with spaces, as English does; Chinese and Japanese do not, so a line may end
    # after any of their characters
    if _hangul(before) or _hangul(after):
        return False
    return _width(before) == 2 or _width(after) == 2


def _units(text: str) -> Iterable[str]:
    """`text` cut where a line may break (a space stays at the end of the unit before it); a Latin or Korean
    word, a number or an option name is one unit."""
    unit = ""
    for ch in text:
        if unit and _may_break(unit[-1], ch):
            yield unit
            unit = ""
        unit += ch
    if unit:
        yield unit


def wrap_columns(text: str, width: int) -> list[str]:
    """`text` (one paragraph) in lines of at most `width` terminal columns (a longer unbreakable unit, such as a
    long option name, gets a line of its own)."""
    lines: list[str] = []
    line, used = "", 0
    for unit in _units(_SPACES.sub(" ", text).strip()):
        size = sum(_width(ch) for ch in unit.rstrip())
        if line and used + size > width:
            lines.append(line.rstrip())
            line, used = "", 0
        line += unit
        used += sum(_width(ch) for ch in unit)
    if line.strip():
        lines.append(line.rstrip())
    return lines


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, wrapping by terminal columns and saying "usage:" in the command's language."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap_columns(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in wrap_columns(text, width - len(indent)))

    def _format_usage(
        self,
        usage: str | None,
        actions: Iterable[argparse.Action],
        groups: Iterable[argparse._MutuallyExclusiveGroup],
        prefix: str | None,
    ) -> str:
        # argparse indents the usage's further lines by the prefix's length in characters: it lays the usage out
        # behind blanks as wide as the prefix in columns ("사용법: " is five characters, nine columns), then puts
        # the prefix in their place
        prefix = _("usage: ") if prefix is None else prefix
        blank = " " * sum(_width(ch) for ch in prefix)
        return prefix + super()._format_usage(usage, actions, groups, blank)[len(blank) :]



class Parser(argparse.ArgumentParser):
    """An ArgumentParser (and, through add_subparsers, each command's) whose headings, -h help and error line
    are in the command's language; built after the language is chosen (client.main.main)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        add_help = kwargs.get("add_help", True)
        kwargs["add_help"] = False  # argparse's -h would say "show this help message and exit" in English
        super().__init__(*args, **kwargs)

        # the two default groups argparse titles with its own words (stable since Python 3.10's "options")
        self._positionals.title = _("positional arguments")
        self._optionals.title = _("options")
        if add_help:
            self.add_argument(
                "-h", "--help", action="help", default=argparse.SUPPRESS, help=_("show this help message and exit")
            )

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, _("{prog}: error: {message}", prog=self.prog, message=message) + "\n")
