"""Two middlewares: one renders every error as {"error", "message"} (and counts and times every request);
one authenticates, reads the body within its limits, and checks roles."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from keys.errors import EncodingError, TesseraError
from keys.hashing import digest
from keys.requests import HEADER_PRINCIPAL
from keys.tokens import TOKEN_HEADER
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
from server.http.bodies import RefusedError, raw_hasher, read_body, too_large
from server.http.keys import BODIES, BODY, METRICS, PAID, PRINCIPAL, QUIET, RAW_BODY, SERVICES
from server.http.routes import ROUTES, Route
from server.services.auth import Claim, TokenClaim, check_headers, check_token_headers, check_token_read
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
PUBLIC_BODY = 16 * 1024  # enrolment bodies (an invite secret, new keys and a signature) are well under 2 KiB
_BY_TEMPLATE: dict[tuple[str, str], Route] = {(r.method, r.path): r for r in ROUTES}
GONE_AWAY = (ConnectionError, web.RequestPayloadError)  # the client closed the connection, or broke its chunked body


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except ServiceError as exc:
        response = error_response(STATUS.get(type(exc), 400), exc.code, exc.message)
    except EncodingError as exc:
        response = error_response(400, "bad_request", str(exc))
    except TesseraError as exc:
        response = error_response(400, "bad_request", str(exc))
    except RefusedError as exc:
        response = error_response(exc.status, exc.code, exc.message)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        request.app[QUIET].log(logging.INFO, exc.code, "refused %s %s: %s", request.method, _template(request), exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "http_error")
        response = error_response(exc.status, code, exc.reason)
    except GONE_AWAY as exc:
        # aiohttp keeps this exception on the request's payload, and its traceback holds the frames that read the
        # payload: a reference cycle that would keep the unread body until a full collection. Cut it here.
        exc.__traceback__ = None
        # one line, no traceback: a client that went away is no error of the server's (and nobody reads the answer)
        request.app[QUIET].log(logging.INFO, "gone", "the client went away during %s %s", request.method, _template(request))
        response = error_response(400, "gone_away", "the connection closed before the request was read")
    except Exception:
        # The traceback goes to the server log only; it never contains request bodies (ciphertext anyway).
        request.app[QUIET].log(
            logging.ERROR, "unexpected", "unexpected error in %s %s", request.method, _template(request), exc_info=True
        )
        response = error_response(500, "internal", "internal server error")
    if response.status >= 400 and not request.content.at_eof():
        response.force_close()  # the rest of its body is never read: no lingering on a connection that sends on
    request.app[METRICS].observe(_template(request), response.status, time.perf_counter() - started)
    return response


def _template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Checks a request in the order that spends least on a caller who cannot be authenticated: the route,
    the declared size, the authentication headers (services/auth.py: check_headers), and only then reads
    the body, within the route's limit and the process's body budget, and verifies the signature over it."""
    resource = request.match_info.route.resource
    route = _BY_TEMPLATE.get((request.method, resource.canonical)) if resource is not None else None
    if route is None:
        return await handler(request)
    services = request.app[SERVICES]
    limit = route.max_body or (PUBLIC_BODY if route.roles is None else services.config.max_body)
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    if route.roles is None:
        if route.body is None:
            return await handler(request)
        async with request.app[BODIES].reserve(_reservation(request, limit)), _dropped_after(request):
            request[BODY] = bytes(await read_body(request, limit))
            return await handler(request)
    # a read records its nonce before its handler (an answer may stream); a change records it in its first
    # write, with the change, or else before the answer leaves
    deferred = request.method != "GET"
    claim: Claim | TokenClaim
    if route.tokens == "show" and TOKEN_HEADER in request.headers and HEADER_PRINCIPAL not in request.headers:
        return await _serve(request, handler, route.roles, await check_token_read(services, request.headers))
    if route.tokens == "spend" and TOKEN_HEADER in request.headers:  # a new intake paid with an anonymous token
        claim = await check_token_headers(services, request.headers, request.match_info.get("case_id", ""))
    else:
        claim = await check_headers(services, request.headers, deferred=deferred)
    if route.body is None:
        return await _admitted(request, handler, route, claim, b"", None, deferred)
    async with request.app[BODIES].reserve(_reservation(request, limit)), _dropped_after(request):
        body_digest: bytes | None = None
        if route.body is bytes:  # raw bytes (attachment parts, many MiB): one buffer, hashed as it arrives
            hasher = raw_hasher(request)
            request[RAW_BODY] = await read_body(request, limit, hasher=hasher)
            body_digest, body = hasher.finish(), b""  # its digest is what the signature covers
        else:
            body = bytes(await read_body(request, limit))
            request[BODY] = body
            # a large JSON body (a raised max_body) is hashed off the event loop, which goes on serving others
            if len(body) > LARGE_BODY:
                body_digest = await asyncio.to_thread(digest, body)
        return await _admitted(request, handler, route, claim, body, body_digest, deferred)


@contextlib.asynccontextmanager
async def _dropped_after(request: web.Request) -> AsyncIterator[None]:
    """The body is let go when its reservation is: a request object can outlive its answer (aiohttp's
    request objects form reference cycles, which wait for the collector)."""
    try:
        yield
    finally:
        request.pop(BODY, None)
        raw = request.pop(RAW_BODY, None)
        if raw is not None:
            raw.clear()


def _reservation(request: web.Request, limit: int) -> int:
    return limit if request.content_length is None else request.content_length


async def _admitted(
    request: web.Request,
    handler: Handler,
    route: Route,
    claim: Claim | TokenClaim,
    body: bytes,
    body_digest: bytes | None,
    deferred: bool,
) -> web.StreamResponse:
    # the path and query exactly as they came in the request line: the bytes the client signed
    raw_path, _, raw_query = request.raw_path.partition("?")
    admission = claim.verify(method=request.method, path=raw_path, query=raw_query, body=body, body_digest=body_digest)
    if admission.paid is not None:
        request[PAID] = admission.paid
    assert route.roles is not None
    if not deferred:
        await admission.settle()
        admission.check_budget()
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
            await admission.settle(durable=True)  # a replay still answers 401, not the request's error
        raise
    if not admission.done:
        await admission.settle(durable=True)
    return response


async def _serve(request: web.Request, handler: Handler, roles: frozenset[str], principal: Principal) -> web.StreamResponse:
    if principal.role not in roles:
        raise ForbiddenError(f"this needs the role {' or '.join(sorted(roles))}")
    request[PRINCIPAL] = principal
    return await handler(request)
