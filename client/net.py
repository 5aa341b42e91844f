"""The client's connections: through a SOCKS proxy (Tor) when one is given, and one connection of its own for each
intake, so that a live server cannot tie an intake to the account's other requests by their connection or circuit
(protocol doc §10.6).

With Tor, `IsolateSOCKSAuth` (on by default for a SocksPort) puts streams that give different SOCKS usernames and
passwords on different circuits: each intake's session gives a random pair of its own. Without a proxy, an
intake's session is a fresh connection pool, closed after the intake, so no keep-alive connection of the account's
requests carries it.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from client.session import UsageError

TIMEOUT = aiohttp.ClientTimeout(total=120, connect=30)


def connector(proxy: str | None, *, isolation: str | None = None) -> aiohttp.BaseConnector | None:
    """A connector through `proxy` (socks5://HOST:PORT), its own circuit when `isolation` names one; None
    without a proxy (aiohttp's default connector)."""
    if not proxy:
        return None
    try:
        from aiohttp_socks import ProxyConnector
    except ImportError as exc:  # pragma: no cover - a base dependency
        raise UsageError("--proxy needs the aiohttp-socks package") from exc
    url = proxy
    if isolation is not None:
        parts = urlsplit(proxy)
        if parts.username is None:  # a proxy URL with its own credentials keeps them (and its circuits)
            host = parts.netloc
            url = urlunsplit(parts._replace(netloc=f"{quote(isolation, safe='')}:{quote(isolation, safe='')}@{host}"))
    try:
        return ProxyConnector.from_url(url, rdns=True)  # rdns: the proxy resolves names (onion addresses)
    except ValueError as exc:
        raise UsageError(f"--proxy: {exc}") from exc


class Isolation:
    """A connection pool of its own (behind Tor, a circuit of its own) for each case principal, for the life of a
    command or of the app: `Api.as_principal` sends a case's requests through it, never on the account's
    connections. Bounded by the helper's own cases; `close` ends them all."""

    def __init__(self, proxy: str | None) -> None:
        self.proxy = proxy
        self._pools: dict[str, aiohttp.ClientSession] = {}

    def http_for(self, principal: str) -> aiohttp.ClientSession:
        pool = self._pools.get(principal)
        if pool is None or pool.closed:
            pool = aiohttp.ClientSession(connector=connector(self.proxy, isolation=secrets.token_urlsafe(12)), timeout=TIMEOUT)
            self._pools[principal] = pool
        return pool

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()


@contextlib.asynccontextmanager
async def isolated(proxy: str | None) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session of its own for one intake: its own Tor circuit behind a SOCKS proxy, else its own
    connections; closed when the intake is done."""
    label = secrets.token_urlsafe(12)
    async with aiohttp.ClientSession(connector=connector(proxy, isolation=label), timeout=TIMEOUT) as http:
        yield http
