"""Request authentication, replay protection and rate limits. Shared state lives in the database, so
several server processes behave as one. Every authentication failure looks the same (one 401)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete

from keys.encoding import b64u_decode
from keys.errors import TesseraError
from keys.hashing import digest
from keys.requests import CASE_PRINCIPAL_PREFIX, AuthHeaders, verify_request
from server.errors import RateLimitedError, UnauthorizedError
from server.services.context import Principal, Services
from server.storage import queries
from server.storage.db import DbSession
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
) -> Principal:
    """Check the request signature, its freshness and its nonce; count it against the rate limit."""
    try:
        auth = AuthHeaders.parse(dict(headers))
    except TesseraError:
        raise UnauthorizedError() from None
    now = services.now()
    if abs(now - auth.timestamp) > services.config.clock_skew:
        raise UnauthorizedError()
    # One write block, not waited for (its rows commit with the next state change): who it is (revocation
    # is seen at once), the signature, the nonce, the counter.
    async with services.db.write(lock_audit=False, durable=False) as session:
        principal = await _lookup(session, auth.principal)
        if principal is None:
            raise UnauthorizedError()
        try:
            verify_request(principal.sign_key, auth, method=method, path=path, query=query, body=body, body_digest=body_digest)
        except TesseraError:
            raise UnauthorizedError() from None
        count = await _record_nonce_and_rate(session, services, auth, now)
    if count > services.config.rate_limit:
        raise RateLimitedError(f"more than {services.config.rate_limit} requests this minute; wait a minute")
    return principal


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


async def _record_nonce_and_rate(session: DbSession, services: Services, auth: AuthHeaders, now: int) -> int:
    """Store the nonce (refusing a replay) and count the request; returns this minute's count."""
    nonce_digest = digest(auth.principal.encode() + b"\x00" + auth.nonce)
    expires = (now + 2 * services.config.clock_skew) // NONCE_BUCKET + 1
    dialect = "sqlite" if services.db.is_sqlite else "postgresql"
    inserted = await session.execute(queries.NONCE_INSERT[dialect], {"digest": nonce_digest, "expires": expires})
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
