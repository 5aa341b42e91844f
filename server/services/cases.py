"""Intake and case reading. The server checks an envelope's shape and π_r, stores it, and records no
helper account, no exact time (a day) and no address. A case's helper reads it through the reply key."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select

from keys.council import EpochRecord
from keys.decisions import CASE_STATES
from keys.encoding import b64u_encode, canonical_json
from keys.envelope import IntakeEnvelope, KeyWrap, check_envelope
from keys.errors import TesseraError
from keys.receipts import IntakeReceipt, envelope_digest, sign_receipt
from keys.wire import decode_json
from server.errors import BadRequestError, ConflictError, ForbiddenError, NotFoundError, UnauthorizedError
from server.services import audit, headers, rekey, tokens
from server.services.auth import Paid
from server.services.context import Principal, Services
from server.storage import queries
from server.storage.db import DbSession, together
from server.storage.models import CaseRow, ProposalRow, VoteRow, WrapRow

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class Receipt:
    case_id: bytes
    receipt: bytes  # the envelope's digest
    day: int
    signed: IntakeReceipt  # the same, signed with the server key (the helper deletes her copy only on it)


async def council_record(services: Services, session: DbSession) -> EpochRecord:
    record = (await services.directory.state(session)).council
    if record is None:
        raise ConflictError("there is no council key yet: the council must hold its key ceremony first")
    return record


def member_index(record: EpochRecord, principal: Principal) -> int:
    """The caller's index in the current council epoch; raises BadRequestError for a non-member."""
    member = record.member_by_sign_key(principal.sign_key)
    if member is None or member.account != principal.name:
        raise BadRequestError("you are not a member of the current council epoch")
    return member.index


