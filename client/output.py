"""Printing: one JSON document with --json, otherwise short readable lines and tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from wcwidth import wcswidth, wcwidth

from client.sanitize import clean

if TYPE_CHECKING:
    from rich.progress import Progress


def emit_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))


def display_width(text: str) -> int:
    """The columns `text` takes in a terminal: two for each wide character (Hangul, Chinese, Japanese), none for
    a combining mark; control characters count as nothing rather than making the width unknown."""
    width = wcswidth(text)
    return width if width >= 0 else sum(max(wcwidth(ch), 0) for ch in text)


def pad(text: str, width: int) -> str:
    """`text` followed by spaces up to `width` columns (str.ljust counts characters, not columns)."""
    return text + " " * max(width - display_width(text), 0)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([display_width(h)] + [display_width(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not cells:
        print("(none)")


_status = {"shown": False}


def progress_line(text: str) -> None:
    """One status line on stderr, rewritten in place (only on a terminal; `progress_done` ends it)."""
    if sys.stderr.isatty():
        print(f"\r{text}\x1b[K", end="", file=sys.stderr, flush=True)
        _status["shown"] = True


def progress_done() -> None:
    if _status["shown"]:
        print(file=sys.stderr, flush=True)
        _status["shown"] = False


def progress(done: int, total: int, what: str) -> None:
    """A one-line progress counter on stderr (only on a terminal)."""
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\r{what}: {done}/{total}", end=end, file=sys.stderr, flush=True)


class ByteProgress:
    """A byte counter for a long transfer, as a context manager: on a terminal one line on stderr with a bar, the
    bytes done, the speed and the time left (rich's progress display, stopped on leaving the block, also on an
    error or ^C); elsewhere nothing, so scripts and logs stay plain. `add` may be called from another thread."""

    def __init__(self, what: str, total: int, *, file: TextIO | None = None, force: bool = False) -> None:
        self.what, self.total, self.done = what, max(total, 1), 0
        stream = file if file is not None else sys.stderr
        self.show = force or stream.isatty()
        self._progress: Progress | None = None
        if self.show:
            # rich loads only when a progress line is shown (a terminal): every other start of `tessera` skips it
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

            console = Console(file=stream, force_terminal=force or None, highlight=False)
            self._progress = Progress(
                TextColumn("{task.description}", markup=False),  # a file name from another person: never markup
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            self._task = self._progress.add_task(clean(what, one_line=True), total=self.total)

    def __enter__(self) -> ByteProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, count: int) -> None:
        self.done += count
        if self._progress is not None:
            self._progress.update(self._task, completed=min(self.done, self.total))
