"""One client method per route (issue 21): every route of contract/routes.py is reached by exactly one public
method of client.api.Api, whose docstring names it; and no module of client/ but client/api.py builds a URL of the
API or calls the transport (`call`, `call_json`, `put_bytes`, `put_pieces`, `stream`) itself."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import client.api
from client.api import Api
from contract.routes import ANSWERS, route_of
from keys.errors import EncodingError

ROOT = Path(__file__).resolve().parents[2]
TRANSPORT = {"call", "call_json", "put_bytes", "put_pieces", "stream"}
# the demo waits for the server it started to answer, with the standard library, before any client exists
ALLOWED = {"client/demo.py names /v1/health"}
NOT_ROUTES = {"as_principal", "with_token"}
IDS = {name: bytes([n]) * 16 for n, name in enumerate(("case_id", "request_id", "proposal_id", "invite_id"), 1)}


class Recorder(Api):
    """Records the route each method sends to, and answers nothing."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1", session=None)  # type: ignore[arg-type]  # never sends
        self.sent: list[tuple[str, str]] = []

    def _record(self, method: str, path: str) -> None:
        template = route_of(method, path)
        assert template is not None, f"{method} {path} is no route of the contract"
        self.sent.append((method, template))

    async def call(
        self, method: str, path: str, *, body: Any = None, query: Mapping[str, Any] | None = None, auth: bool = True
    ) -> Any:
        self._record(method, path)
        return {}

    async def call_json(self, method: str, path: str, data: bytes) -> Any:
        self._record(method, path)
        return {}

    async def put_pieces(
        self, path: str, pieces: list[bytes], body_digest: bytes, *, query: Mapping[str, Any] | None = None
    ) -> Any:
        self._record("PUT", path)
        return {}

    async def stream(self, path: str, *, query: Mapping[str, Any] | None = None, block: int = 1 << 20) -> AsyncIterator[bytes]:
        self._record("GET", path)
        yield b""


def _placeholder(annotation: str) -> Any:
    plain = {"bytes": b"\x07" * 16, "str": "someone", "int": 1, "int | None": 1, "str | None": "c", "JSON": {}}
    if annotation in plain:
        return plain[annotation]
    if annotation.startswith("list["):
        return []
    return SimpleNamespace(**IDS)  # a wire object: only its ids are read here (to_wire is replaced)


def _route_methods() -> list[str]:
    return [
        name
        for name, _ in inspect.getmembers(Api, inspect.isfunction)
        if not name.startswith("_") and name not in TRANSPORT | NOT_ROUTES
    ]


async def test_every_route_has_exactly_one_method(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client.api, "to_wire", lambda value: {})
    reached: dict[tuple[str, str], str] = {}
    for name in _route_methods():
        api = Recorder()
        method = getattr(api, name)
        arguments = {
            p.name: _placeholder(str(p.annotation))
            for p in inspect.signature(method).parameters.values()
            if p.default is inspect.Parameter.empty
        }
        result = method(**arguments)
        if inspect.isasyncgen(result):
            async for _ in result:
                pass
        else:
            await result
        assert len(api.sent) == 1, f"Api.{name} sent {api.sent}, not one request"
        route = api.sent[0]
        assert route not in reached, f"Api.{name} and Api.{reached.get(route)} both send {route}"
        reached[route] = name
        doc = inspect.getdoc(getattr(Api, name)) or ""
        assert doc.startswith(f"{route[0]} {route[1]} "), f"Api.{name}'s docstring does not name {route}"
    assert set(reached) == set(ANSWERS), f"routes without a method: {sorted(set(ANSWERS) - set(reached))}"


def test_ids_in_paths_cannot_reach_another_route() -> None:
    """A name from elsewhere (an account, a ceremony id the server named) is one path segment, never more."""
    api = Recorder()
    asyncio.run(api.rotate("../../v1/invites", {}))
    assert api.sent == [("POST", "/v1/accounts/{account}/rotate")]
    for step in ("", ".", ".."):
        with pytest.raises(EncodingError, match="not a name"):
            asyncio.run(api.ceremony_messages(step))
    assert len(api.sent) == 1  # nothing more was sent


def _client_modules() -> list[Path]:
    return [p for p in sorted((ROOT / "client").rglob("*.py")) if p != ROOT / "client" / "api.py"]


def _scan(source: str, where: str) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TRANSPORT:
            problems.append(f"{where}:{node.lineno} calls .{node.func.attr}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("/v1/"):
            problems.append(f"{where}:{node.lineno} names {node.value}")
    return problems


def test_no_client_module_builds_a_url_or_calls_the_transport() -> None:
    problems = [p for path in _client_modules() for p in _scan(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    problems = [p for p in problems if re.sub(r":\d+ ", " ", p) not in ALLOWED]
    assert not problems, "\n".join(problems)


def test_the_scan_finds_a_raw_call() -> None:
    """The scan above can fail: the lines it looks for are found."""
    source = 'async def f(api, x):\n    return await api.call("GET", f"/v1/cases/{x}")\n'
    assert _scan(source, "f.py") == ["f.py:2 calls .call", "f.py:2 names /v1/cases/"]
