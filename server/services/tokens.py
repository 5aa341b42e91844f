"""Anonymous submission tokens on the server (protocol doc §10.6): the token key of each period, published in
the key directory; issuance to signed-in helpers within a budget; a token spent once per intake.

The server sees, at issuance, which helper asked for how many tokens (blinded: it cannot recognise them
later) and, at an intake, a token that it can check but not trace back to its issuance. So it stores no link
between a helper and a case. A token key is generated when its period begins, kept in the database (whoever
holds it can mint tokens, i.e. send intakes: no reading anything) and published, signed by the server key, so
every client checks that its tokens come from the one key of the period, not a key made for it alone.
"""

from __future__ import annotations

from sqlalchemy import delete, select
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
            return load_pair(epoch, row.secret)
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


async def spend(services: Services, session: DbSession, token: Token, case_id: bytes) -> None:
    """Admit one intake for `case_id` with `token` (in the intake's own transaction): the token must be made
    under this period's or the previous period's key, and not spent on another case. The same token for the
    same case again is a retry and passes. Raises UnauthorizedError (all causes look the same)."""
    current = token_epoch(services.today())
    rows = (
        (await session.execute(select(TokenKeyRow).where(TokenKeyRow.epoch >= current - 1, TokenKeyRow.epoch <= current)))
        .scalars()
        .all()
    )
    pair = next((p for p in (load_pair(r.epoch, r.secret) for r in rows) if p.key_id == token.key_id), None)
    if pair is None:
        raise UnauthorizedError()
    try:
        check_token(pair, token)
    except CryptoError as exc:
        raise UnauthorizedError() from exc
    nonce = digest(token.nonce)
    spent = await session.get(SpentTokenRow, nonce)
    if spent is not None:
        if spent.case_id != case_id:
            raise UnauthorizedError()
        return
    session.add(SpentTokenRow(nonce=nonce, epoch=pair.epoch, case_id=case_id))


async def purge(services: Services) -> None:
    """Forget token keys, issuance counts and spent tokens of periods no token can be spent in any more."""
    oldest = token_epoch(services.today()) - KEEP_EPOCHS
    async with services.db.write() as session:
        await session.execute(delete(TokenKeyRow).where(TokenKeyRow.epoch < oldest))
        await session.execute(delete(TokenIssuanceRow).where(TokenIssuanceRow.epoch < oldest))
        await session.execute(delete(SpentTokenRow).where(SpentTokenRow.epoch < oldest))