async def submit_intake(
    services: Services,
    principal: Principal,
    case_id: bytes,
    envelope: IntakeEnvelope,
    wire: Any,
    *,
    paid: Paid | None = None,
) -> Receipt:
    """Store an intake: `envelope` parsed from `wire`, the JSON it came as. The same envelope again returns the
    same receipt; another one under the id is a 409.

    Who sends it: the case itself (principal `case:<id>`, the request signed with the envelope's reply key; a new
    case paid with an anonymous token, `paid`, spent in the same transaction as the case: protocol doc §10.6), so
    that nothing links a helper's account to the case; or, from clients that have no token, a helper's account."""
    principal.require("helper", "case")
    # from_wire accepts only the canonical wire form (exact fields, canonical base64url), so `wire` is
    # to_wire(envelope) without encoding it again: the receipt digests it, the stored form is it without
    # the member wraps
    if envelope.case_id != case_id:
        raise BadRequestError("the envelope's case id differs from the one in the path")
    if principal.role == "case" and (principal.case_id != case_id or principal.sign_key != envelope.reply_sign_key):
        raise ForbiddenError("a case sends only its own intake, signed with the reply key its envelope names")
    receipt = envelope_digest(canonical_json(wire))
    async with services.db.read() as session:
        state, existing = await together(
            session, services.directory.state(session), session.execute(queries.CASE_RECEIPT, {"case_id": case_id})
        )
        if state.council is None:
            raise ConflictError("there is no council key yet: the council must hold its key ceremony first")
        current = record = state.council
        if envelope.epoch != current.epoch:
            # sealed offline before a membership change (same council key): checked against the epoch it was
            # sealed to; sealed before a re-key that is still switching: accepted, and switched with the rest
            earlier = state.earlier_councils.get(envelope.epoch)
            if earlier is not None and earlier.kid == current.kid:
                record = earlier
            elif earlier is not None:
                switching = await rekey.running(session)
                old = await headers.attestation_record(services, session, switching.old_epoch) if switching else None
                if old is not None and old.kid == earlier.kid:
                    record = earlier
                else:
                    raise BadRequestError(
                        "this intake was sealed to a council key that has since been replaced (a council re-key), "
                        "so it can no longer be accepted: enter the case again"
                    )
    if (found := existing.one_or_none()) is not None:
        return _same_or_conflict(services, found, receipt)
    if principal.role == "case" and paid is None:
        raise UnauthorizedError()  # the case principal of a case not stored yet: only a token admits it
    try:
        # a wrap for every active member; none is needed for a revoked one (a seized device: clients give it none),
        # nor, for an intake sealed to an earlier epoch, for one who is not on the current council (clients give a
        # member removed since nothing: client/outbox.py)
        current_keys = {m.box_key for m in state.active_members(current)}
        needed = [m.box_key for m in state.active_members(record) if record is current or m.box_key in current_keys]
        check_envelope(envelope, record, active=needed)
    except TesseraError as exc:
        raise BadRequestError(f"intake envelope rejected: {exc}") from exc
    day = services.today()
    stored = canonical_json({**wire, "wraps": []}).decode()  # = encode_json(replace(envelope, wraps=()))
    dialect = "sqlite" if services.db.is_sqlite else "postgresql"
    # merged (storage/db.py): on PostgreSQL this block runs beside other intakes in one group commit, with
    # its statements merged with theirs, and keeps what it wrote if it fails; so nothing here can fail once
    # the case row is in, and the request's nonce and rate count (written first) are kept with a refusal
    async with services.db.write(merged=True) as session:
        if paid is not None:  # first: a token spent on another case writes nothing (a retry of this one passes)
            await tokens.spend(services, session, paid.pair, paid.token, case_id)
        row = {
            "case_id": case_id,
            "state": "open",
            "day": day,
            "epoch": envelope.epoch,
            "receipt": receipt,
            "envelope": stored,
            "reply_sign_key": envelope.reply_sign_key,
            "reply_box_key": envelope.reply_box_key,
        }
        if (await session.execute(queries.CASE_INSERT_NEW[dialect], row)).one_or_none() is None:
            # a retry that raced this one went in first (or a copy beside it in the same group commit)
            stored_one = (await session.execute(queries.CASE_RECEIPT, {"case_id": case_id})).one()
            return _same_or_conflict(services, stored_one, receipt)
        # only current members' wraps are kept (a member who left since the helper sealed it gets none);
        # newcomers get theirs from `council rewrap`
        members = {m.box_key for m in state.active_members(current)}
        kept = [
            {"case_id": case_id, "recipient": w.recipient, "sealed": w.sealed} for w in envelope.wraps if w.recipient in members
        ]
        if kept:
            await session.execute(queries.WRAP_INSERT, kept)
        # actor is the role only: the audit log must not link a helper account to a case
        await audit.append(session, day=day, actor="helper", action="case.submitted", obj=b64u_encode(case_id))
    return _receipt(services, case_id, receipt, day)


def _receipt(services: Services, case_id: bytes, receipt: bytes, day: int) -> Receipt:
    # signed after the write committed: a receipt names only an envelope that is stored
    signed = sign_receipt(case_id=case_id, envelope_digest=receipt, day=day, server=services.server_keys)
    return Receipt(case_id, receipt, day, signed)


def _same_or_conflict(services: Services, existing: Any, receipt: bytes) -> Receipt:
    if existing.receipt != receipt:
        raise ConflictError("a different intake exists under this case id")
    return _receipt(services, existing.case_id, existing.receipt, existing.day)


async def list_cases(
    services: Services, principal: Principal, *, state: str | None, cursor: bytes | None, limit: int
) -> tuple[list[dict[str, Any]], bytes | None]:
    """A page of cases in case-id order (random ids: the order says nothing about time)."""
    principal.require("council")
    if state is not None and state not in CASE_STATES:
        raise BadRequestError(f"state must be one of {', '.join(CASE_STATES)}")
    limit = max(1, min(limit, MAX_PAGE))
    query = select(CaseRow.case_id, CaseRow.state, CaseRow.day, CaseRow.epoch).order_by(CaseRow.case_id).limit(limit + 1)
    if state is not None:
        query = query.where(CaseRow.state == state)
    if cursor is not None:
        query = query.where(CaseRow.case_id > cursor)
    async with services.db.read() as session:
        rows = (await session.execute(query)).all()
    page = [{"case_id": b64u_encode(r.case_id), "state": r.state, "day": r.day, "epoch": r.epoch} for r in rows[:limit]]
    return page, (rows[limit - 1].case_id if len(rows) > limit else None)


