"""Proposals and votes (protocol doc §8a). A decision is adopted when `needed` distinct members of the council
epoch the proposal names vote yes, `needed` being what the proposer signed and at least the policy's quorum for
the action; approve and decline decide the case, request-info keeps it open, close closes it (an open or decided
case: the help was given, or the helper withdrew it), after which the `[retention] closed` period applies.

The server keeps proposals and votes as they were signed and checks what it can, but clients never take its
word: they count the signed votes themselves (client/casefiles.py `read_decision`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from keys.council import EpochRecord
from keys.decisions import Proposal, Vote, majority, verify_proposal, verify_vote
from keys.encoding import b64u_encode
from keys.errors import TesseraError
from keys.wire import decode_json, encode_json
from server.errors import BadRequestError, ConflictError, NotFoundError
from server.services import audit
from server.services.cases import council_record, decode_json_obj, member_index
from server.services.context import Principal, Services
from server.storage.models import CaseRow, ProposalRow, VoteRow


def quorum_for(services: Services, action: str, council_size: int) -> int:
    policy = services.config.quorum.get(action, "majority")
    return majority(council_size) if policy == "majority" else min(int(policy), council_size)


async def propose(services: Services, principal: Principal, case_id: bytes, proposal: Proposal) -> None:
    principal.require("council")
    if proposal.case_id != case_id:
        raise BadRequestError("the proposal is for another case")
    if proposal.proposer != principal.sign_key:
        raise BadRequestError("a proposal must be signed with your own key")
    try:
        verify_proposal(proposal)
    except TesseraError as exc:
        raise BadRequestError(f"proposal rejected: {exc}") from exc
    async with services.db.write() as session:
        record = await council_record(services, session)
        member_index(record, principal)
        if proposal.epoch != record.epoch:
            raise ConflictError(f"the council is at epoch {record.epoch}: refresh the key directory and propose again")
        size = len(record.members)
        needed = quorum_for(services, proposal.action, size)
        if not needed <= proposal.needed <= size:
            raise BadRequestError(
                f"this organisation adopts {proposal.action!r} with {needed} to {size} yes votes; the proposal asks for "
                f"{proposal.needed} (decision propose --needed)"
            )
        case = await session.get(CaseRow, case_id)
        if case is None:
            raise NotFoundError("no such case")
        if case.state == "closed" or (case.state != "open" and proposal.action != "close"):
            raise ConflictError(
                f"the case is {case.state}; decisions can only be proposed on open cases (and `close` on decided ones)"
            )
        if await session.get(ProposalRow, proposal.proposal_id) is not None:
            raise ConflictError("a proposal with this id exists")
        session.add(
            ProposalRow(
                proposal_id=proposal.proposal_id,
                case_id=case_id,
                proposer=principal.name,
                action=proposal.action,
                state="open",
                day=services.today(),
                body=encode_json(proposal).decode(),
            )
        )
        await audit.append(
            session,
            day=services.today(),
            actor=principal.name,
            action="decision.proposed",
            obj=b64u_encode(case_id),
            detail={"proposal_id": b64u_encode(proposal.proposal_id), "action": proposal.action},
        )


async def get_proposal(services: Services, principal: Principal, proposal_id: bytes) -> dict[str, Any]:
    """A proposal as signed, with its votes as signed (what `decision vote` shows before signing)."""
    principal.require("council")
    async with services.db.read() as session:
        row = await session.get(ProposalRow, proposal_id)
        if row is None:
            raise NotFoundError("no such proposal")
        votes = (await session.execute(select(VoteRow).where(VoteRow.proposal_id == proposal_id))).scalars().all()
    return {
        "proposal_id": b64u_encode(row.proposal_id),
        "case_id": b64u_encode(row.case_id),
        "state": row.state,
        "day": row.day,
        "proposal": decode_json_obj(row.body),
        "votes": [{"account": v.account, "approve": v.approve, "vote": decode_json_obj(v.body)} for v in votes],
    }


MAX_OPEN = 500


async def open_proposals(services: Services, principal: Principal) -> list[dict[str, Any]]:
    """The open proposals (up to MAX_OPEN, oldest first), each as signed with its votes as signed: a member's
    `decision list` and `tessera todo` read them and count the votes themselves."""
    principal.require("council")
    async with services.db.read() as session:
        query = select(ProposalRow).where(ProposalRow.state == "open").order_by(ProposalRow.day, ProposalRow.proposal_id)
        rows = (await session.execute(query.limit(MAX_OPEN))).scalars().all()
        ids = [r.proposal_id for r in rows]
        votes = (await session.execute(select(VoteRow).where(VoteRow.proposal_id.in_(ids)))).scalars().all() if ids else []
    by_proposal: dict[bytes, list[VoteRow]] = {}
    for v in votes:
        by_proposal.setdefault(v.proposal_id, []).append(v)
    return [
        {
            "proposal_id": b64u_encode(row.proposal_id),
            "case_id": b64u_encode(row.case_id),
            "state": row.state,
            "day": row.day,
            "proposal": decode_json_obj(row.body),
            "votes": [
                {"account": v.account, "approve": v.approve, "vote": decode_json_obj(v.body)}
                for v in by_proposal.get(row.proposal_id, [])
            ],
        }
        for row in rows
    ]


def _stored_proposal(row: ProposalRow) -> Proposal:
    try:
        return decode_json(Proposal, row.body.encode())
    except TesseraError as exc:
        raise ConflictError(
            "this proposal was made by an older version of Tessera (its votes would not name it): propose it again"
        ) from exc


async def cast_vote(services: Services, principal: Principal, proposal_id: bytes, ballot: Vote) -> str:
    """Record a vote on exactly the stored proposal (its digest); returns the proposal's state afterwards
    (open, adopted or rejected), counted among the members of the proposal's council epoch."""
    principal.require("council")
    if ballot.proposal_id != proposal_id or ballot.voter != principal.sign_key:
        raise BadRequestError("a vote must be for this proposal and signed with your own key")
    async with services.db.write() as session:
        record: EpochRecord = await council_record(services, session)
        member_index(record, principal)
        row = await session.get(ProposalRow, proposal_id)
        if row is None:
            raise NotFoundError("no such proposal")
        proposal = _stored_proposal(row)
        try:
            verify_vote(ballot, proposal)
        except TesseraError as exc:
            raise BadRequestError(f"vote rejected: {exc}") from exc
        if proposal.epoch != record.epoch:
            raise ConflictError(f"the council changed since this proposal (epoch {proposal.epoch}): propose it again")
        if row.state != "open":
            raise ConflictError(f"this proposal is {row.state} already")
        case_row = await session.get(CaseRow, row.case_id)
        if case_row is not None and case_row.state == "closed":
            raise ConflictError("the case is closed: its open proposals take no more votes")
        if await session.get(VoteRow, (proposal_id, principal.name)) is not None:
            raise ConflictError("you voted on this proposal already")
        session.add(
            VoteRow(proposal_id=proposal_id, account=principal.name, approve=ballot.approve, body=encode_json(ballot).decode())
        )
        await session.flush()
        members = {m.account for m in record.members}
        votes = (await session.execute(select(VoteRow).where(VoteRow.proposal_id == proposal_id))).scalars().all()
        yes = sum(1 for v in votes if v.approve and v.account in members)
        no = sum(1 for v in votes if not v.approve and v.account in members)
        needed = proposal.needed
        day = services.today()
        await audit.append(
            session,
            day=day,
            actor=principal.name,
            action="decision.voted",
            obj=b64u_encode(row.case_id),
            detail={"proposal_id": b64u_encode(proposal_id), "approve": ballot.approve},
        )
        if yes >= needed:
            row.state = "adopted"
            if row.action in ("approve", "decline", "close"):
                case = await session.get(CaseRow, row.case_id)
                assert case is not None
                case.state = "closed" if row.action == "close" else "decided"
            await audit.append(
                session,
                day=day,
                actor="council",
                action="decision.adopted",
                obj=b64u_encode(row.case_id),
                detail={"proposal_id": b64u_encode(proposal_id), "action": row.action, "yes": yes, "needed": needed},
            )
        elif no > len(members) - needed:
            row.state = "rejected"
            await audit.append(
                session,
                day=day,
                actor="council",
                action="decision.rejected",
                obj=b64u_encode(row.case_id),
                detail={"proposal_id": b64u_encode(proposal_id)},
            )
        return row.state
