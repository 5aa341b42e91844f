"""Joining with an invite, and making invites (administrators). HTTP through `Api`; crypto from `keys`."""

from __future__ import annotations

from nacl.utils import random

from client.api import Api
from keys.accounts import AccountKeys
from keys.directory import payload_for, sign_payload
from keys.encoding import b64u_decode, b64u_encode
from keys.invites import Grant, Invite, sign_grant
from keys.wire import from_wire, to_wire


async def join(api: Api, invite: Invite, keys: AccountKeys) -> tuple[Grant, int]:
    """Register `keys` with the invite; returns the grant (account name and role) and the directory seq."""
    secret = {"v": 1, "invite_id": b64u_encode(invite.invite_id), "secret": invite.secret}
    grant = from_wire(Grant, (await api.call("POST", "/v1/invites/grant", body=secret, auth=False))["grant"])
    payload = payload_for("account-added", account=grant.account, role=grant.role, keys=keys.public(), grant=grant)
    signature = sign_payload("account-added", payload, keys)
    public = keys.public()
    body = {
        **secret,
        "sign_key": b64u_encode(public.sign_key),
        "box_key": b64u_encode(public.box_key),
        "signature": to_wire(signature),
    }
    answer = await api.call("POST", "/v1/join", body=body, auth=False)
    return grant, int(answer["directory_seq"])


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
    answer = await api.call("POST", "/v1/invites", body=to_wire(grant))
    return Invite(
        v=1,
        server=api.base,
        invite_id=b64u_decode(answer["invite_id"], length=16),
        secret=answer["secret"],
        head_seq=head_seq,
        head_hash=head_hash,
    )
