"""HTTP only: signed requests to a Tessera server. No crypto beyond signing, no files, no printing."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError
from yarl import URL

from contract.parse import check_answer
from contract.routes import ANSWERS, route_of
from keys.accounts import AccountKeys
from keys.errors import EncodingError
from keys.requests import CASE_PRINCIPAL_PREFIX, sign_request
from keys.tokens import TOKEN_HEADER, Token, token_header

# ProxyError: the SOCKS proxy (Tor) is not running, or refuses or cannot reach the server
_CONNECTION_ERRORS = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
    OSError,
    ProxyError,
    ProxyConnectionError,
    ProxyTimeoutError,
)


class ApiError(Exception):
    """The server answered with an error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status, self.code, self.message = status, code, message


class HostileServerError(Exception):
    """The server sent something that this device's verified records contradict: it lied."""


class MalformedAnswerError(HostileServerError):
    """The server's answer does not have its route's shape (contract/routes.py): a field missing or of another
    type. Refused before any of it is used, as a lie: an honest server answers as its contract says."""


class ServerUnreachableError(Exception):
    """The server did not answer."""


class ServerBusyError(ApiError):
    """The server had no room for the request now (503) and said when to try again."""

    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(503, "busy", message)
        self.retry_after = retry_after


BUSY_RETRIES = 3  # a 503 with Retry-After is tried again this often (the server read nothing of the request)
BUSY_WAIT_MAX = 30.0

