"""The hostile relay: a real Tessera server with a rewriting proxy in front of it (../shared/design's
hostile-relay.md, both layers in one).

`Stack` runs the real server (`create_app` on a copy of an organisation's data directory) and the `Relay` on
127.0.0.1, each on its own port, in one background event loop. Clients talk to the relay, through the real
`tessera` CLI (`--server` pointed at the relay) or through the client library. Every request passes through
unchanged unless a test registers a hook that lies:

* `relay.rewrite(method, pattern, fn)`: the server's JSON answer goes through `fn(seen, body) -> body` (drop,
  reorder, replay, inject, substitute a field, say "done" early, serve one person another view);
* `relay.answer(method, pattern, fn)`: `fn(seen) -> (status, body)` answers instead of the server (the server
  never sees the request), or None to forward it after all.

The relay records every request a client sent (`relay.seen`), so a test can assert that nothing secret left
the client: `relay.leaked(secret)` searches every body, path and query for the secret in raw, base64url, and
hex form.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from server.app import create_app
from server.config import default_db_url, load_config

T = TypeVar("T")
HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass(frozen=True)
class Seen:
    """One request as the relay received it from a client."""

    method: str
    path: str
    query: str
    body: bytes
    principal: str | None
    connection: int = 0  # the client's source port: requests with the same one came on one TCP connection

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Rewrite = Callable[[Seen, Any], Any]
Answer = Callable[[Seen], "tuple[int, Any] | None"]


@dataclass
class _Hook:
    method: str
    pattern: re.Pattern[str]
    fn: Callable[..., Any]
    # only for these requests (a split view): a person's name; ANONYMOUS, requests that name nobody (an anonymous
    # submission token's reads: a server cannot tell whose they are, so it must lie to every such reader); CASES,
    # requests signed by any case principal (an intake sent without the account)
    principal: str | tuple[str, ...] | None = None
    hits: int = 0

    def matches(self, seen: Seen) -> bool:
        return (
            self.method in ("*", seen.method)
            and self.pattern.fullmatch(seen.path) is not None
            and principal_matches(self.principal, seen.principal)
        )


ANONYMOUS = "(anonymous)"
CASES = "case:*"


def principal_matches(wanted: str | tuple[str, ...] | None, seen: str | None) -> bool:
    """Whether a request of `seen` (its X-Tessera-Principal, None when it names nobody) is one of `wanted`."""
    if wanted is None:
        return True
    return any(_is(w, seen) for w in ((wanted,) if isinstance(wanted, str) else wanted))


def _is(wanted: str, seen: str | None) -> bool:
    if wanted == ANONYMOUS:
        return seen is None
    if wanted == CASES:
        return seen is not None and seen.startswith("case:")
    return wanted == seen


@dataclass
class Relay:
    """A proxy that forwards to `upstream` and lets a test lie on the server's behalf."""

    upstream: str = ""
    seen: list[Seen] = field(default_factory=list)
    _rewrites: list[_Hook] = field(default_factory=list)
    _answers: list[_Hook] = field(default_factory=list)

    def rewrite(self, method: str, pattern: str, fn: Rewrite, *, principal: str | tuple[str, ...] | None = None) -> _Hook:
        hook = _Hook(method, re.compile(pattern), fn, principal)
        self._rewrites.append(hook)
        return hook

    def answer(self, method: str, pattern: str, fn: Answer, *, principal: str | tuple[str, ...] | None = None) -> _Hook:
        hook = _Hook(method, re.compile(pattern), fn, principal)
        self._answers.append(hook)
        return hook

    def clear(self) -> None:
        self._rewrites.clear()
        self._answers.clear()

    def requests(self, method: str, pattern: str) -> list[Seen]:
        rx = re.compile(pattern)
        return [s for s in self.seen if s.method == method and rx.fullmatch(s.path)]

    def leaked(self, secret: bytes) -> bool:
        """True if any request a client sent carries `secret` (raw, base64url with or without padding, hex)."""
        forms = {
            secret,
            base64.urlsafe_b64encode(secret).rstrip(b"="),
            base64.b64encode(secret).rstrip(b"="),
            secret.hex().encode(),
        }
        for s in self.seen:
            blob = s.body + s.path.encode() + s.query.encode()
            if any(f in blob for f in forms):
                return True
        return False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        seen = Seen(
            request.method,
            request.path,
            request.query_string,
            body,
            request.headers.get("X-Tessera-Principal"),
            connection=int(peer[1]) if peer else 0,
        )
        self.seen.append(seen)
        for hook in self._answers:
            if hook.matches(seen):
                answered = hook.fn(seen)
                if answered is not None:
                    hook.hits += 1
                    status, payload = answered
                    return web.json_response(payload, status=status)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        url = self.upstream + request.path_qs
        session: aiohttp.ClientSession = request.app[SESSION]
        data = io.BytesIO(body) if len(body) > 1 << 20 else (body or None)  # large bodies (attachment parts) as a file
        async with session.request(request.method, url, data=data, headers=headers) as upstream:
            payload = await upstream.read()
            status = upstream.status
            content_type = upstream.headers.get("Content-Type", "application/octet-stream")
        hooks = [h for h in self._rewrites if h.matches(seen)]
        if hooks and content_type.startswith("application/json") and status < 400:
            decoded = json.loads(payload) if payload else {}
            for hook in hooks:
                hook.hits += 1
                decoded = hook.fn(seen, decoded)
            return web.json_response(decoded, status=status)
        return web.Response(body=payload, status=status, headers={"Content-Type": content_type})


SESSION = web.AppKey("session", aiohttp.ClientSession)


def relay_app(relay: Relay) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", relay.handle)

    async def session_ctx(app: web.Application) -> Any:
        async with aiohttp.ClientSession() as session:
            app[SESSION] = session
            yield

    app.cleanup_ctx.append(session_ctx)
    return app


class Stack:
    """The real server on a data directory and the relay in front of it, in a background event loop."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.relay = Relay()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self.url = ""
        self.upstream = ""

    def __enter__(self) -> Stack:
        self._thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the stack's loop (the server's side: its database, its services)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=300)

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        sockets = site._server.sockets  # type: ignore[union-attr]
        return f"http://127.0.0.1:{sockets[0].getsockname()[1]}"

    async def _start(self) -> None:
        # a copied data directory: its configuration still names the original's database file
        config = replace(load_config(self.data), db_url=default_db_url(self.data))
        self.server_app = create_app(config)
        self.upstream = await self._serve(self.server_app)
        self.relay.upstream = self.upstream
        self.url = await self._serve(relay_app(self.relay))

    async def _stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
