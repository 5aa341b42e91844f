"""The one adapter between aiohttp and the handlers: it parses a request's body into its route's declared type
(`Route.body`), calls the route's handler with it, and serialises what the handler returns as the route's answer,
with a success status the route declares (`Route.status`, from contract/routes.py).

A handler is `handler(request)` for a route without a body and `handler(request, body)` for one with a body: the
wire type parsed by `keys.wire.from_wire`, which takes only the canonical wire form (a malformed body is a 400
from the error middleware, before the handler runs); a `bytes` route's body is the buffer the authentication
middleware read and hashed; a route with `as_sent` gets a `Body`, the value with the JSON it was parsed from, for
a service that stores or digests what was signed. The handler returns its answer as a JSON object, answered with
the route's status (the same compact JSON the handlers used to build themselves); the handler of a route with
more than one success status returns a `Reply`, the answer with its status. A status the route does not declare
is a bug, refused (a 500, and a failing test). A streaming answer (the attachment chunk download, a route
answering `bytes`) is the one response object a handler may return itself.

Hand-written: aiohttp calls a handler with the request and takes a response object back. A library that adds
typed bodies to it (aiohttp-pydantic, for one) parses with its own models; every body here is a `keys/` wire type
whose canonical form is what its signature covers, parsed by `from_wire`, which takes these few lines.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiohttp import web

from keys.encoding import parse_json
from keys.wire import from_wire
from server.http.keys import BODY, RAW_BODY

if TYPE_CHECKING:
    from server.http.routes import Route

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Body(Generic[T]):
    """A body parsed into its route's type, with the JSON it was parsed from (a route with `as_sent`)."""

    value: T
    wire: Any


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer with its status, for a route with more than one success status."""

    data: dict[str, Any]
    status: int


class AnswerError(Exception):
    """A handler answered what its route does not declare: a bug in the server (answered 500)."""


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def respond(route: Route, result: dict[str, Any] | Reply) -> web.Response:
    """`result` as compact JSON, with its status, which must be one of the route's."""
    if isinstance(result, Reply):
        data, status = result.data, result.status
    elif len(route.status) == 1:
        data, status = result, route.status[0]
    else:
        raise AnswerError(f"{route.method} {route.path} answers with one of {route.status}: its handler returns a Reply")
    if status not in route.status:
        raise AnswerError(f"{route.method} {route.path} answered {status}, which is not one of {route.status}")
    return web.json_response(data, status=status, dumps=_dumps)


def parse_body(route: Route, request: web.Request) -> Any:
    """The body of `request`, of its route's type (`route.body`), as the route's handler takes it."""
    cls = route.body
    assert cls is not None
    if cls is bytes:
        return request[RAW_BODY]  # read, size-checked and hashed by the authentication middleware
    wire = parse_json(request[BODY], what="request body")  # read by the authentication middleware
    value: Any = from_wire(cls, wire)
    return Body(value, wire) if route.as_sent else value


def adapt(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """aiohttp's handler for `route`: parse its body, call its handler, serialise the answer."""
    handler = route.handler

    async def adapted(request: web.Request) -> web.StreamResponse:
        if route.body is None:
            result = await handler(request)
        else:
            result = await handler(request, parse_body(route, request))
        if isinstance(result, web.StreamResponse):
            if route.response is not bytes:
                raise AnswerError(f"{route.method} {route.path} answers JSON: its handler returns the answer, not a response")
            return result
        return respond(route, result)

    return adapted
