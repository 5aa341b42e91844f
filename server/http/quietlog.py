"""A log that stays small under attack: at most a few lines of each kind a minute, then one line saying how
many more there were. A client that went away, a body that was too slow: one line each, no traceback, and
no address or user agent (there is none to log: invariant 4).

The standard library's logging has no rate limit of its own, and a dependency for a dozen lines is not
worth it; hence this module.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

LINES_PER_MINUTE = 10  # of each kind
WINDOW = 60.0  # seconds


class QuietLog:
    """Logs through `logger`, each kind (a short name for what happened) at most LINES_PER_MINUTE times a
    window; what it held back is counted and said in one line, when the log is next used in a later window."""

    def __init__(self, logger: logging.Logger, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, kind: str, message: str, *args: object, exc_info: bool = False) -> None:
        window = int(self.clock() // WINDOW)
        if window != self._window:
            for held_kind, held in sorted(self._held.items()):
                self.logger.warning("%d more of these in a minute, not logged one by one: %s", held, held_kind)
            self._window, self._counts, self._held = window, {}, {}
        count = self._counts.get(kind, 0) + 1
        self._counts[kind] = count
        if count <= LINES_PER_MINUTE:
            self.logger.log(level, message, *args, exc_info=exc_info)
        else:
            self._held[kind] = self._held.get(kind, 0) + 1


class AiohttpErrors(logging.Filter):
    """aiohttp logs a request it could not parse ("Error handling request from %s") with the client's address
    and a traceback. Through this filter: what went wrong (the exception's class) in one line, no address
    (invariant 4), no traceback, at most LINES_PER_MINUTE such lines a minute."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._window = -1
        self._count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        window = int(self.clock() // WINDOW)
        if window != self._window:
            self._window, self._count = window, 0
        self._count += 1
        if self._count > LINES_PER_MINUTE:
            return False
        what = record.msg if isinstance(record.msg, str) else "error"
        what = re.sub(r"\s*(?:from\s+)?%[sr]", "", what)  # the client's address, never logged
        cause = type(record.exc_info[1]).__name__ if record.exc_info and record.exc_info[1] is not None else ""
        record.msg, record.args = "aiohttp: %s%s", (what, f" ({cause})" if cause else "")
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def quiet_aiohttp_log() -> None:
    """Put AiohttpErrors on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, AiohttpErrors) for f in logger.filters):
        logger.addFilter(AiohttpErrors())
