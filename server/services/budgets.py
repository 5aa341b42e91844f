"""Request budgets kept in this process's memory only: per principal, and per invite.

Nothing here reaches the database, its WAL or a log: a row naming an account (or a case's reply key) with
the minute it made requests would let a seized disk line a helper's requests up with a case's (invariant 4).
Counts are kept for the current window only, under a keyed hash whose key is drawn afresh (from libsodium)
each window, so not even this process's memory holds a name next to a time past the window it is in.

Each server process keeps its own budgets: with `--workers N` a principal may make up to N times the limit
a minute, spread over the processes. No maintained library counts in memory under rotating keys, and the
rule is a dozen lines; hence this module.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

from nacl.utils import random

RATE_WINDOW = 60  # seconds
_KEY_SIZE = 32


class Budgets:
    """Fixed-window counters: at most `limit` charges per name per window of `window` seconds (the limit is
    passed with each call, so a configuration change applies at once)."""

    def __init__(self, *, window: int = RATE_WINDOW) -> None:
        if window < 1:
            raise ValueError("a budget's window is at least 1 second")
        self.window = window
        self._current = -1
        self._key = b""
        self._counts: dict[bytes, int] = {}

    def charge(self, name: str, now: int, limit: int) -> bool:
        """Count one request of `name`; False when it is past this window's budget."""
        self._roll(now)
        tag = self._tag(name)
        count = self._counts.get(tag, 0) + 1
        self._counts[tag] = count
        return count <= limit

    def __len__(self) -> int:
        return len(self._counts)

    def _roll(self, now: int) -> None:
        window = now // self.window
        if window != self._current:
            self._current, self._key, self._counts = window, random(_KEY_SIZE), {}

    def _tag(self, name: str) -> bytes:
        return hashlib.blake2b(name.encode(), key=self._key, digest_size=16).digest()


INVITE_TRIES_PER_MINUTE = 10  # per invite: a joining device makes two checks (grant, join)
SECRET_CHECKS_AT_ONCE = 1  # Argon2id verifications running at a time (19 MiB each), off the event loop


@dataclass
class Limits:
    """This process's budgets: requests per principal, secret checks per invite."""

    requests: Budgets = field(default_factory=Budgets)
    invites: Budgets = field(default_factory=Budgets)
    secret_checks: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SECRET_CHECKS_AT_ONCE))
