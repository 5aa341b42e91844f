"""Two middlewares: one renders every error as {"error", "message"}; one authenticates and checks roles."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from keys.errors import EncodingError, TesseraError
from keys.hashing import TAG_DIGEST, PartDigest, digest
from server.errors import (
    BadRequestError,
    ConflictError,
    DirectoryMovedError,
    ForbiddenError,
    GoneError,
    NotFoundError,
    RateLimitedError,
    ServiceError,
    UnauthorizedError,
)
from server.http.keys import PRINCIPAL, RAW_BODY, SERVICES
from server.http.metrics import count_request
from server.http.routes import ROUTES, Handler, Route
from server.services.auth import authenticate
from server.services.context import Principal
from server.storage.db import FIRST_WRITE

log = logging.getLogger("tessera.server")

STATUS: dict[type[ServiceError], int] = {
    BadRequestError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    DirectoryMovedError: 409,
    GoneError: 410,
    RateLimitedError: 429,
}
LARGE_BODY = 1 << 20
_BY_TEMPLATE: dict[tuple[str, str], Route] = {(r.method, r.path): r for r in ROUTES}


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except ServiceError as exc:
        response = error_response(STATUS.get(type(exc), 400), exc.code, exc.message)
    except EncodingError as exc:
        response = error_response(400, "bad_request", str(exc))
    except TesseraError as exc:
        response = error_response(400, "bad_request", str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "http_error")
        response = error_response(exc.status, code, exc.reason)
    except Exception:
        # The traceback goes to the server log only; it never contains request bodies (ciphertext anyway).
        log.exception("unexpected error in %s %s", request.method, _template(request))
        response = error_response(500, "internal", "internal server error")
    count_request(request, _template(request), response.status)
    return response


def _template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    resource = request.match_info.route.resource
    route = _BY_TEMPLATE.get((request.method, resource.canonical)) if resource is not None else None
    if route is None:
        return await handler(request)
    limit = route.max_body or request.app[SERVICES].config.max_body
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    if route.roles is None:
        return await handler(request)
    body_digest: bytes | None = None
    if route.body is bytes:  # raw bytes (attachment parts, many MiB): one buffer, hashed as it arrives
        raw, body_digest = await _read_hashing(request)
        request[RAW_BODY] = raw
        body = b""  # its digest above is what the signature covers
    else:
        body = await request.read()
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
        # a large JSON body (a raised max_body) is hashed off the event loop, which goes on serving others
        if len(body) > LARGE_BODY:
            body_digest = await asyncio.to_thread(digest, body)
    # the path and query exactly as they came in the request line: the bytes the client signed
    raw_path, _, raw_query = request.raw_path.partition("?")
    # a read records its nonce before its handler (an answer may stream); a change records it in its first
    # write, with the change, or else before the answer leaves
    deferred = request.method != "GET"
    admission = await authenticate(
        request.app[SERVICES],
        method=request.method,
        path=raw_path,
        query=raw_query,
        body=body,
        headers=dict(request.headers),
        body_digest=body_digest,
        deferred=deferred,
    )
    if not deferred:
        await admission.settle()
        return await _serve(request, handler, route.roles, admission.principal)
    try:
        token = FIRST_WRITE.set(admission)
        try:
            admission.check_budget()
            response = await _serve(request, handler, route.roles, admission.principal)
        finally:
            FIRST_WRITE.reset(token)
    except Exception:
        if not admission.done:
            await admission.settle(enforce=False, durable=True)  # a replay still answers 401, not the request's error
        raise
    if not admission.done:
        await admission.settle(durable=True)
    return response


async def _serve(request: web.Request, handler: Handler, roles: frozenset[str], principal: Principal) -> web.StreamResponse:
    if principal.role not in roles:
        raise ForbiddenError(f"this needs the role {' or '.join(sorted(roles))}")
    request[PRINCIPAL] = principal
    return await handler(request)


async def _read_hashing(request: web.Request) -> tuple[bytearray, bytes]:
    """Read a raw body into one buffer, hashing each piece as it arrives: no second copy (aiohttp's read()
    joins the pieces, then copies them into bytes) and no second pass to hash it. The buffer grows with what
    arrives, never ahead of it (a declared length alone reserves no memory). Each piece is hashed on the event
    loop, at most a few hundred microseconds for the largest socket read. The caller has checked
    Content-Length against the route's limit; aiohttp ends the body there."""
    size = request.content_length
    if size is None:
        raise BadRequestError("this request needs a Content-Length header")
    buffer = bytearray()
    hasher = PartDigest(TAG_DIGEST, size)
    while len(buffer) < size:
        piece = await request.content.readany()
        if not piece:
            break
        hasher.update(piece)  # refuses more than `size`
        buffer += piece
    if len(buffer) != size:
        raise BadRequestError(f"the request body ended after {len(buffer)} of {size} bytes")
    return buffer, hasher.finish()
