"""Joining with an invite, and making invites (administrators). HTTP through `Api`; crypto from `keys`.

A joining device believes nothing the server says about its invite: the grant (account name and role) must
be signed by an administrator active in the key directory it verified from the invite's pinned head (or by
the server key, for the organisation's first administrator), for this invite, not expired, and for the name
the person typed; only then does the device sign its directory entry (hostile tests:
tests/hostile/test_directory.py::test_a_role_the_server_swapped_at_join_is_refused).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nacl.utils import random

from client.api import Api, ApiError, HostileServerError
from client.directory import at_next_position, position, today, verify_answer
from client.session import UsageError
from keys.accounts import AccountKeys
from keys.directory import DirectoryState, payload_for, sign_next
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import EncodingError, ProofError, TesseraError
from keys.invites import Grant, Invite, sign_grant, verify_grant
from keys.wire import from_wire, to_wire

ATTEMPTS = 5


def check_grant(grant: Grant, invite: Invite, state: DirectoryState, *, name: str | None, today: int) -> None:
    """Raises HostileServerError unless the grant is the one the invite's administrator signed; UsageError when
    the invite is for another name than the one given, or expired."""
    if grant.invite_id != invite.invite_id:
        raise HostileServerError("the server answered the invite with a grant for another invite")
    issuer_key = state.grant_issuer_key(grant)
    if issuer_key is None:
        raise HostileServerError(f"the invite's grant names {grant.issuer or 'the server'} as issuer, who may not invite")
    try:
        verify_grant(grant, issuer_key)
    except ProofError as exc:
        raise HostileServerError("the invite's grant is not signed by the administrator it names (changed on the way)") from exc
    if name is not None and name != grant.account:
        raise UsageError(f"this invite is for the account {grant.account!r}; run join again with --name {grant.account}")
    if grant.expires_day < today:
        raise UsageError("this invite has expired; ask your administrator for a new one")


async def join(
    api: Api,
    invite: Invite,
    keys: AccountKeys,
    *,
    name: str | None,
    now: int,
    before_register: Callable[[Grant], None] = lambda grant: None,
) -> tuple[Grant, int]:
    """Check the invite's grant, then register `keys`; returns the grant and the entry's sequence number.
    `before_register(grant)` runs once the grant checked and before anything is sent that spends the invite
    (the CLI checks the passphrase against the role there). Raises HostileServerError, UsageError,
    DirectoryError or ApiError; nothing is registered unless the grant checks."""
    for attempt in range(ATTEMPTS):
        answer: Any = await api.invite_grant(invite.invite_id, invite.secret)
        grant = from_wire(Grant, answer.get("grant"))
        state, _ = verify_answer(answer.get("directory"), pinned_seq=invite.head_seq, pinned_head=invite.head_hash, now=now)
        check_grant(grant, invite, state, name=name, today=now // 86_400)
        before_register(grant)
        payload = payload_for("account-added", account=grant.account, role=grant.role, keys=keys.public(), grant=grant)
        public = keys.public()
        day = now // 86_400
        body = {
            "v": 2,
            "invite_id": b64u_encode(invite.invite_id),
            "secret": invite.secret,
            "sign_key": b64u_encode(public.sign_key),
            "box_key": b64u_encode(public.box_key),
            **position(state, day),
            "signature": to_wire(sign_next("account-added", payload, keys, state, day=day)),
        }
        try:
            joined = await api.join(body)
        except ApiError as exc:
            if exc.code != "directory_moved" or attempt == ATTEMPTS - 1:
                raise
            continue
        return grant, int(joined["directory_seq"])
    raise AssertionError("unreachable")


async def revoke_account(api: Api, keys: AccountKeys, account: str, *, directory: Callable[[], Awaitable[DirectoryState]]) -> int:
    """Revoke `account` (an administrator, or the account itself), signed for the next position of the verified
    directory (`directory()` fetches and verifies it); returns the entry's sequence number."""
    payload = payload_for("account-revoked", account=account)

    async def post(state: DirectoryState) -> Any:
        day = today()
        signature = sign_next("account-revoked", payload, keys, state, day=day)
        body = {"v": 2, **position(state, day), "signature": to_wire(signature)}
        return await api.revoke(account, body)

    return int((await at_next_position(directory, post))["directory_seq"])


async def make_invite(
    api: Api,
    *,
    admin_name: str,
    admin_keys: AccountKeys,
    account: str,
    role: str,
    today: int,
    head_seq: int,
    head_hash: bytes,
    days: int = 7,
) -> Invite:
    """Sign a grant for `account`, register it, and return the invite string's content."""
    grant = sign_grant(
        invite_id=random(16), account=account, role=role, expires_day=today + days, issuer=admin_name, keys=admin_keys
    )
    answer = await api.create_invite(grant)
    try:
        invite_id = b64u_decode(answer["invite_id"], length=16)
    except (KeyError, TypeError, TesseraError) as exc:
        raise HostileServerError("the server's answer to the new invite is malformed") from exc
    if invite_id != grant.invite_id:
        # else the printed invite would hand over whatever grant the server chose (another account or role)
        raise HostileServerError("the server answered with another invite than the one just signed: nothing to hand out")
    return Invite(
        v=1,
        server=api.base,
        invite_id=invite_id,
        secret=answer["secret"],
        head_seq=head_seq,
        head_hash=head_hash,
    )


async def resign_invites(api: Api, *, admin_name: str, old_sign_key: bytes | None, keys: AccountKeys) -> int:
    """After an administrator's rotation: sign each pending invite this administrator issued again with the new
    `keys` (same invite, account, role and expiry), so invites handed out before the rotation keep working (a
    joining device checks the grant against its issuer's current key). Only grants whose signature checks
    against this administrator's previous key (`old_sign_key`) are signed again: never one the server made up.
    Returns how many were signed again."""
    answer = await api.pending_invites()
    count = 0
    for item in answer.get("invites", []) if isinstance(answer, dict) else []:
        try:
            grant = from_wire(Grant, item.get("grant") if isinstance(item, dict) else None)
            if grant.issuer != admin_name or old_sign_key is None:
                continue
            verify_grant(grant, old_sign_key)
        except (ProofError, EncodingError):
            continue
        again = sign_grant(
            invite_id=grant.invite_id,
            account=grant.account,
            role=grant.role,
            expires_day=grant.expires_day,
            issuer=admin_name,
            keys=keys,
        )
        await api.resign_invite(again)
        count += 1
    return count
