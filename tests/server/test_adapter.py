"""The adapter (server/http/adapter.py) is the one place a request body is parsed and an answer serialised: no
handler parses its own body or builds its own JSON reply, each takes its route's body type and returns what its
route answers, and an answer with a status its route does not declare is refused (a 500)."""

from __future__ import annotations

import inspect
import json
import logging
import typing
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from keys.encoding import b64u_encode
from keys.errors import EncodingError
from server.http import handlers
from server.http.adapter import AnswerError, Body, Reply, adapt
from server.http.keys import BODY, METRICS, QUIET
from server.http.metrics import Metrics
from server.http.middleware import errors
from server.http.quietlog import QuietLog
from server.http.routes import ROUTES, Route
from server.http.schemas import InviteSecret

# what a handler wrote when it parsed its own body or made its own answer
HANDMADE = ("body_as", "body_with_wire", "body_json", "parse_json", "from_wire", "BODY]", "json_response", "reply(")


def route(method: str, path: str) -> Route:
    return next(r for r in ROUTES if (r.method, r.path) == (method, path))


def test_no_handler_parses_its_body_or_builds_its_answer() -> None:
    for r in ROUTES:
        source = inspect.getsource(r.handler)
        assert not [word for word in HANDMADE if word in source], (r.handler.__name__, source)
    for gone in ("body_as", "body_with_wire", "body_json", "reply"):
        assert not hasattr(handlers, gone), gone


def test_each_handler_takes_its_routes_body_and_returns_its_answer() -> None:
    for r in ROUTES:
        name = r.handler.__name__
        hints = typing.get_type_hints(r.handler)
        params = list(inspect.signature(r.handler).parameters)
        if r.body is None:
            assert params == ["request"], name
        else:
            assert len(params) == 2, name
            body = bytearray if r.body is bytes else r.body  # a bytes route gets the buffer the middleware read
            assert hints[params[1]] == (Body[body] if r.as_sent else body), name  # type: ignore[valid-type]
        if r.response is bytes:
            assert hints["return"] is web.StreamResponse, name
        else:  # a route with two success statuses must say which: its handler returns a Reply
            assert hints["return"] == (Reply if len(r.status) > 1 else dict[str, Any]), name


async def served(r: Route, result: Any, body: bytes | None = None) -> tuple[web.StreamResponse, list[Any]]:
    """What the adapter makes of `result`, returned by a stand-in for `r`'s handler, and the body it handed it."""
    seen: list[Any] = []

    async def handler(request: web.Request, *parsed: Any) -> Any:
        seen.extend(parsed)
        return result

    request = make_mocked_request(r.method, "/")
    if body is not None:
        request[BODY] = body
    return await adapt(replace(r, handler=handler))(request), seen


async def answer(r: Route, result: Any) -> web.StreamResponse:
    return (await served(r, result))[0]


async def test_an_answer_is_compact_json_with_its_routes_status() -> None:
    health, join = route("GET", "/v1/health"), route("POST", "/v1/join")
    response = await answer(health, {"status": "ok", "이름": [1, 2]})
    assert isinstance(response, web.Response) and response.status == 200
    assert response.body == '{"status":"ok","이름":[1,2]}'.encode()
    assert response.content_type == "application/json"
    assert (await answer(replace(join, body=None), {"directory_seq": 3})).status == 201
    assert (await answer(health, Reply({"status": "ok"}, 200))).status == 200


@pytest.mark.parametrize(
    ("method", "path", "result"),
    [
        ("GET", "/v1/health", Reply({"status": "ok"}, 201)),  # a status the route does not declare
        ("POST", "/v1/join", Reply({"directory_seq": 3}, 200)),
        ("POST", "/v1/cases/{case_id}/attachments", Reply({}, 204)),
        ("POST", "/v1/cases/{case_id}/attachments", {}),  # two statuses (200, 201): which one?
        ("GET", "/v1/health", web.json_response({"status": "ok"})),  # a JSON route's handler makes no response
    ],
)
async def test_an_answer_its_route_does_not_declare_is_refused(method: str, path: str, result: Any) -> None:
    with pytest.raises(AnswerError):
        await answer(replace(route(method, path), body=None), result)


async def test_a_streaming_route_returns_its_own_response() -> None:
    stream = web.StreamResponse()
    assert await answer(route("GET", "/v1/cases/{case_id}/attachments/{attachment_id}/chunks"), stream) is stream


async def test_the_body_is_parsed_once_into_the_routes_type() -> None:
    grant = route("POST", "/v1/invites/grant")
    wire = {"v": 1, "invite_id": b64u_encode(bytes(16)), "secret": "s" * 20}
    secret = InviteSecret(v=1, invite_id=bytes(16), secret="s" * 20)
    assert (await served(grant, {}, json.dumps(wire).encode()))[1] == [secret]
    assert (await served(replace(grant, as_sent=True), {}, json.dumps(wire).encode()))[1] == [Body(secret, wire)]
    for bad in (b"{nope", b"[]", b'{"v":1}', json.dumps({**wire, "extra": 1}).encode()):
        with pytest.raises(EncodingError):  # the error middleware's 400; the handler never runs
            await served(grant, {}, bad)


async def test_a_refused_answer_is_a_500(aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    async def wrong(request: web.Request) -> Reply:
        return Reply({"status": "ok"}, 201)

    health = route("GET", "/v1/health")
    app = web.Application(middlewares=[errors])
    app[QUIET], app[METRICS] = QuietLog(logging.getLogger("tessera.test")), Metrics()
    app.router.add_route(health.method, health.path, adapt(replace(health, handler=wrong)))
    client = await aiohttp_client(app)
    async with client.get("/v1/health") as response:
        assert response.status == 500 and (await response.json())["error"] == "internal"