async def load_case(session: DbSession, principal: Principal, case_id: bytes) -> CaseRow:
    """The case if the caller may see it; absent and not-yours look the same."""
    if principal.role == "case" and principal.case_id != case_id:
        raise NotFoundError("no such case")
    if principal.role not in ("council", "case"):
        raise NotFoundError("no such case")
    case = await session.get(CaseRow, case_id)
    if case is None:
        raise NotFoundError("no such case")
    return case


async def get_case(services: Services, principal: Principal, case_id: bytes) -> dict[str, Any]:
    """The envelope with the caller's own key wrap, the case state and its decisions."""
    async with services.db.read() as session:
        case = await load_case(session, principal, case_id)
        envelope = decode_json(IntakeEnvelope, case.envelope.encode())
        wraps: tuple[KeyWrap, ...] = ()
        if principal.role == "council":
            directory = await services.directory.state(session)
            box_key = directory.accounts[principal.name].keys.box_key
            row = await session.get(WrapRow, (case_id, box_key))
            if row is None:
                raise NotFoundError(no_wrap_reason(directory.council, principal.name, box_key))
            wraps = (KeyWrap(recipient=row.recipient, sealed=row.sealed),)
        decisions = await _decisions(session, case_id, adopted_only=principal.role == "case")
        current = await headers.case_header(session, case, envelope)
        switched = await headers.switched_wire(session, current.switched) if current.switched is not None else None
    return {
        "case_id": b64u_encode(case_id),
        "state": case.state,
        "day": case.day,
        "epoch": case.epoch,
        "envelope": replace(envelope, wraps=wraps),
        "switched": switched,  # after a re-key: the attested switched header (the envelope's header is gone)
        "decisions": decisions,
    }


def no_wrap_reason(council: EpochRecord | None, account: str, box_key: bytes) -> str:
    """Why a council account has no key wrap on a case, and what brings one."""
    member = next((m for m in council.members if m.account == account), None) if council is not None else None
    if member is None:
        return "no key wrap for you on this case: you are not a member of the current council"
    if member.box_key != box_key:
        return (
            "no key wrap for your current keys on this case: you replaced your keys since the council's last membership "
            "change. Cases open again after an administrator runs `tessera council redistribute` with the same members "
            "and a member runs `tessera council rewrap`"
        )
    return "no key wrap for you on this case (you joined the council after it was sealed): a member runs `tessera council rewrap`"


async def decisions_of(session: DbSession, case_id: bytes) -> list[dict[str, Any]]:
    """A case's decisions as signed, with their votes (what a council member reads)."""
    return await _decisions(session, case_id, adopted_only=False)


async def _decisions(session: DbSession, case_id: bytes, *, adopted_only: bool) -> list[dict[str, Any]]:
    query = select(ProposalRow).where(ProposalRow.case_id == case_id).order_by(ProposalRow.day, ProposalRow.proposal_id)
    if adopted_only:
        query = query.where(ProposalRow.state == "adopted")
    out = []
    for p in (await session.execute(query)).scalars().all():
        votes = (await session.execute(select(VoteRow).where(VoteRow.proposal_id == p.proposal_id))).scalars().all()
        out.append(
            {
                "proposal_id": b64u_encode(p.proposal_id),
                "action": p.action,
                "state": p.state,
                "day": p.day,
                "proposer": p.proposer,
                "proposal": decode_json_obj(p.body),
                "votes": [{"account": v.account, "approve": v.approve, "vote": decode_json_obj(v.body)} for v in votes],
            }
        )
    return out


def decode_json_obj(text: str) -> Any:
    return json.loads(text)
