"""Council membership change without re-encryption (issue 5, item 3; protocol doc §2.8) through the same
mailbox as the key ceremony: an administrator opens it for the new members and threshold; dealing old
members post their commitments and boxed shares; new members (and the old members who approve) sign the new
epoch record; when every new member and k old members have signed, the server appends it to the key
directory, which checks the same rule, and deletes the case-key wraps of members who left."""

from __future__ import annotations

from typing import Any

from nacl.utils import random
from sqlalchemy import select

from keys.ceremony import DkgCommitment, DkgComplaint, DkgKey, DkgShare, check_key, check_share_signature
from keys.council import EpochRecord, Participant
from keys.directory import DirectoryState
from keys.encoding import b64u_encode
from keys.errors import TesseraError
from keys.redistribute import RedistParams, check_recommitment
from keys.wire import encode_json, from_wire, to_wire
from server.errors import BadRequestError, ConflictError, ForbiddenError
from server.services import audit, epochs, rekey
from server.services.cases import council_record
from server.services.context import Principal, Services
from server.storage.models import CeremonyMessageRow, CeremonyRow

OLD_ONLY_SLOT = 1000  # epoch signatures of old members who leave are stored under 1000 + their old index


async def refuse_if_running(session: Any) -> None:
    if (await session.execute(select(CeremonyRow).where(CeremonyRow.state == "running"))).scalars().first() is not None:
        raise ConflictError("a ceremony is running already; finish it first")


def council_participants(state: DirectoryState, members: list[str]) -> list[Participant]:
    """Participants numbered 1..n in the order given; each must be an active council account."""
    participants = []
    for index, name in enumerate(members, start=1):
        account = state.active(name)
        if account is None or account.role != "council":
            raise BadRequestError(f"{name!r} is not an active council account")
        participants.append(Participant(index=index, account=name, sign_key=account.keys.sign_key, box_key=account.keys.box_key))
    return participants


async def open_redistribution(
    services: Services, principal: Principal, *, threshold: int, members: list[str], dealers: list[str] | None
) -> dict[str, Any]:
    principal.require("admin")
    async with services.db.write() as session:
        await refuse_if_running(session)
        await rekey.refuse_if_running(session)
        old = await council_record(services, session)
        state = await services.directory.state(session)
        participants = council_participants(state, members)
        # default dealers: current members whose device still holds the keys the record names (a member who
        # rotated keys cannot sign as a dealer of the old epoch; they receive a new share like a newcomer)
        dealing = dealers or [
            m.account for m in old.members if (acct := state.active(m.account)) is not None and acct.keys.sign_key == m.sign_key
        ]
        by_account = {m.account: m.index for m in old.members}
        unknown = [d for d in dealing if d not in by_account]
        if unknown:
            raise BadRequestError(f"dealers must be members of the current council: {', '.join(unknown)}")
        try:
            params = RedistParams(
                v=2,
                old_digest=old.digest(),
                dealers=tuple(sorted(by_account[d] for d in dealing)),
                epoch=old.epoch + 1,
                threshold=threshold,
                participants=tuple(participants),
                nonce=random(16),
            )
            params.check_against(old)
        except TesseraError as exc:
            raise BadRequestError(str(exc)) from exc
        ceremony_id = random(16)
        session.add(
            CeremonyRow(
                ceremony_id=ceremony_id,
                kind="redistribute",
                params=encode_json(params).decode(),
                state="running",
                day=services.today(),
            )
        )
        await audit.append(
            session,
            day=services.today(),
            actor=principal.name,
            action="ceremony.opened",
            obj=b64u_encode(ceremony_id),
            detail={
                "kind": "redistribute",
                "threshold": threshold,
                "members": members,
                "dealers": dealing,
                "epoch": params.epoch,
            },
        )
    return {"ceremony_id": b64u_encode(ceremony_id), "kind": "redistribute", "params": to_wire(params), "state": "running"}


def roles(params: RedistParams, old: EpochRecord, principal: Principal) -> tuple[int | None, int | None]:
    """(index in the old council, index in the new one) of the caller; refuses an outsider."""
    member = old.member_by_sign_key(principal.sign_key)
    old_index = member.index if member is not None and member.account == principal.name else None
    new_index = next(
        (p.index for p in params.participants if p.account == principal.name and p.sign_key == principal.sign_key), None
    )
    if old_index is None and new_index is None:
        raise ForbiddenError("you are neither in the current council nor in the new one")
    return old_index, new_index


def check_message(params: RedistParams, old: EpochRecord, principal: Principal, kind: str, body: Any) -> tuple[int, int | None]:
    """Shape and signature checks; returns (sender slot, recipient)."""
    old_index, new_index = roles(params, old, principal)
    try:
        if kind in ("commitment", "share"):
            if old_index is None or old_index not in params.dealers:
                raise ForbiddenError("only the dealing members of the current council post commitments and shares")
            if kind == "commitment":
                commitment = from_wire(DkgCommitment, body)
                if commitment.index != old_index:
                    raise BadRequestError("a commitment must carry your own index")
                check_recommitment(params, old, commitment)
                return old_index, None
            share = from_wire(DkgShare, body)
            if share.sender != old_index:
                raise BadRequestError("a share must carry your own index")
            check_share_signature(params.sid, share, old.member(old_index).sign_key)
            params.participant(share.recipient)
            return old_index, share.recipient
        if kind in ("key", "complaint"):
            if new_index is None:
                raise ForbiddenError("only members of the new council post share-encryption keys and complaints")
            if kind == "key":
                key = from_wire(DkgKey, body)
                if key.index != new_index:
                    raise BadRequestError("a share-encryption key must carry your own index")
                check_key(params.sid, key, principal.sign_key)
                return new_index, None
            complaint = from_wire(DkgComplaint, body)
            if complaint.accuser != new_index or complaint.share.recipient != new_index:
                raise BadRequestError("a complaint must carry your own index and a share addressed to you")
            check_share_signature(params.sid, complaint.share, old.member(complaint.accused).sign_key)
            return new_index, None
        if kind == "epoch-signature":
            epochs.check_signature(params.sid, principal.sign_key, body)
            return (new_index if new_index is not None else OLD_ONLY_SLOT + (old_index or 0)), None
    except TesseraError as exc:
        raise BadRequestError(f"{kind} rejected: {exc}") from exc
    raise BadRequestError(f"a redistribution takes key, commitment, share, complaint and epoch-signature messages, not {kind!r}")


async def maybe_finish(services: Services, session: Any, row: CeremonyRow, params: RedistParams, old: EpochRecord) -> None:
    """Published once every new member and k old members have signed (epochs.publish deletes the
    case-key wraps of members who left, in the same transaction)."""
    new_keys = {p.sign_key for p in params.participants}
    old_keys = {m.sign_key for m in old.members}
    state = await services.directory.state(session)
    signed = await epochs.signed_records(session, row.ceremony_id, state.seq + 1, state.head, services.today())
    for record, signatures, at in signed:
        signers = {s.signer for s in signatures}
        if new_keys <= signers and len(signers & old_keys) >= old.threshold:
            await epochs.publish(services, session, row, record, signatures, at, {"kind": "redistribute"})
            return


def visible(
    params: RedistParams, old: EpochRecord, principal: Principal, rows: list[CeremonyMessageRow]
) -> tuple[list[CeremonyMessageRow], int | None, int | None]:
    old_index, new_index = roles(params, old, principal)
    shown = [
        r
        for r in rows
        if r.recipient is None
        or r.recipient == new_index
        or (r.kind == "share" and old_index is not None and r.sender == old_index)
    ]
    return shown, old_index, new_index
