"""Request bodies: read while counting against the route's limit and a per-process memory budget.

A body is read only after its request's headers passed their checks and its route is known (the
authentication middleware decides when). It is read piece by piece as it arrives: the route's limit is
enforced on what arrived, not on what the headers promise, so a chunked body (no Content-Length) is held
to it as well. Every body being read or handled holds a share of one budget per process
(`Config.body_memory`); a request that finds no room waits a little, then is refused with 503 and a
Retry-After hint, so memory stays bounded whatever the number of connections. A body must also keep
arriving: at least MIN_RATE bytes a second on average after a grace period (a Tor link is 50-500 KB/s),
and no gap longer than IDLE_GAP.

aiohttp reads a whole body with `request.read()` up to one application-wide `client_max_size`, before
any route-specific check and outside any shared budget; nothing in it or in a maintained library shares a
memory budget between requests, hence this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from keys.hashing import TAG_DIGEST, PartDigest

SMALL_BODY = 64 * 1024  # bodies up to this size (intakes, votes, messages) may use the budget's reserve
RESERVE_SHARE = 4  # 1/4 of the budget is kept for small bodies: large and chunked ones cannot take it all
ROOM_WAIT = 5.0  # seconds a request waits for room before it is refused
RETRY_AFTER = 5  # seconds, the hint in a 503's Retry-After
GRACE = 10.0  # seconds before the minimum rate applies
MIN_RATE = 8 * 1024  # bytes a second on average: far below an honest Tor upload, far above a trickle
IDLE_GAP = 30.0  # seconds without a byte after which a body is given up


class RefusedError(Exception):
    """A request refused at the HTTP edge (its body too large, too slow, or no room to read it); the
    connection is closed after the answer, since the rest of the body is never read."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def too_large(limit: int) -> RefusedError:
    return RefusedError(413, "too_large", f"the request body is larger than this route's limit of {limit} bytes")


@dataclass
class BodyBudget:
    """Bytes of request bodies this process may hold at once. A body reserves its declared length (or, when
    chunked, its route's limit) before its first byte is read, and gives it back when its request ends."""

    capacity: int
    held: int = 0
    _room: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def large_capacity(self) -> int:
        return self.capacity - self.capacity // RESERVE_SHARE

    def _fits(self, size: int) -> bool:
        return self.held + size <= (self.capacity if size <= SMALL_BODY else self.large_capacity)

    @contextlib.asynccontextmanager
    async def reserve(self, size: int, *, wait: float | None = None) -> AsyncIterator[None]:
        """Hold `size` bytes for the block; raises RefusedError (503) when no room comes within `wait`
        seconds (ROOM_WAIT)."""
        async with self._room:
            try:
                await asyncio.wait_for(self._room.wait_for(lambda: self._fits(size)), ROOM_WAIT if wait is None else wait)
            except TimeoutError:
                raise RefusedError(
                    503, "busy", f"the server is busy; try again in {RETRY_AFTER} seconds", retry_after=RETRY_AFTER
                ) from None
            self.held += size
        try:
            yield
        finally:
            async with self._room:
                self.held -= size
                self._room.notify_all()


async def read_body(request: web.Request, limit: int, *, hasher: PartDigest | None = None) -> bytearray:
    """The request's body, read as it arrives into one buffer (hashed piece by piece with `hasher`).
    Raises RefusedError past `limit` bytes, when it arrives too slowly (after GRACE seconds, less than
    MIN_RATE bytes a second on average since it began, or a gap of IDLE_GAP seconds), or when it ends short
    of its Content-Length (400)."""
    declared = request.content_length
    started = time.monotonic()
    buffer = bytearray()
    try:
        while True:
            # the time by which what arrived so far stops being enough
            wait = min(IDLE_GAP, started + GRACE + len(buffer) / MIN_RATE - time.monotonic())
            try:
                if wait <= 0:
                    raise TimeoutError
                async with asyncio.timeout(wait):
                    piece = await request.content.readany()
            except TimeoutError:
                raise RefusedError(
                    408, "too_slow", f"the request body arrived too slowly (less than {MIN_RATE} bytes a second); send it again"
                ) from None
            if not piece:
                break
            if len(buffer) + len(piece) > limit:
                raise too_large(limit)
            if hasher is not None:
                hasher.update(piece)
            buffer += piece
        if declared is not None and len(buffer) != declared:
            raise RefusedError(400, "bad_request", f"the request body ended after {len(buffer)} of {declared} bytes")
    except BaseException:
        # freed now, not when the collector gets to the traceback that holds this frame (a client that went
        # away leaves its exception, and so this frame, in a reference cycle of aiohttp's request objects)
        buffer.clear()
        raise
    return buffer


def raw_hasher(request: web.Request) -> PartDigest:
    """The digest a raw body's signature covers, computed as it arrives; such a body needs its length first."""
    if request.content_length is None:
        raise RefusedError(400, "bad_request", "this request needs a Content-Length header")
    return PartDigest(TAG_DIGEST, request.content_length)
