"""HTTP only: signed requests to a Tessera server. No crypto beyond signing, no files, no printing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError
from yarl import URL

from keys.accounts import AccountKeys
from keys.requests import sign_request


class ApiError(Exception):
    """The server answered with an error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status, self.code, self.message = status, code, message


class ServerUnreachableError(Exception):
    """The server did not answer."""


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
    ) -> None:
        self.base = base_url.rstrip("/")
        self.session = session
        self.keys = keys
        self.principal = principal
        self.clock = clock

    def as_principal(self, principal: str, keys: AccountKeys) -> Api:
        return Api(self.base, self.session, keys=keys, principal=principal, clock=self.clock)

    async def call(
        self, method: str, path: str, *, body: Any = None, query: Mapping[str, Any] | None = None, auth: bool = True
    ) -> Any:
        data = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        query_string = urlencode({k: v for k, v in (query or {}).items() if v is not None})
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if auth:
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
            )
            headers.update(signed.as_dict())
        url = URL(self.base + path + (f"?{query_string}" if query_string else ""), encoded=True)
        try:
            async with self.session.request(method, url, data=data or None, headers=headers) as response:
                payload = await response.read()
                status = response.status
        except (
            aiohttp.ClientConnectionError,
            aiohttp.ClientPayloadError,
            TimeoutError,
            OSError,
            ProxyError,
            ProxyConnectionError,
            ProxyTimeoutError,
        ) as exc:
            # ProxyError: the SOCKS proxy (Tor) is not running, or refuses or cannot reach the server
            raise ServerUnreachableError(f"cannot reach {self.base}: {exc.__class__.__name__}") from exc
        try:
            decoded = json.loads(payload) if payload else {}
        except ValueError:
            decoded = {"error": "bad_response", "message": payload[:200].decode("utf-8", "replace")}
        if status >= 400:
            raise ApiError(status, str(decoded.get("error", "error")), str(decoded.get("message", "")))
        return decoded
