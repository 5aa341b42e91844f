"""A server with no room for a request (503 with Retry-After: the body was not read) is asked again, signed
anew, a few times; then the 503 stands (issue 19: clients back off instead of failing at once)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web

from client import api as api_module
from client.api import Api, ServerBusyError
from keys.accounts import AccountKeys


async def _server(aiohttp_server: Any, busy: int) -> tuple[Any, list[str]]:
    nonces: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        nonces.append(request.headers.get("X-Tessera-Nonce", ""))
        if len(nonces) <= busy:
            return web.json_response({"error": "busy", "message": "no room"}, status=503, headers={"Retry-After": "0"})
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return await aiohttp_server(app), nonces


async def test_a_busy_answer_is_tried_again_signed_anew(aiohttp_server: Any) -> None:
    server, nonces = await _server(aiohttp_server, busy=2)
    async with aiohttp.ClientSession() as http:
        api = Api(str(server.make_url("")), http, keys=AccountKeys.generate(), principal="kim")
        assert await api.call("POST", "/v1/directory/cosignatures", body={"v": 1}) == {"ok": True}
    assert len(nonces) == 3 and len(set(nonces)) == 3


async def test_after_a_few_tries_the_busy_answer_stands(aiohttp_server: Any) -> None:
    server, nonces = await _server(aiohttp_server, busy=100)
    async with aiohttp.ClientSession() as http:
        api = Api(str(server.make_url("")), http, keys=AccountKeys.generate(), principal="kim")
        with pytest.raises(ServerBusyError):
            await api.call("GET", "/v1/health")
    assert len(nonces) == api_module.BUSY_RETRIES + 1
