"""Enrolment and revocation. An invite is an administrator's signed grant plus a one-time secret that
the server stores only as an Argon2id hash. Joining proves the secret and possession of the new keys
(the new account signs its own directory entry)."""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass

import argon2
from nacl.utils import random
from sqlalchemy import delete, select

from keys.accounts import AccountPublic
from keys.council import EpochSignature
from keys.directory import payload_for
from keys.encoding import b64u_encode
from keys.errors import ProofError
from keys.invites import SERVER_ISSUER, Grant, sign_grant, verify_grant
from keys.wire import decode_json, encode_json
from server.errors import BadRequestError, ConflictError, ForbiddenError, GoneError, NotFoundError, RateLimitedError
from server.services import audit
from server.services.budgets import INVITE_TRIES_PER_MINUTE
from server.services.context import Principal, Services
from server.services.directory import append_entry
from server.storage.db import deleted_rows
from server.storage.models import AccountRow, InviteRow, WrapRow

INVITE_DAYS = 7
_HASHER = argon2.PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)  # OWASP minimum: secrets are random


@dataclass(frozen=True, slots=True)
class IssuedInvite:
    invite_id: bytes
    secret: str
    grant: Grant


def _date(day: int) -> str:
    """A day number (days since 1970-01-01, how the server keeps dates) as a calendar date."""
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()


def _new_secret() -> str:
    return b64u_encode(random(24))


async def create_invite(services: Services, principal: Principal, grant: Grant) -> IssuedInvite:
    """An administrator's invite: its grant must be signed by the caller and name a new account."""
    principal.require("admin")
    if grant.issuer != principal.name:
        raise BadRequestError("the grant must be issued by the calling administrator")
    if grant.expires_day < services.today() or grant.expires_day > services.today() + 30:
        raise BadRequestError("an invite expires between today and 30 days from now")
    try:
        verify_grant(grant, principal.sign_key)
    except ProofError as exc:
        raise BadRequestError("the grant is not signed by the calling administrator") from exc
    return await _store_invite(services, grant, actor=principal.name)


async def create_first_admin_invite(services: Services, account: str) -> IssuedInvite:
    """At `init`: the server key issues the only invite it may ever issue (for the first administrator)."""
    grant = sign_grant(
        invite_id=random(16),
        account=account,
        role="admin",
        expires_day=services.today() + INVITE_DAYS,
        issuer=SERVER_ISSUER,
        keys=services.server_keys,
    )
    return await _store_invite(services, grant, actor="server")


async def _store_invite(services: Services, grant: Grant, *, actor: str) -> IssuedInvite:
    secret = _new_secret()
    async with services.db.write() as session:
        taken = await session.get(AccountRow, grant.account)
        pending = (
            (await session.execute(select(InviteRow).where(InviteRow.account == grant.account, InviteRow.used.is_(False))))
            .scalars()
            .first()
        )
        if taken is not None:
            raise ConflictError(
                f"the account name {grant.account!r} belongs to an account already (a revoked account keeps its name, so "
                "the key directory stays unambiguous): invite this person under another name"
            )
        if pending is not None and pending.expires_day >= services.today():
            raise ConflictError(
                f"an invite for {grant.account!r} is waiting to be used (until {_date(pending.expires_day)}): give "
                "the person that invite, or invite them under another name; `tessera admin invites` lists pending invites"
            )
        if await session.get(InviteRow, grant.invite_id) is not None:
            raise ConflictError("invite id already used")
        session.add(
            InviteRow(
                invite_id=grant.invite_id,
                account=grant.account,
                role=grant.role,
                grant=encode_json(grant).decode(),
                secret_hash=_HASHER.hash(secret),
                expires_day=grant.expires_day,
                used=False,
            )
        )
        await audit.append(
            session, day=services.today(), actor=actor, action="invite.created", obj=grant.account, detail={"role": grant.role}
        )
    services.limits.invite_ids.remember(grant.invite_id)  # found at once here; other workers at their next read
    return IssuedInvite(grant.invite_id, secret, grant)


