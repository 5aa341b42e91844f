"""Request authentication, replay protection and rate limits. Nonces live in the database, so several
server processes refuse a replay as one; rate budgets live in each process's memory (services/budgets.py),
so no row names who made requests when. Every authentication failure looks the same (one 401).

A request is checked in two steps, so that nothing of its body is read for a caller that cannot be
authenticated: `check_headers` (its headers: a known, unrevoked principal, a fresh time, an unused nonce)
before the body is read, then `Claim.verify` (the signature over the body's digest, and the budget)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete

from keys.encoding import b64u_decode, b64u_encode
from keys.errors import TesseraError
from keys.hashing import digest
from keys.requests import CASE_PRINCIPAL_PREFIX, AuthHeaders, case_principal, verify_request
from keys.tokens import TOKEN_HEADER, Token, TokenKeyPair, parse_token_header
from server.errors import RateLimitedError, UnauthorizedError
from server.services import tokens
from server.services.context import Principal, Services
from server.storage import queries
from server.storage.db import DbSession, together
from server.storage.models import NonceRow, RateRow

NONCE_BUCKET = 600  # seconds: nonce expiry is stored coarsely, never a request's exact time


async def check_headers(services: Services, headers: Mapping[str, str], *, deferred: bool = True) -> Claim:
    """A request's authentication headers, checked before its body is read (reads only): a known, unrevoked
    principal and a time within the allowed skew; with `deferred` (its nonce is recorded after its
    handler's work) also a nonce not recorded already. Raises UnauthorizedError (always the same). Nothing
    here is proof: the signature is checked by `verify`, which also charges the budget, so that only a
    request its principal signed spends it, and a refused one has its nonce recorded (a copy stays refused)."""
    try:
        auth = AuthHeaders.parse(dict(headers))
    except TesseraError:
        raise UnauthorizedError() from None
    now = services.now()
    if abs(now - auth.timestamp) > services.config.clock_skew:
        raise UnauthorizedError()
    async with services.db.read() as session:
        if deferred:  # both reads at once (one round trip on PostgreSQL)
            principal, seen = await together(
                session, _lookup(session, auth.principal), session.execute(queries.NONCE_SEEN, {"digest": nonce_digest(auth)})
            )
            if seen.first() is not None:
                raise UnauthorizedError()
        else:
            principal = await _lookup(session, auth.principal)
        if principal is None:
            raise UnauthorizedError()
    return Claim(services, principal, auth, now)


@dataclass(frozen=True, slots=True)
class Claim:
    """Headers that passed `check_headers`: who the request says it is from, not yet proved."""

    services: Services
    principal: Principal
    auth: AuthHeaders
    now: int

    def verify(self, *, method: str, path: str, query: str, body: bytes, body_digest: bytes | None = None) -> Admission:
        """Check the signature over the request (`body_digest`: digest(body), if known) and charge the
        principal's budget. Raises UnauthorizedError; a request past the budget is admitted with
        `over_limit` set, so that its nonce is still recorded before the 429 (a copy stays refused)."""
        try:
            verify_request(
                self.principal.sign_key, self.auth, method=method, path=path, query=query, body=body, body_digest=body_digest
            )
        except TesseraError:
            raise UnauthorizedError() from None
        within = self.services.limits.requests.charge(self.auth.principal, self.now, self.services.config.rate_limit)
        return Admission(self.services, self.principal, self.auth, self.now, over_limit=not within)


async def authenticate(
    services: Services,
    *,
    method: str,
    path: str,
    query: str,
    body: bytes,
    headers: Mapping[str, str],
    body_digest: bytes | None = None,
    deferred: bool = True,
) -> Admission:
    """`check_headers` and `verify` in one, for a request whose body is at hand."""
    claim = await check_headers(services, headers, deferred=deferred)
    return claim.verify(method=method, path=path, query=query, body=body, body_digest=body_digest)


@dataclass(slots=True, eq=False)
class Admission:
    """An authenticated request whose nonce is not yet recorded.

    A request that changes state records it as the first statements of its first write block, in the same
    transaction (`FIRST_WRITE` in server/storage/db.py): the server process then waits for the database's
    write lock only after the request's checks, so several processes on one SQLite file work in parallel.
    A request that writes nothing, or fails before writing, records it with `settle()` before its answer
    leaves. Either way the account is looked up again inside that write (a revocation or key rotation that
    committed meanwhile refuses the request) and a reused nonce is refused with the same 401.
    """

    services: Services
    principal: Principal
    auth: AuthHeaders
    now: int
    over_limit: bool = False  # past this minute's budget: answered 429 once its nonce is recorded
    done: bool = False  # recorded, or settle() tried
    paid: Paid | None = None  # a new intake admitted by an anonymous token (`check_token_headers`)

    async def __call__(self, session: DbSession) -> None:
        """In the request's first write block: record its nonce (a replay is refused)."""
        await self._record(session)

    async def settle(self, *, durable: bool = False) -> None:
        """Record in a bookkeeping write of its own (the request made none); tried once. A replay is a 401.
        With `durable` (a request meant to change state) the record is on disk before the answer leaves, so a
        copy of a refused change stays refused after a crash; a read's joins the next commit (within 10 ms)."""
        self.done = True
        async with self.services.db.write(lock_audit=False, durable=durable) as session:
            await self._record(session)

    def check_budget(self) -> None:
        """Raises RateLimitedError when the request came past its principal's budget for this minute."""
        if self.over_limit:
            raise _over_limit(self.services)

    async def _record(self, session: DbSession) -> None:
        # a new intake's case principal exists only once its case row is in (a token admitted it)
        if self.paid is None and await _lookup(session, self.auth.principal) != self.principal:
            raise UnauthorizedError()  # revoked, or its key rotated, since the request was checked
        expires = (self.now + 2 * self.services.config.clock_skew) // NONCE_BUCKET + 1
        dialect = "sqlite" if self.services.db.is_sqlite else "postgresql"
        inserted = await session.execute(queries.NONCE_INSERT[dialect], {"digest": nonce_digest(self.auth), "expires": expires})
        if inserted.scalar_one_or_none() is None:
            raise UnauthorizedError()


def _over_limit(services: Services) -> RateLimitedError:
    return RateLimitedError(f"more than {services.config.rate_limit} requests this minute; wait a minute")


@dataclass(frozen=True, slots=True)
class Paid:
    """The anonymous token a new intake came with, checked against its period's key (spent with the intake)."""

    pair: TokenKeyPair
    token: Token


async def check_token_headers(services: Services, headers: Mapping[str, str], case_text: str) -> TokenClaim:
    """A new intake's headers (protocol doc §10.6): principal `case:<id>` of the case in the path, a fresh time,
    an unused nonce, and an anonymous submission token (`X-Tessera-Token`) valid under this or the previous
    period's key and not spent on another case; all checked before the body is read, so a caller without a token
    gets nothing read. No account is named: the request is signed with the case's reply key, which is in the
    body (`TokenClaim.verify`). Raises UnauthorizedError (always the same)."""
    try:
        auth = AuthHeaders.parse(dict(headers))
        case_id = b64u_decode(case_text, length=16)
        token = parse_token_header(headers.get(TOKEN_HEADER, ""))
    except TesseraError:
        raise UnauthorizedError() from None
    now = services.now()
    if auth.principal != case_principal(case_id) or abs(now - auth.timestamp) > services.config.clock_skew:
        raise UnauthorizedError()
    pair = await tokens.valid_key(services, token)
    async with services.db.read() as session:
        seen = await session.execute(queries.NONCE_SEEN, {"digest": nonce_digest(auth)})
        if seen.first() is not None:
            raise UnauthorizedError()
    if await tokens.spent_on_another_case(services, token, case_id):
        raise UnauthorizedError()
    return TokenClaim(services, auth, case_id, Paid(pair, token), now)


async def check_token_read(services: Services, headers: Mapping[str, str]) -> Principal:
    """A read admitted by an anonymous submission token (route flag "show": the key directory a helper's device
    verifies right before it seals and sends an intake on that intake's own circuit, so that no signed-in request
    sits next to the intake). The token must be valid under this or the previous period's key; it is not spent
    (the intake spends it). Its reads are budgeted per token. Raises UnauthorizedError or RateLimitedError."""
    try:
        token = parse_token_header(headers.get(TOKEN_HEADER, ""))
    except TesseraError:
        raise UnauthorizedError() from None
    await tokens.valid_key(services, token)
    name = "token:" + b64u_encode(digest(token.nonce))
    if not services.limits.requests.charge(name, services.now(), services.config.rate_limit):
        raise _over_limit(services)
    return Principal(name="token", role="token", sign_key=b"")


@dataclass(frozen=True, slots=True)
class TokenClaim:
    """Headers that passed `check_token_headers`: a paid new intake, its signature not yet checked."""

    services: Services
    auth: AuthHeaders
    case_id: bytes
    paid: Paid
    now: int

    def verify(self, *, method: str, path: str, query: str, body: bytes, body_digest: bytes | None = None) -> Admission:
        """Check the request's signature with the reply signing key the intake envelope in `body` names (the key
        that authenticates everything about the case afterwards). Charges no account's budget: the token is the
        budget (issued within each helper's budget per period). Raises UnauthorizedError."""
        try:
            sign_key = b64u_decode(json.loads(body)["reply_sign_key"], length=32)
            verify_request(sign_key, self.auth, method=method, path=path, query=query, body=body, body_digest=body_digest)
        except (TesseraError, ValueError, KeyError, TypeError):
            raise UnauthorizedError() from None
        principal = Principal(name=self.auth.principal, role="case", sign_key=sign_key, case_id=self.case_id)
        return Admission(self.services, principal, self.auth, self.now, paid=self.paid)


async def _lookup(session: DbSession, name: str) -> Principal | None:
    if name.startswith(CASE_PRINCIPAL_PREFIX):
        try:
            case_id = b64u_decode(name[len(CASE_PRINCIPAL_PREFIX) :], length=16)
        except TesseraError:
            return None
        case = (await session.execute(queries.CASE_REPLY_KEY, {"case_id": case_id})).scalar_one_or_none()
        return None if case is None else Principal(name=name, role="case", sign_key=case, case_id=case_id)
    row = (await session.execute(queries.ACCOUNT_FOR_AUTH, {"name": name})).one_or_none()
    if row is None or row.revoked:
        return None
    return Principal(name=name, role=row.role, sign_key=row.sign_key)


def nonce_digest(auth: AuthHeaders) -> bytes:
    """What is stored of a request's nonce: a digest of (principal, nonce), never the nonce itself."""
    return digest(auth.principal.encode() + b"\x00" + auth.nonce)


async def purge_expired(services: Services) -> None:
    """Drop nonces past their window (run periodically), and any rate-limit rows an earlier server left
    (they named a principal with the minute; budgets are in memory now, services/budgets.py)."""
    now = services.now()
    async with services.db.write(lock_audit=False, durable=False) as session:
        await session.execute(delete(NonceRow).where(NonceRow.expires < now // NONCE_BUCKET))
        await session.execute(delete(RateRow))
