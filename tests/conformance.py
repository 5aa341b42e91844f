"""Every answer a handler gives is checked against its route's response schema in /v1/openapi.json
(contract/answers.py): the server tests run their app with this check as its innermost middleware, so
each test that reaches a route also checks what it answered against what the document promises."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
from aiohttp import web

from server.http.openapi import document
from server.http.routes import ROUTES


def validators() -> dict[tuple[str, str, int], Any]:
    """(method, path, status) to a validator of the documented JSON answer; None for a binary answer."""
    doc = document()
    out: dict[tuple[str, str, int], Any] = {}
    for route in ROUTES:
        for status, answer in doc["paths"][route.path][route.method.lower()]["responses"].items():
            if status == "default":
                continue
            schema = answer["content"].get("application/json", {}).get("schema")
            out[(route.method, route.path, int(status))] = (
                None if schema is None else jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]})
            )
    return out


class Conformance:
    def __init__(self) -> None:
        self.validators = validators()
        self.problems: list[str] = []
        self.checked = 0

    def check(self, method: str, path: str, status: int, body: bytes | None) -> None:
        where = f"{method} {path} {status}"
        if (method, path, status) not in self.validators:
            self.problems.append(f"{where}: a status the document does not give for this route")
            return
        validator = self.validators[(method, path, status)]
        if validator is None or body is None:
            return
        errors = [f"{e.message} at {list(e.instance_path)}" for e in validator.iter_errors(json.loads(body))]
        if errors:
            self.problems.append(f"{where}: " + "; ".join(errors[:3]))
        self.checked += 1

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        info = request.match_info.route
        if info.resource is not None and response.status < 300:
            body = response.body if isinstance(response, web.Response) else None
            self.check(info.method, info.resource.canonical, response.status, body if isinstance(body, bytes) else None)
        return response