class Api:
    """One principal talking to one server. `principal` is an account name or `case:<id>` (reply key)."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        keys: AccountKeys | None = None,
        principal: str | None = None,
        clock: Callable[[], float] = time.time,
        token: Token | None = None,
        isolate: Callable[[str], aiohttp.ClientSession] | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.session = session
        self.keys = keys
        self.principal = principal
        self.clock = clock
        self.token = token  # an anonymous submission token sent with every request (X-Tessera-Token)
        # a case principal's requests go on connections of their own (client/net.py Isolation), never on the
        # account's: the server cannot tie a case to its helper by the connection (protocol doc §10.6)
        self.isolate = isolate

    def as_principal(self, principal: str, keys: AccountKeys) -> Api:
        http = self.session
        if self.isolate is not None and principal.startswith(CASE_PRINCIPAL_PREFIX):
            http = self.isolate(principal)
        return Api(self.base, http, keys=keys, principal=principal, clock=self.clock, token=self.token, isolate=self.isolate)

    def with_token(self, token: Token) -> Api:
        """This principal (or none: a read the token alone admits) with `token` on every request."""
        return Api(
            self.base, self.session, keys=self.keys, principal=self.principal, clock=self.clock, token=token, isolate=self.isolate
        )

    async def call(
        self, method: str, path: str, *, body: Any = None, query: Mapping[str, Any] | None = None, auth: bool = True
    ) -> Any:
        data = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return await self._when_room(lambda: self._send(method, path, data, dict(headers), query, auth=auth))

    async def call_json(self, method: str, path: str, data: bytes) -> Any:
        """A signed request whose body is `data`, JSON bytes sent as they are (an intake as it was sealed: the
        bytes the receipt digests are the bytes this device kept, never decoded and encoded again)."""
        headers = {"Content-Type": "application/json"}
        return await self._when_room(lambda: self._send(method, path, data, dict(headers), None, auth=True))

    async def put_bytes(self, path: str, data: bytes, *, query: Mapping[str, Any] | None = None) -> Any:
        """A signed PUT of raw bytes; answers JSON."""
        headers = {"Content-Type": "application/octet-stream"}
        return await self._when_room(lambda: self._send("PUT", path, data, dict(headers), query, auth=True))

    async def _when_room(self, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """Send again (signed anew) after the server's Retry-After when it answered 503 for lack of room,
        a few times; then the 503 stands."""
        for n in range(BUSY_RETRIES + 1):
            try:
                return await attempt()
            except ServerBusyError as exc:
                if n == BUSY_RETRIES:
                    raise
                await asyncio.sleep(min(max(exc.retry_after, 0.1), BUSY_WAIT_MAX))
        raise AssertionError("unreachable")

    async def put_pieces(
        self, path: str, pieces: list[bytes], body_digest: bytes, *, query: Mapping[str, Any] | None = None
    ) -> Any:
        """A signed PUT whose body is `pieces` sent one after the other (attachment chunks), never joined
        into one copy; `body_digest` is `digest_pieces(pieces)`, computed by the caller (off the loop)."""

        async def body() -> AsyncIterator[bytes]:
            for piece in pieces:
                yield piece

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(sum(len(p) for p in pieces))}
        return await self._when_room(
            lambda: self._send("PUT", path, body(), dict(headers), query, auth=True, body_digest=body_digest)
        )

    async def stream(self, path: str, *, query: Mapping[str, Any] | None = None, block: int = 1 << 20) -> AsyncIterator[bytes]:
        """A signed GET whose answer is read as a stream of blocks (attachment downloads).

        Raises ApiError for an error answer and ServerUnreachableError when the connection fails or the
        answer is cut short."""
        url, headers = self._prepare("GET", path, b"", {}, query, auth=True)
        try:
            # no total time limit: a large download takes as long as it takes, but a stalled one fails
            timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_read=120)
            async with self.session.get(url, headers=headers, timeout=timeout) as response:
                if response.status >= 400:
                    self._raise_for(response.status, await response.read())
                async for data in response.content.iter_chunked(block):
                    yield data
        except _CONNECTION_ERRORS as exc:
            raise ServerUnreachableError(f"cannot reach {self.base}: {exc.__class__.__name__}") from exc

    def _prepare(
        self,
        method: str,
        path: str,
        data: bytes,
        headers: dict[str, str],
        query: Mapping[str, Any] | None,
        *,
        auth: bool,
        body_digest: bytes | None = None,
    ) -> tuple[URL, dict[str, str]]:
        query_string = urlencode({k: v for k, v in (query or {}).items() if v is not None})
        if self.token is not None:
            headers[TOKEN_HEADER] = token_header(self.token)
        if auth and self.principal is None and self.token is not None:
            pass  # a read admitted by the token alone (GET /v1/directory)
        elif auth:
            if self.keys is None or self.principal is None:
                raise ValueError("this request needs an account")
            signed = sign_request(
                self.keys,
                principal=self.principal,
                method=method,
                path=path,
                query=query_string,
                body=data,
                timestamp=int(self.clock()),
                body_digest=body_digest,
            )
            headers.update(signed.as_dict())
        url = URL(self.base + path + (f"?{query_string}" if query_string else ""), encoded=True)
        return url, headers

    async def _send(
        self,
        method: str,
        path: str,
        data: bytes | AsyncIterator[bytes],
        headers: dict[str, str],
        query: Mapping[str, Any] | None,
        *,
        auth: bool,
        body_digest: bytes | None = None,
    ) -> Any:
        if not isinstance(data, bytes) and body_digest is None:
            raise ValueError("a streamed body needs its digest to be signed")
        signed_body = data if isinstance(data, bytes) else b""
        url, headers = self._prepare(method, path, signed_body, headers, query, auth=auth, body_digest=body_digest)
        body: bytes | io.BytesIO | AsyncIterator[bytes] | None = data
        if isinstance(data, bytes):
            # a large body goes as a file object, which aiohttp writes in pieces without blocking the loop
            body = (io.BytesIO(data) if len(data) > 1 << 20 else data) or None
        try:
            async with self.session.request(method, url, data=body, headers=headers) as response:
                payload = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except _CONNECTION_ERRORS as exc:
            raise ServerUnreachableError(f"cannot reach {self.base}: {exc.__class__.__name__}") from exc
        if status == 503 and retry_after is not None and retry_after.isdigit():
            raise ServerBusyError(float(retry_after), "the server is busy")
        if status >= 400:
            self._raise_for(status, payload)
        try:
            answer = json.loads(payload) if payload else {}
        except ValueError:
            raise ApiError(status, "bad_response", payload[:200].decode("utf-8", "replace")) from None
        check(method, path, status, answer)
        return answer

    @staticmethod
    def _raise_for(status: int, payload: bytes) -> None:
        try:
            decoded = json.loads(payload) if payload else {}
            if not isinstance(decoded, dict):
                raise ValueError
        except ValueError:
            decoded = {"error": "bad_response", "message": payload[:200].decode("utf-8", "replace")}
        raise ApiError(status, str(decoded.get("error", "error")), str(decoded.get("message", "")))


def check(method: str, path: str, status: int, answer: Any) -> None:
    """Raise MalformedAnswerError unless `answer` (a success) is what its route answers (contract/routes.py)."""
    template = route_of(method, path)
    if template is None:  # a programming error: every path this client calls is in the contract
        raise LookupError(f"{method} {path} is not a route of the API")
    expected = ANSWERS[(method, template)]
    where = f"the server's answer to {method} {template}"
    if status not in expected.status:
        raise MalformedAnswerError(f"{where} has status {status}, which that route never answers")
    if expected.type is bytes:
        raise LookupError(f"{method} {template} answers bytes: read it with Api.stream")
    try:
        check_answer(expected.type, answer, "answer")
    except EncodingError as exc:
        raise MalformedAnswerError(f"{where} is malformed ({exc})") from None
