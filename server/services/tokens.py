"""Anonymous submission tokens on the server (protocol doc §10.6): the token key of each period, published in
the key directory; issuance to signed-in helpers within a budget; a token spent once per intake.

The server sees, at issuance, which helper asked for how many tokens (blinded: it cannot recognise them
later) and, at an intake, a token that it can check but not trace back to its issuance. So it stores no link
between a helper and a case. A token key is generated when its period begins, kept in the database (whoever
holds it can mint tokens, i.e. send intakes: no reading anything) and published, signed by the server key, so
every client checks that its tokens come from the one key of the period, not a key made for it alone.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from keys.directory import TOKEN_EPOCH_DAYS, payload_for
from keys.errors import CryptoError
from keys.hashing import digest
from keys.tokens import IssueRequest, IssueResponse, Token, TokenKeyPair, check_token, generate_token_key, issue_tokens
from keys.tokens import load_token_key as load_pair
from server.errors import ConflictError, RateLimitedError, UnauthorizedError
from server.services import audit
from server.services.context import Principal, Services
from server.services.directory import append_entry
from server.storage import queries
from server.storage.db import DbSession
from server.storage.models import SpentTokenRow, TokenIssuanceRow, TokenKeyRow

KEEP_EPOCHS = 2  # a token key, its issuance counts and its spent tokens are kept this many periods


def token_epoch(day: int) -> int:
    return day // TOKEN_EPOCH_DAYS


async def ensure_token_key(services: Services) -> TokenKeyPair:
    """The token key of the current period, generated and published in the key directory if it is new."""
    epoch = token_epoch(services.today())
    for _ in range(3):
        async with services.db.read() as session:
            row = await session.get(TokenKeyRow, epoch)
        if row is not None:
            pair = services.token_keys[epoch] = load_pair(epoch, row.secret)
            return pair
        pair = generate_token_key(epoch)
        try:
            async with services.db.write() as session:
                if await session.get(TokenKeyRow, epoch) is not None:
                    continue  # another process made it meanwhile
                session.add(TokenKeyRow(epoch=epoch, secret=pair.secret_bytes()))
                entry, _ = await append_entry(
                    session,
                    kind="token-key",
                    payload=payload_for("token-key", token_key=pair.public),
                    day=services.today(),
                    signers=[services.server_keys],
                )
                await audit.append(
                    session,
                    day=services.today(),
                    actor="server",
                    action="tokens.key",
                    obj=f"token period {epoch}",
                    detail={"directory_seq": entry.seq},
                )
            services.token_keys[epoch] = pair
            return pair
        except IntegrityError:
            continue  # another process made it meanwhile
    raise ConflictError("the token key of this period could not be made; try again")


async def issue(services: Services, principal: Principal, request: IssueRequest) -> IssueResponse:
    """Evaluate a helper's blinded nonces under the current token key, within the helper's budget per period."""
    principal.require("helper")
    pair = await ensure_token_key(services)
    if request.key_id != pair.key_id:
        raise ConflictError("the token key of this period is another: fetch the key directory (`tessera sync`) and ask again")
    async with services.db.write() as session:
        row = await session.get(TokenIssuanceRow, (principal.name, pair.epoch))
        used = row.count if row is not None else 0
        if used + len(request.blinded) > services.config.token_budget:
            raise RateLimitedError(
                f"this account's {services.config.token_budget} submission tokens for this period are used "
                f"({used} issued); they come back next period"
            )
        if row is None:
            session.add(TokenIssuanceRow(account=principal.name, epoch=pair.epoch, count=len(request.blinded)))
        else:
            row.count = used + len(request.blinded)
        await audit.append(
            session, day=services.today(), actor=principal.name, action="tokens.issued", detail={"count": len(request.blinded)}
        )
    return issue_tokens(pair, request)


async def valid_key(services: Services, token: Token) -> TokenKeyPair:
    """The token key (this period's or the previous one's) `token` was issued under, checked: a request that
    brings a token is admitted only with this, before its body is read. Keys are kept in memory once loaded.
    Raises UnauthorizedError (all causes look the same)."""
    current = token_epoch(services.today())
    for epoch in (current, current - 1):
        pair = services.token_keys.get(epoch)
        if pair is None:
            async with services.db.read() as session:
                row = await session.get(TokenKeyRow, epoch)
            if row is None:
                continue
            pair = services.token_keys[epoch] = load_pair(row.epoch, row.secret)
        if pair.key_id == token.key_id:
            try:
                check_token(pair, token)
            except CryptoError as exc:
                raise UnauthorizedError() from exc
            return pair
    raise UnauthorizedError()


async def spend(services: Services, session: DbSession, pair: TokenKeyPair, token: Token, case_id: bytes) -> None:
    """Spend `token` (checked by `valid_key`) on `case_id`, in the intake's own write (a merged group commit on
    PostgreSQL: these are merged statements, storage/merge.py), before the case row: the same token for the
    same case again is a retry and passes; for another case it raises UnauthorizedError and nothing was written."""
    dialect = "sqlite" if services.db.is_sqlite else "postgresql"
    nonce = digest(token.nonce)
    spent = await session.execute(queries.TOKEN_SPEND[dialect], {"nonce": nonce, "epoch": pair.epoch, "case_id": case_id})
    if spent.one_or_none() is not None:
        return
    earlier = (await session.execute(queries.TOKEN_SPENT, {"nonce": nonce})).scalar_one_or_none()
    if earlier != case_id:
        raise UnauthorizedError()


async def spent_on_another_case(services: Services, token: Token, case_id: bytes) -> bool:
    """Whether `token` was spent on another case already (a read before the body is taken in)."""
    async with services.db.read() as session:
        earlier = (await session.execute(queries.TOKEN_SPENT, {"nonce": digest(token.nonce)})).scalar_one_or_none()
    return earlier is not None and earlier != case_id


async def purge(services: Services) -> None:
    """Forget token keys, issuance counts and spent tokens of periods no token can be spent in any more."""
    oldest = token_epoch(services.today()) - KEEP_EPOCHS
    for epoch in [e for e in services.token_keys if e < oldest]:
        del services.token_keys[epoch]
    async with services.db.write() as session:
        await session.execute(delete(TokenKeyRow).where(TokenKeyRow.epoch < oldest))
        await session.execute(delete(TokenIssuanceRow).where(TokenIssuanceRow.epoch < oldest))
        await session.execute(delete(SpentTokenRow).where(SpentTokenRow.epoch < oldest))
