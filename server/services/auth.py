"""Request authentication, replay protection and rate limits. Shared state lives in the database, so
several server processes behave as one. Every authentication failure looks the same (one 401)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete

from keys.encoding import b64u_decode
from keys.errors import TesseraError
from keys.hashing import digest
from keys.requests import CASE_PRINCIPAL_PREFIX, AuthHeaders, verify_request
from server.errors import RateLimitedError, UnauthorizedError
from server.services.context import Principal, Services
from server.storage import queries
from server.storage.db import DbSession, together
from server.storage.models import NonceRow, RateRow

NONCE_BUCKET = 600  # seconds: nonce expiry is stored coarsely, never a request's exact time
RATE_WINDOW = 60


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
    """Check who signed the request and that it is fresh; reads only. Its nonce and rate count are recorded
    by the returned Admission, in the request's first write or before its answer; a copy racing it is refused
    there. With `deferred` (recording waits for the handler) a nonce already recorded and a spent budget are
    refused here, before the handler's work; a request recorded at once (a GET) needs neither read."""
    try:
        auth = AuthHeaders.parse(dict(headers))
    except TesseraError:
        raise UnauthorizedError() from None
    now = services.now()
    if abs(now - auth.timestamp) > services.config.clock_skew:
        raise UnauthorizedError()
    async with services.db.read() as session:
        if deferred:
            window = {"principal": auth.principal, "window": now // RATE_WINDOW}
            principal, seen, counted = await together(
                session,
                _lookup(session, auth.principal),
                session.execute(queries.NONCE_SEEN, {"digest": nonce_digest(auth)}),
                session.execute(queries.RATE_READ, window),
            )
            if principal is None or seen.first() is not None:
                raise UnauthorizedError()
            count = counted.scalar_one_or_none() or 0
        else:
            principal, count = await _lookup(session, auth.principal), 0
            if principal is None:
                raise UnauthorizedError()
    try:
        verify_request(principal.sign_key, auth, method=method, path=path, query=query, body=body, body_digest=body_digest)
    except TesseraError:
        raise UnauthorizedError() from None
    return Admission(services, principal, auth, now, spent=count >= services.config.rate_limit)


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
    spent: bool  # this minute's budget was already spent when the request came in (read, not locked)
    done: bool = False  # recorded, or settle() tried

    async def __call__(self, session: DbSession) -> None:
        """In the request's first write block: record, and refuse the write past the rate limit."""
        if await self._record(session) > self.services.config.rate_limit:
            raise self._over_limit()

    async def settle(self, *, enforce: bool = True, durable: bool = False) -> None:
        """Record in a bookkeeping write of its own (the request made none); tried once. With `enforce`, a
        replay is a 401 and a request past the rate limit a 429; else (the request failed already) only a replay.
        With `durable` (a request meant to change state) the record is on disk before the answer leaves, so a
        copy of a refused change stays refused after a crash; a read's joins the next commit (within 10 ms)."""
        self.done = True
        async with self.services.db.write(lock_audit=False, durable=durable) as session:
            count = await self._record(session)
        if enforce and count > self.services.config.rate_limit:
            raise self._over_limit()

    def check_budget(self) -> None:
        """Refuse at once a request whose principal had spent this minute's budget before it came."""
        if self.spent:
            raise self._over_limit()

    async def _record(self, session: DbSession) -> int:
        if await _lookup(session, self.auth.principal) != self.principal:
            raise UnauthorizedError()  # revoked, or its key rotated, since the request was checked
        return await _record_nonce_and_rate(session, self.services, self.auth, self.now)

    def _over_limit(self) -> RateLimitedError:
        return RateLimitedError(f"more than {self.services.config.rate_limit} requests this minute; wait a minute")


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


async def _record_nonce_and_rate(session: DbSession, services: Services, auth: AuthHeaders, now: int) -> int:
    """Store the nonce (refusing a replay) and count the request; returns this minute's count."""
    expires = (now + 2 * services.config.clock_skew) // NONCE_BUCKET + 1
    dialect = "sqlite" if services.db.is_sqlite else "postgresql"
    inserted = await session.execute(queries.NONCE_INSERT[dialect], {"digest": nonce_digest(auth), "expires": expires})
    if inserted.scalar_one_or_none() is None:
        raise UnauthorizedError()
    counted = await session.execute(queries.RATE_UPSERT[dialect], {"principal": auth.principal, "window": now // RATE_WINDOW})
    return int(counted.scalar_one())


ANONYMOUS_PER_MINUTE = 120  # invite checks cost an Argon2id verification each


async def count_anonymous(services: Services, what: str) -> None:
    """A shared per-minute budget for unauthenticated work (invite checks), since no address is kept to
    tell callers apart. Raises RateLimitedError past it."""
    now = services.now()
    dialect = "sqlite" if services.db.is_sqlite else "postgresql"
    async with services.db.write(lock_audit=False, durable=False) as session:
        counted = await session.execute(
            queries.RATE_UPSERT[dialect], {"principal": f"anonymous:{what}", "window": now // RATE_WINDOW}
        )
        count = int(counted.scalar_one())
    if count > ANONYMOUS_PER_MINUTE:
        raise RateLimitedError("too many invite checks this minute; wait a minute and try again")


async def purge_expired(services: Services) -> None:
    """Drop nonces past their window and old rate counters (run periodically)."""
    now = services.now()
    async with services.db.write(lock_audit=False, durable=False) as session:
        await session.execute(delete(NonceRow).where(NonceRow.expires < now // NONCE_BUCKET))
        await session.execute(delete(RateRow).where(RateRow.window < now // RATE_WINDOW - 1))