async def _valid_invite(services: Services, invite_id: bytes, secret: str) -> InviteRow:
    """The invite, if `secret` is its secret. An invite id nobody issued costs no database read of its own (the
    list of unused ids, read at most once a second: budgets.KnownInvites; such a check waits for the next read)
    and no Argon2id work, so a spray of made-up invites spends nothing a real one needs; checks of a real invite
    have a budget of their own (INVITE_TRIES_PER_MINUTE), which only someone holding its id can spend."""
    if not await services.limits.invite_ids.may_exist(invite_id, lambda: _unused_invite_ids(services)):
        raise NotFoundError(_NO_SUCH_INVITE)
    async with services.db.read() as session:
        row = await session.get(InviteRow, invite_id)
    if row is None:
        raise NotFoundError(_NO_SUCH_INVITE)
    if not services.limits.invites.charge(b64u_encode(invite_id), services.now(), INVITE_TRIES_PER_MINUTE):
        raise RateLimitedError("too many tries of this invite this minute; wait a minute and try again")
    if not await _secret_matches(services, row.secret_hash, secret):
        raise NotFoundError(_NO_SUCH_INVITE)
    if row.used:
        raise GoneError("this invite was used already; ask your administrator for a new one")
    if row.expires_day < services.today():
        raise GoneError("this invite has expired; ask your administrator for a new one")
    return row


_NO_SUCH_INVITE = "no such invite (check that you copied the whole invite)"


async def _unused_invite_ids(services: Services) -> frozenset[bytes]:
    async with services.db.read() as session:
        rows = await session.execute(select(InviteRow.invite_id).where(InviteRow.used.is_(False)))
        return frozenset(rows.scalars().all())


async def _secret_matches(services: Services, stored: str, secret: str) -> bool:
    """Argon2id verification in a thread (it takes tens of milliseconds), one at a time per process."""
    async with services.limits.secret_checks:
        return await asyncio.to_thread(_verify_secret, stored, secret)


def _verify_secret(stored: str, secret: str) -> bool:
    try:
        return _HASHER.verify(stored, secret)
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:  # pragma: no cover - only our own hashes are stored
        return False


async def invite_grant(services: Services, invite_id: bytes, secret: str) -> Grant:
    """What a joining device signs into its directory entry."""
    row = await _valid_invite(services, invite_id, secret)
    return decode_json(Grant, row.grant.encode())


async def join(
    services: Services,
    *,
    invite_id: bytes,
    secret: str,
    keys: AccountPublic,
    signature: EpochSignature,
    at: tuple[int, bytes, int],
) -> int:
    """Register the new account (its signature was made for directory position `at`); returns its sequence number."""
    row = await _valid_invite(services, invite_id, secret)
    grant = decode_json(Grant, row.grant.encode())
    if signature.signer != keys.sign_key:
        raise BadRequestError("the joining signature must be made with the new account's key")
    payload = payload_for("account-added", account=grant.account, role=grant.role, keys=keys, grant=grant)
    async with services.db.write() as session:
        fresh = await session.get(InviteRow, invite_id)
        if fresh is None or fresh.used:
            raise GoneError("this invite was used already; ask your administrator for a new one")
        existing = (await session.execute(select(AccountRow).where(AccountRow.sign_key == keys.sign_key))).scalar_one_or_none()
        if existing is not None:
            raise ConflictError("this device key is registered already")
        entry, _ = await append_entry(
            session, kind="account-added", payload=payload, day=services.today(), signatures=[signature], at=at
        )
        fresh.used = True
        await audit.append(
            session,
            day=services.today(),
            actor=grant.account,
            action="account.joined",
            obj=grant.account,
            detail={"role": grant.role, "directory_seq": entry.seq},
        )
    return entry.seq


