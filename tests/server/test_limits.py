"""Limits against hostile clients (issue 19): each one refuses, says why, and changes nothing.
Raw sockets on 127.0.0.1 speak HTTP/1.1 by hand where a client library would not misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading

import pytest
from aiohttp import web

from keys.encoding import b64u_encode
from keys.requests import sign_request
from server.http import bodies, serving
from server.http.bodies import BodyBudget, RefusedError
from server.http.keys import BODIES, SERVICES
from server.http.quietlog import LINES_PER_MINUTE, QuietLog, quiet_aiohttp_log
from tests.support.world import Member, World


async def exchange(world: World, data: bytes, *, then: bytes = b"", pause: float = 0.0, close: bool = False) -> bytes:
    """Send `data` (and after `pause` seconds `then`) on a new connection; what the server answers."""
    reader, writer = await asyncio.open_connection(world.client.server.host, world.client.server.port)
    try:
        writer.write(data)
        await writer.drain()
        if pause:
            await asyncio.sleep(pause)
        if then:
            writer.write(then)
            await writer.drain()
        if close:
            return b""
        return await asyncio.wait_for(reader.read(1 << 16), 20)
    finally:
        writer.close()


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: tessera.test", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def signed(world: World, member: Member, method: str, path: str, body: bytes) -> dict[str, str]:
    now = int(world.clock())
    auth = sign_request(member.keys, principal=member.name, method=method, path=path, query="", body=body, timestamp=now)
    return {**auth.as_dict(), "Content-Type": "application/json"}


def answer_of(raw: bytes) -> tuple[int, dict[str, str], dict[str, str]]:
    head_part, _, body = raw.partition(b"\r\n\r\n")
    lines = head_part.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body) if body else {}


async def audit_length(admin: Member) -> int:
    return len((await admin.api.call("GET", "/v1/audit"))["entries"])


def chunked(pieces: list[bytes]) -> bytes:
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces)


async def test_an_unauthenticated_body_is_never_read(world: World) -> None:
    # a Content-Length of 512 KiB and no body at all: the answer comes at once, from the headers alone
    path = f"/v1/cases/{b64u_encode(bytes(16))}"
    headers = {"X-Tessera-Principal": "nobody", "X-Tessera-Time": str(int(world.clock())),
               "X-Tessera-Nonce": "A" * 22, "X-Tessera-Signature": "A" * 86, "Content-Length": str(512 << 10)}  # fmt: skip
    status, answer_headers, answer = answer_of(await exchange(world, head("PUT", path, headers)))
    assert (status, answer["error"]) == (401, "unauthorized")
    assert answer_headers["Connection"] == "close"  # the body is never read, so the connection ends


async def test_a_chunked_body_is_held_to_the_routes_limit_while_it_is_read(world: World) -> None:
    admin = await world.admin()
    before = await audit_length(admin)
    limit = world.client.app[SERVICES].config.max_body
    path = f"/v1/cases/{b64u_encode(bytes(16))}"
    headers = {**signed(world, admin, "PUT", path, b"x"), "Transfer-Encoding": "chunked"}
    # more than the limit in 64 KiB pieces, never the terminating chunk: refused once the limit is passed
    raw = await exchange(world, head("PUT", path, headers) + chunked([b"x" * 65536] * (limit // 65536 + 2)))
    status, _, answer = answer_of(raw)
    assert (status, answer["error"]) == (413, "too_large") and str(limit) in answer["message"]
    # enrolment routes have a small limit of their own
    raw = await exchange(world, head("POST", "/v1/invites/grant", {"Transfer-Encoding": "chunked"}) + chunked([b"x" * 20000]))
    status, _, answer = answer_of(raw)
    assert (status, answer["error"]) == (413, "too_large") and "16384" in answer["message"]
    assert await audit_length(admin) == before


async def test_a_body_that_stops_arriving_is_given_up(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bodies, "GRACE", 0.3)
    monkeypatch.setattr(bodies, "IDLE_GAP", 0.5)
    admin = await world.admin()
    before = await audit_length(admin)
    path = f"/v1/cases/{b64u_encode(bytes(16))}"
    body = b'{"v":1}' + b" " * 100_000
    headers = {**signed(world, admin, "PUT", path, body), "Content-Length": str(len(body))}
    raw = await exchange(world, head("PUT", path, headers) + body[:10])
    status, _, answer = answer_of(raw)
    assert (status, answer["error"]) == (408, "too_slow") and "too slowly" in answer["message"]
    assert await audit_length(admin) == before


async def test_a_body_that_trickles_in_is_given_up(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # never a long pause (so not the idle gap), but slower than the minimum rate on average
    monkeypatch.setattr(bodies, "GRACE", 0.3)
    monkeypatch.setattr(bodies, "MIN_RATE", 1000)
    admin = await world.admin()
    path = f"/v1/cases/{b64u_encode(bytes(16))}"
    body = b'{"v":1}' + b" " * 100_000
    headers = {**signed(world, admin, "PUT", path, body), "Content-Length": str(len(body))}
    reader, writer = await asyncio.open_connection(world.client.server.host, world.client.server.port)

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            for i in range(0, 300, 10):  # 100 bytes a second for up to 3 s
                writer.write(body[i : i + 10])
                await writer.drain()
                await asyncio.sleep(0.1)

    try:
        writer.write(head("PUT", path, headers))
        sending = asyncio.create_task(trickle())
        status, _, answer = answer_of(await asyncio.wait_for(reader.read(1 << 16), 5))
        sending.cancel()
    finally:
        writer.close()
    assert (status, answer["error"]) == (408, "too_slow")
    # slow but steady, above the minimum rate (a Tor link): read whole and answered for what it is
    small = b'{"v":1}' + b" " * 3000
    headers = {**signed(world, admin, "PUT", path, small), "Content-Length": str(len(small))}
    pieces = [small[i : i + 300] for i in range(0, len(small), 300)]
    raw = await exchange(world, head("PUT", path, headers) + pieces[0], then=b"".join(pieces[1:]), pause=0.4)
    status, _, answer = answer_of(raw)
    assert (status, answer["error"]) == (403, "forbidden")  # an administrator submits no intakes


async def test_no_room_for_a_body_is_a_503_with_a_retry_hint(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bodies, "ROOM_WAIT", 0.2)
    admin = await world.admin()
    before = await audit_length(admin)
    budget = world.client.app[BODIES]
    budget.held = budget.capacity  # every byte of it held by bodies being read
    try:
        async with world.client.post("/v1/invites/grant", data=b"{}") as response:
            assert response.status == 503 and response.headers["Retry-After"] == str(bodies.RETRY_AFTER)
            assert "busy" in (await response.json())["message"]
    finally:
        budget.held = 0
    async with world.client.post("/v1/invites/grant", data=b"{}") as response:
        assert response.status == 400  # room again: read, and refused for what it is
    assert await audit_length(admin) == before


async def test_small_bodies_keep_a_reserve_that_large_ones_cannot_take() -> None:
    budget = BodyBudget(16 << 20)
    async with budget.reserve(budget.large_capacity):
        with pytest.raises(RefusedError) as caught:
            async with budget.reserve(bodies.SMALL_BODY + 1, wait=0.05):
                pass
        assert caught.value.status == 503 and caught.value.retry_after == bodies.RETRY_AFTER
        async with budget.reserve(bodies.SMALL_BODY, wait=0.05):
            assert budget.held == budget.large_capacity + bodies.SMALL_BODY
    assert budget.held == 0


async def test_a_client_that_goes_away_is_one_log_line(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    data = head("POST", "/v1/invites/grant", {"Content-Length": "1000", "Content-Type": "application/json"}) + b'{"v":'
    await exchange(world, data, close=True)
    for _ in range(50):
        await asyncio.sleep(0.02)
        if ours(caplog):
            break
    assert [r.getMessage() for r in ours(caplog)] == ["the client went away during POST /v1/invites/grant"]
    assert not any(r.exc_info for r in ours(caplog))


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tessera.server"]


def test_the_log_stays_bounded() -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("tessera.test.quiet")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(Collect())
    now = [0.0]
    quiet = QuietLog(logger, clock=lambda: now[0])
    for _ in range(1000):
        quiet.log(logging.INFO, "gone", "the client went away")
    assert len(lines) == LINES_PER_MINUTE
    now[0] = 61.0
    quiet.log(logging.INFO, "gone", "the client went away")
    assert lines[LINES_PER_MINUTE:] == [f"{1000 - LINES_PER_MINUTE} more of these in a minute, not logged one by one: gone",
                                        "the client went away"]  # fmt: skip


async def test_no_version_banner(world: World) -> None:
    async with world.client.get("/v1/health") as response:
        assert response.headers["Server"] == "tessera"
    async with world.client.get("/v1/nothing") as response:
        assert response.headers["Server"] == "tessera"
    raw = await exchange(world, b"NOT HTTP AT ALL\r\n\r\n")  # answered by aiohttp's parser, not the app
    assert b"aiohttp" not in raw and b"Python" not in raw


async def ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def served(app: web.Application, limit: int) -> tuple[web.AppRunner, asyncio.AbstractServer, int]:
    runner = serving.make_runner(app)
    await runner.setup()
    assert runner.server is not None
    listener = await asyncio.get_running_loop().create_server(serving.CappedFactory(runner.server, limit), "127.0.0.1", 0)
    return runner, listener, listener.sockets[0].getsockname()[1]


async def test_connections_past_the_cap_are_refused_with_a_reason() -> None:
    await refused_past_the_cap()


def test_connections_past_the_cap_are_refused_with_a_reason_on_uvloop() -> None:
    """The server's own event loop where uvloop is installed (server/main.py): its transports are not
    asyncio.Transport subclasses."""
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed here (the server extra installs it)")
    outcome: dict[str, object] = {}

    def run() -> None:  # in a thread, so a loop that never closes fails the test instead of hanging it
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(refused_past_the_cap())
            outcome["ok"] = True
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert outcome.get("ok"), outcome.get("error", "the uvloop loop did not finish within 60 s")


async def refused_past_the_cap() -> None:
    app = web.Application()
    app.router.add_get("/", ok)
    runner, listener, port = await served(app, 3)
    try:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, answer = answer_of(await asyncio.wait_for(reader.read(4096), 5))
        assert (status, answer["error"], headers["Retry-After"]) == (503, "busy", str(serving.RETRY_AFTER))
        assert "too many connections" in answer["message"]
        writer.close()
        for _, w in held:
            w.close()
        await asyncio.sleep(0.1)  # closed ones make room again
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(4096), 5)).startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        listener.close()
        await runner.cleanup()


async def test_a_request_aiohttp_cannot_parse_is_logged_without_address_or_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_aiohttp_log()
    caplog.set_level(logging.DEBUG)
    app = web.Application()
    app.router.add_get("/", ok)
    runner, listener, port = await served(app, 100)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * (serving.MAX_FIELD + 10) + b"\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    finally:
        listener.close()
        await runner.cleanup()
    assert answer.startswith(b"HTTP/1.1 400") or answer.startswith(b"HTTP/1.0 400")
    lines = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert lines and all("127.0.0.1" not in r.getMessage() and not r.exc_info for r in lines)
    assert lines[0].getMessage().startswith("aiohttp: Error handling request")


async def test_a_request_head_that_never_ends_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving, "HEAD_TIMEOUT", 0.5)
    app = web.Application()
    app.router.add_get("/", ok)
    runner, listener, port = await served(app, 100)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        for _ in range(20):  # a byte every 0.1 s: the connection is closed after 0.5 s all the same
            await asyncio.sleep(0.1)
            if reader.at_eof():
                break
            writer.write(b"a")
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
    finally:
        listener.close()
        await runner.cleanup()
