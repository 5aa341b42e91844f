"""The key-ceremony mailbox: an administrator opens a DKG for named council members and a threshold;
members post round messages (broadcast ones in clear, private shares boxed to one member) and fetch
theirs. The server checks shapes and signatures and can read no share. When every member has signed
the same epoch record, the server appends it to the key directory."""

from __future__ import annotations

import json
from typing import Any

from nacl.utils import random
from sqlalchemy import delete as sql_delete
from sqlalchemy import select

from keys import dkg
from keys.ceremony import DkgCommitment, DkgComplaint, DkgEcho, DkgKey, DkgShare, check_key, check_share_signature
from keys.encoding import b64u_encode, canonical_json
from keys.errors import TesseraError
from keys.redistribute import RedistParams
from keys.wire import decode_json, encode_json, from_wire, to_wire
from server.errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError
from server.services import audit, epochs, redistribution, rekey
from server.services.cases import council_record
from server.services.context import Principal, Services
from server.storage.models import CeremonyMessageRow, CeremonyRow

BROADCAST = ("commitment", "key", "echo", "complaint", "epoch-signature")
KINDS = (*BROADCAST, "share")


async def open_ceremony(services: Services, principal: Principal, *, threshold: int, members: list[str]) -> dict[str, Any]:
    """A key ceremony (DKG). With a council in place it is a full re-key: a new council key, after which
    every identity header is switched to it (rekey.py); the old council must approve the new record, so k
    of its members must be among the participants."""
    principal.require("admin")
    async with services.db.write() as session:
        await redistribution.refuse_if_running(session)
        await rekey.refuse_if_running(session)
        state = await services.directory.state(session)
        participants = redistribution.council_participants(state, members)
        old = state.council
        epoch = (old.epoch if old else 0) + 1
        try:
            params = dkg.DkgParams(v=2, epoch=epoch, threshold=threshold, participants=tuple(participants), nonce=random(16))
        except TesseraError as exc:
            raise BadRequestError(str(exc)) from exc
        if old is not None:
            staying = [m.account for m in old.members if any(p.sign_key == m.sign_key for p in participants)]
            if len(staying) < old.threshold:
                raise BadRequestError(
                    f"a re-key needs at least {old.threshold} members of the current council among the new members "
                    f"(they approve the new key and switch the old cases to it); {len(staying)} given"
                )
        ceremony_id = random(16)
        kind = "rekey" if old is not None else "dkg"
        session.add(
            CeremonyRow(
                ceremony_id=ceremony_id, kind=kind, params=encode_json(params).decode(), state="running", day=services.today()
            )
        )
        await audit.append(
            session,
            day=services.today(),
            actor=principal.name,
            action="ceremony.opened",
            obj=b64u_encode(ceremony_id),
            detail={"kind": kind, "threshold": threshold, "members": members, "epoch": epoch},
        )
    return {"ceremony_id": b64u_encode(ceremony_id), "kind": kind, "params": to_wire(params), "state": "running"}


def _participant_index(params: dkg.DkgParams, principal: Principal) -> int:
    for p in params.participants:
        if p.account == principal.name and p.sign_key == principal.sign_key:
            return p.index
    raise ForbiddenError("you are not a participant of this ceremony")


async def ceremony_status(services: Services, principal: Principal) -> dict[str, Any] | None:
    principal.require("admin", "council")
    async with services.db.read() as session:
        rows = (await session.execute(select(CeremonyRow).order_by(CeremonyRow.day.desc()).limit(50))).scalars().all()
        if not rows:
            return None
        # the running one, else the one for the latest epoch (several can share a day)
        row = max(rows, key=lambda r: (r.state == "running", r.day, json.loads(r.params)["epoch"]))
        messages = (
            (await session.execute(select(CeremonyMessageRow).where(CeremonyMessageRow.ceremony_id == row.ceremony_id)))
            .scalars()
            .all()
        )
    counts: dict[str, int] = {}
    for m in messages:
        counts[m.kind] = counts.get(m.kind, 0) + 1
    return {"ceremony_id": b64u_encode(row.ceremony_id), "state": row.state, "params": json.loads(row.params), "messages": counts}


def _check_message(params: dkg.DkgParams, index: int, kind: str, body: Any) -> tuple[int | None, Any]:
    """Shape and signature checks a relay can do; returns (recipient, parsed message)."""
    try:
        if kind == "commitment":
            msg = from_wire(DkgCommitment, body)
            if msg.index != index:
                raise BadRequestError("a commitment must carry your own index")
            dkg.check_commitment(params, msg)  # shape and PoK; consistency across members is the echo's job
            return None, msg
        if kind == "key":
            key = from_wire(DkgKey, body)
            if key.index != index:
                raise BadRequestError("a share-encryption key must carry your own index")
            check_key(params.sid, key, params.participant(index).sign_key)
            return None, key
        if kind == "echo":
            echo = from_wire(DkgEcho, body)
            if echo.index != index or not dkg.echo_is_valid(params, echo, echo.transcript):
                raise BadRequestError("the echo is not signed by you for this ceremony")
            return None, echo
        if kind == "share":
            share = from_wire(DkgShare, body)
            if share.sender != index:
                raise BadRequestError("a share must carry your own index")
            check_share_signature(params.sid, share, params.participant(index).sign_key)
            params.participant(share.recipient)
            return share.recipient, share
        if kind == "complaint":
            complaint = from_wire(DkgComplaint, body)
            if complaint.accuser != index or complaint.share.recipient != index:
                raise BadRequestError("a complaint must carry your own index and a share addressed to you")
            check_share_signature(params.sid, complaint.share, params.participant(complaint.accused).sign_key)
            return None, complaint
        if kind == "epoch-signature":
            return None, epochs.check_signature(params.sid, params.participant(index).sign_key, body)
    except TesseraError as exc:
        raise BadRequestError(f"{kind} rejected: {exc}") from exc
    raise BadRequestError(f"unknown message kind {kind!r}; one of {', '.join(KINDS)}")