async def revoke(
    services: Services, principal: Principal, account: str, signature: EpochSignature, *, at: tuple[int, bytes, int]
) -> int:
    """Revoke an account (administrators; or an account revoking itself, e.g. a lost device)."""
    if principal.role != "admin" and principal.name != account:
        raise ForbiddenError("only an administrator (or the account itself) may revoke an account")
    if signature.signer != principal.sign_key:
        raise BadRequestError("the revocation must be signed by the caller")
    async with services.db.write() as session:
        row = await session.get(AccountRow, account)
        if row is None:
            raise NotFoundError("no such account")
        # a revoked device's case-key wraps go with it (a lost or seized council device opens nothing more here)
        wraps = await session.execute(delete(WrapRow).where(WrapRow.recipient == row.box_key))
        deleted = await deleted_rows(session) if wraps.rowcount else None  # type: ignore[attr-defined]
        entry, _ = await append_entry(
            session,
            kind="account-revoked",
            payload=payload_for("account-revoked", account=account),
            day=services.today(),
            signatures=[signature],
            at=at,
        )
        await audit.append(
            session,
            day=services.today(),
            actor=principal.name,
            action="account.revoked",
            obj=account,
            detail={"directory_seq": entry.seq},
        )
    if wraps.rowcount:  # type: ignore[attr-defined]
        await services.db.purge_wal(deleted)  # no older copy of the deleted wraps may stay in the database files
    return entry.seq


async def rotate(
    services: Services,
    principal: Principal,
    account: str,
    keys: AccountPublic,
    signatures: Sequence[EpochSignature],
    *,
    at: tuple[int, bytes, int],
) -> int:
    """An account replaces its device keys; the directory rule checks both signatures. A council member's
    keys are also named in the council's epoch record: they take effect there with the next membership
    change (`council redistribute` with the same members), after which their case keys are re-wrapped."""
    if principal.name != account:
        raise ForbiddenError("an account rotates only its own keys")
    payload = payload_for("account-rotated", account=account, keys=keys)
    async with services.db.write() as session:
        entry, _ = await append_entry(
            session, kind="account-rotated", payload=payload, day=services.today(), signatures=signatures, at=at
        )
        await audit.append(
            session,
            day=services.today(),
            actor=account,
            action="account.rotated",
            obj=account,
            detail={"directory_seq": entry.seq},
        )
    return entry.seq


async def list_accounts(services: Services, principal: Principal) -> Sequence[AccountRow]:
    principal.require("admin", "council")
    async with services.db.read() as session:
        return (await session.execute(select(AccountRow).order_by(AccountRow.account))).scalars().all()


async def pending_invites(services: Services, principal: Principal) -> list[dict[str, object]]:
    """Invites not used yet and not expired, with their signed grants (never their secrets): administrators'
    `tessera admin invites`, which checks each grant's signature itself."""
    principal.require("admin")
    async with services.db.read() as session:
        query = (
            select(InviteRow)
            .where(InviteRow.used.is_(False), InviteRow.expires_day >= services.today())
            .order_by(InviteRow.expires_day, InviteRow.account)
        )
        rows = (await session.execute(query)).scalars().all()
    return [{"invite_id": b64u_encode(r.invite_id), "expires_day": r.expires_day, "grant": json.loads(r.grant)} for r in rows]


async def resign_invite(services: Services, principal: Principal, invite_id: bytes, grant: Grant) -> None:
    """An administrator who rotated keys signs a pending invite of theirs again with the new keys: the same invite,
    account, role and expiry, so the invite string (and its secret) the person holds keeps working; a joining
    device checks the grant against its issuer's current key."""
    principal.require("admin")
    if grant.invite_id != invite_id or grant.issuer != principal.name:
        raise BadRequestError("the grant must be for this invite and issued by the calling administrator")
    try:
        verify_grant(grant, principal.sign_key)
    except ProofError as exc:
        raise BadRequestError("the grant is not signed by the calling administrator") from exc
    async with services.db.write() as session:
        row = await session.get(InviteRow, invite_id)
        if row is None or row.used or row.expires_day < services.today():
            raise NotFoundError("no pending invite with this id (used or expired)")
        stored = decode_json(Grant, row.grant.encode())
        if (stored.issuer, stored.account, stored.role, stored.expires_day) != (
            grant.issuer,
            grant.account,
            grant.role,
            grant.expires_day,
        ):
            raise BadRequestError("a grant signed again must keep the invite's issuer, account, role and expiry")
        row.grant = encode_json(grant).decode()
        await audit.append(session, day=services.today(), actor=principal.name, action="invite.resigned", obj=grant.account)
