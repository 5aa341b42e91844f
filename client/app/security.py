"""What keeps other programs and web pages out of the local app (docs/app.md, "Security").

A local web server is reachable by every program on the machine and, through the browser, by every web page
the person visits. So:

* the opening URL carries a one-time token (valid for OPEN_WINDOW), exchanged on first use for a session
  cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it);
* the Host header must be exactly 127.0.0.1:PORT: a DNS-rebinding page (evil.example resolving to 127.0.0.1)
  sends its own name and is refused;
* a state change (any method but GET and HEAD) needs an Origin header naming this app and the session's CSRF
  token (a form field, or the X-CSRF-Token header for uploads sent by script);
* every answer, refusals included, carries a strict Content-Security-Policy (no inline script, nothing from
  another origin), `Cache-Control: no-store` (nothing decrypted lands in the browser's cache), no referrer to other sites,
  and no framing.

Refusals all answer 403 with a sentence saying what to do, and change nothing. The token, cookie and CSRF
values come from `secrets` (the operating system's random source).
Shown by tests/app/test_security.py.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

COOKIE: Final = "tessera_app"
CSRF_FIELD: Final = "_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
OPEN_PATH: Final = "/open"
OPEN_WINDOW: Final = 10 * 60  # seconds: an opening link not used by then is dead (run `tessera app` again)
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# an attachment shown or downloaded from the app: sandboxed, so even a file a browser would render cannot run here
SANDBOX_CSP: Final = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on its own form posts, which
    # the Origin check must refuse; other sites still get no referrer (and the opening token never is one)
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Gate:
    """The app's secrets for one run: the opening token, the session cookie and the CSRF token.

    `port` is the port the app listens on (known once it is bound); `clock` gives seconds."""

    port: int
    clock: Callable[[], float]
    open_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    session: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    opened: bool = False
    created: float = 0.0

    def __post_init__(self) -> None:
        self.created = self.clock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_url(self) -> str:
        return f"{self.origin}{OPEN_PATH}?token={self.open_token}"

    def redeem(self, token: str) -> bool:
        """True once: for the opening token, unused and within OPEN_WINDOW."""
        if self.opened or self.clock() - self.created > OPEN_WINDOW:
            return False
        if not hmac.compare_digest(token.encode(), self.open_token.encode()):
            return False
        self.opened = True
        return True

    def has_session(self, request: web.Request) -> bool:
        cookie = request.cookies.get(COOKIE, "")
        return self.opened and hmac.compare_digest(cookie.encode(), self.session.encode())

    def csrf_ok(self, value: str) -> bool:
        return hmac.compare_digest(value.encode(), self.csrf.encode())


class Refused(web.HTTPForbidden):
    """A request the gate turned away."""

    def __init__(self, reason: str) -> None:
        super().__init__(text=reason + "\n", content_type="text/plain", headers=HEADERS)


def gate_middleware(gate: Gate) -> Middleware:
    """Host, session cookie, Origin and CSRF checks, in that order, before any handler runs."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.host != f"127.0.0.1:{gate.port}":
            raise Refused(
                f"This address is not the Tessera app. Open the link that `tessera app` printed (it starts with {gate.origin})."
            )
        if request.path == OPEN_PATH and request.method == "GET":
            return await handler(request)
        if not gate.has_session(request):
            raise Refused(
                "This browser has not opened the Tessera app. Open the link that `tessera app` printed; if it was used "
                "already or is older than ten minutes, stop the app and run `tessera app` again."
            )
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("Origin")
            if origin != gate.origin:
                raise Refused("Refused: this request did not come from the Tessera app's own pages.")
            token = request.headers.get(CSRF_HEADER)
            if token is None and request.content_type == "application/x-www-form-urlencoded":
                token = str((await request.post()).get(CSRF_FIELD, ""))
            if token is None or not gate.csrf_ok(token):
                raise Refused("Refused: the page was out of date. Go back, reload the page and try again.")
        return await handler(request)

    return check


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The security headers on every answer, refusals and errors included."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    sandboxed = response.headers.get("Content-Security-Policy") == SANDBOX_CSP
    response.headers.update(HEADERS)
    if sandboxed:  # the one stricter policy a handler may set
        response.headers["Content-Security-Policy"] = SANDBOX_CSP
    return response