async def post_message(services: Services, principal: Principal, ceremony_id: bytes, kind: str, body: Any) -> dict[str, Any]:
    principal.require("council")
    async with services.db.write() as session:
        row = await session.get(CeremonyRow, ceremony_id)
        if row is None:
            raise NotFoundError("no such ceremony")
        if row.state != "running":
            raise ConflictError(f"this ceremony is {row.state}")
        if row.kind == "redistribute":
            rparams = decode_json(RedistParams, row.params.encode())
            old = await council_record(services, session)
            index, recipient = redistribution.check_message(rparams, old, principal, kind, body)
        else:
            params = decode_json(dkg.DkgParams, row.params.encode())
            index = _participant_index(params, principal)
            recipient, _parsed = _check_message(params, index, kind, body)
        text = canonical_json(body).decode()
        same = (
            (
                await session.execute(
                    select(CeremonyMessageRow).where(
                        CeremonyMessageRow.ceremony_id == ceremony_id,
                        CeremonyMessageRow.kind == kind,
                        CeremonyMessageRow.sender == index,
                        CeremonyMessageRow.recipient == recipient
                        if recipient is not None
                        else CeremonyMessageRow.recipient.is_(None),
                    )
                )
            )
            .scalars()
            .first()
        )
        if same is not None and kind == "epoch-signature" and same.body != text:
            # signed again for the directory's new next position: the older signature is of no use
            await session.execute(sql_delete(CeremonyMessageRow).where(CeremonyMessageRow.seq == same.seq))
        elif same is not None and kind != "complaint":
            if same.body != text:
                raise ConflictError(f"you posted a different {kind} already")
            return {"state": row.state}
        session.add(CeremonyMessageRow(ceremony_id=ceremony_id, kind=kind, sender=index, recipient=recipient, body=text))
        await audit.append(
            session, day=services.today(), actor=principal.name, action=f"ceremony.{kind}", obj=b64u_encode(ceremony_id)
        )
        if kind == "epoch-signature":
            if row.kind == "redistribute":
                await redistribution.maybe_finish(services, session, row, rparams, old)
            else:
                await _maybe_finish(services, session, row, params)
        state = row.state
    if state == "done":  # the epoch is published and the wraps of members who left deleted: no copy may stay
        await services.db.purge_wal()
    return {"state": state}


async def _maybe_finish(services: Services, session: Any, row: CeremonyRow, params: dkg.DkgParams) -> None:
    """A DKG's record is published once every participant has signed it (the key directory also checks
    that k members of the current council did, for a re-key). A re-key then opens the header switch."""
    state = await services.directory.state(session)
    signed = await epochs.signed_records(session, row.ceremony_id, state.seq + 1, state.head, services.today())
    for record, signatures, at in signed:
        if len({s.signer for s in signatures}) == len(params.participants):
            old = state.council
            await epochs.publish(services, session, row, record, signatures, at, {"kind": row.kind})
            if row.kind != "rekey" or old is None:
                return
            cases = await rekey.start(services, session, old, record)
            await audit.append(
                session,
                day=services.today(),
                actor="council",
                action="rekey.opened",
                obj=f"epoch {record.epoch}",
                detail={"old_epoch": old.epoch, "cases": cases},
            )
            return


async def fetch_messages(services: Services, principal: Principal, ceremony_id: bytes, after: int) -> dict[str, Any]:
    principal.require("council")
    async with services.db.read() as session:
        row = await session.get(CeremonyRow, ceremony_id)
        if row is None:
            raise NotFoundError("no such ceremony")
        query = select(CeremonyMessageRow).where(CeremonyMessageRow.ceremony_id == ceremony_id, CeremonyMessageRow.seq > after)
        rows = list((await session.execute(query.order_by(CeremonyMessageRow.seq))).scalars().all())
        if row.kind == "redistribute":
            if row.state != "running":  # the council changed: nothing left to fetch
                return {"state": row.state, "kind": "redistribute", "params": json.loads(row.params), "messages": []}
            rparams = decode_json(RedistParams, row.params.encode())
            old = await council_record(services, session)
            shown, old_index, new_index = redistribution.visible(rparams, old, principal, rows)
            return {
                "state": row.state,
                "kind": "redistribute",
                "params": json.loads(row.params),
                "old_index": old_index,
                "new_index": new_index,
                "old_epoch": old.epoch,
                "messages": [{"seq": r.seq, "kind": r.kind, "sender": r.sender, "body": json.loads(r.body)} for r in shown],
            }
        params = decode_json(dkg.DkgParams, row.params.encode())
        index = _participant_index(params, principal)
    visible = [r for r in rows if r.recipient is None or index in (r.recipient, r.sender)]
    return {
        "state": row.state,
        "kind": row.kind,
        "params": json.loads(row.params),
        "index": index,
        "messages": [{"seq": r.seq, "kind": r.kind, "sender": r.sender, "body": json.loads(r.body)} for r in visible],
    }
