"""Serving the application: one listener with connection limits, and a graceful stop on SIGTERM/SIGINT.

What aiohttp's `web.run_app` does, plus what it lacks against hostile clients:
- a cap on open connections per process (`Config.max_connections`, kept below the open-files limit):
  past it a new connection is answered 503 with Retry-After and closed, so accept() never fails for want
  of file descriptors and memory per connection stays bounded;
- one deadline for a connection to deliver a complete request head, from its opening or from its previous
  answer, which also ends idle keep-alive connections (aiohttp's keep-alive timer, started at the opening
  since aiohttp 3.12, closes a connection that has not delivered a whole request by then);
- small limits on a request head (line, field and count), so a slow-header connection holds little;
- no access log (no address or user agent, ever: invariant 4), aiohttp's own error lines without the address
  or a traceback (server/http/quietlog.py), and no version banner (server/app.py).
A body's own deadlines are in server/http/bodies.py. aiohttp exposes its server as a protocol factory
(`web.Server`); this module wraps that factory, which no maintained library does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import json
import logging
import resource
import signal
from collections.abc import Awaitable, Callable
from typing import cast

from aiohttp import web

from server.http.quietlog import quiet_aiohttp_log

log = logging.getLogger("tessera.server")

HEAD_TIMEOUT = 30.0  # seconds for a connection to deliver a whole request head; also the keep-alive idle time
MAX_LINE = 4096  # bytes in the request line (paths and queries are short: ids are 22 characters)
MAX_FIELD = 4096  # bytes in one header field
MAX_HEADERS = 32  # header fields in one request (a client sends about 10, a proxy adds a few)
READ_BUFFER = 16 * 1024  # bytes of a body aiohttp buffers per connection before it stops reading the socket
RECLAIM_INTERVAL = 10.0  # seconds between collections of cyclic garbage (and giving freed memory back)
BACKLOG = 1024  # connections the kernel queues before they are accepted
SPARE_FILES = 64  # file descriptors kept for the database, its WAL, logs and the metrics files
SHUTDOWN_TIMEOUT = 30.0  # seconds for requests in flight to finish at SIGTERM
RETRY_AFTER = 5  # seconds, the hint in a refused connection's answer


def connection_cap(wanted: int) -> int:
    """`wanted`, or fewer when the open-files limit is lower: a soft limit below a finite hard one is first
    raised to it (deploy/tessera-server.service sets both, since its system call filter forbids setrlimit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - SPARE_FILES))


_BUSY_BODY = json.dumps(
    {"error": "busy", "message": f"the server has too many connections open; try again in {RETRY_AFTER} seconds"}
).encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nServer: tessera\r\nContent-Type: application/json\r\n"
    + f"Retry-After: {RETRY_AFTER}\r\nContent-Length: {len(_BUSY_BODY)}\r\nConnection: close\r\n\r\n".encode()
    + _BUSY_BODY
)


class _Refuse(asyncio.Protocol):
    """A connection past the cap: one fixed answer, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's is not an asyncio.Transport subclass: no isinstance check here)
        writer = cast(asyncio.WriteTransport, transport)
        writer.write(_BUSY)
        writer.close()


class CappedFactory:
    """aiohttp's protocol factory, refusing connections past `limit` open ones."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self.server = server
        self.limit = limit
        self.refused = 0

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self.server.connections) >= self.limit:
            self.refused += 1
            return _Refuse()
        return self.server()


def _libc_function(name: str) -> Callable[..., int] | None:
    """A function of glibc's allocator (malloc_trim, mallopt); None on another C library."""
    library = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(library), name, None) if library else None
    except OSError:
        return None


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD = 64 * 1024


def fix_mmap_threshold() -> None:
    """Serve every allocation of 64 KiB or more (socket reads, body pieces) from its own mapping, given back
    to the system when freed. glibc's default raises that threshold as large blocks are freed, after which
    they come from the heap and stay there: a server process idled at 125-140 MiB with it, 80-90 MiB
    without (bench/hostile.py). Call it before the application is built; nothing happens off glibc."""
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


async def reclaim_memory(interval: float = RECLAIM_INTERVAL) -> None:
    """Every `interval` seconds: a full collection of cyclic garbage, then the heap's free pages back to the
    system. A connection that ended badly (a client gone mid-body, a refused body) leaves asyncio transports
    and aiohttp request objects in reference cycles, which hold their buffers until a full collection; with
    the young generation collected rarely (server/main.py: tune_gc), that took minutes under attack, and the
    heap kept the memory after. Start-up objects are frozen (gc.freeze), so a collection takes milliseconds."""
    trim = _libc_function("malloc_trim")
    while True:
        await asyncio.sleep(interval)
        gc.collect()
        if trim is not None:
            trim(0)


def make_runner(app: web.Application) -> web.AppRunner:
    """An AppRunner with the head limits and timeouts above, no access log, and a graceful stop."""
    return web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=HEAD_TIMEOUT,
        max_line_size=MAX_LINE,
        max_field_size=MAX_FIELD,
        max_headers=MAX_HEADERS,
        read_bufsize=READ_BUFFER,  # a connection waiting for room for its body holds at most twice this
        lingering_time=0,  # an answered request's unread body is not drained: the connection closes
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    max_connections: int,
    reuse_port: bool = False,
    started: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve `app` on host:port until SIGTERM or SIGINT; requests in flight then finish (up to 30 s)."""
    quiet_aiohttp_log()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = make_runner(app)
    await runner.setup()  # the application's start-up: database checks
    try:
        assert runner.server is not None
        factory = CappedFactory(runner.server, connection_cap(max_connections))
        listener = await loop.create_server(factory, host, port, backlog=BACKLOG, reuse_port=reuse_port or None)
        reclaiming = asyncio.create_task(reclaim_memory())
        try:
            if started is not None:
                await started()
            await stop.wait()
        finally:
            listener.close()  # no new connections; the runner's cleanup ends the open ones
            reclaiming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reclaiming
    finally:
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
