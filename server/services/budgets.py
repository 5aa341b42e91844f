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
import time
from collections.abc import Awaitable, Callable
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


INVITE_IDS_FRESH = 1.0  # seconds between two reads of the unused invites' ids


class KnownInvites:
    """The ids of the unused invites, read from the database at most once every INVITE_IDS_FRESH seconds. An
    invite check with an id nobody issued (a spray of made-up invites: unauthenticated, as fast as an attacker
    likes) is answered from this list, not with a database read each: the database sees at most one read a second
    from all of them, however many there are.

    An id not in the list waits for a read that begins after it came (up to INVITE_IDS_FRESH), so an invite
    issued before the check is always found, also one another worker issued a moment ago; one this process
    issued is in the list at once (`tests/server/test_invite_spray.py`). A made-up invite is answered within
    about a second: the sprayer waits, not the database."""

    def __init__(self) -> None:
        self._ids: frozenset[bytes] = frozenset()
        self._started = float("-inf")  # when the read that made `_ids` began (monotonic clock)
        self._reading = asyncio.Lock()

    def remember(self, invite_id: bytes) -> None:
        """An invite this process just issued."""
        self._ids = self._ids | {invite_id}

    async def may_exist(self, invite_id: bytes, read: Callable[[], Awaitable[frozenset[bytes]]]) -> bool:
        """Whether `invite_id` is an unused invite's, by a list read after this call began (or a newer one). The
        monotonic clock: a service's clock may be a test's fixed one."""
        if invite_id in self._ids:
            return True
        arrived = time.monotonic()
        wait = self._started + INVITE_IDS_FRESH - arrived
        if wait > 0:
            await asyncio.sleep(wait)
        async with self._reading:  # one read at a time; who waited uses a read that began after they came
            if self._started < arrived:
                self._started = time.monotonic()
                self._ids = await read()
        return invite_id in self._ids


@dataclass
class Limits:
    """This process's budgets: requests per principal, secret checks per invite, reads for made-up invites."""

    requests: Budgets = field(default_factory=Budgets)
    invites: Budgets = field(default_factory=Budgets)
    invite_ids: KnownInvites = field(default_factory=KnownInvites)
    secret_checks: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SECRET_CHECKS_AT_ONCE))
