"""Proposals and votes. A decision is adopted when the policy's quorum of distinct current council members
approves; approve and decline decide the case, request-info keeps it open."""

from __future__ import annotations

from sqlalchemy import select

from keys.decisions import Proposal, Vote, verify_proposal, verify_vote
from keys.encoding import b64u_encode
from keys.errors import TesseraError
from keys.wire import decode_json, encode_json
from server.errors import BadRequestError, ConflictError, NotFoundError
from server.services import audit
from server.services.cases import council_record, member_index
from server.services.context import Principal, Services
from server.storage.models import CaseRow, ProposalRow, VoteRow


def quorum_for(services: Services, action: str, council_size: int) -> int:
    policy = services.config.quorum.get(action, "majority")
    return council_size // 2 + 1 if policy == "majority" else min(int(policy), council_size)


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
        member_index(await council_record(services, session), principal)
        case = await session.get(CaseRow, case_id)
        if case is None:
            raise NotFoundError("no such case")
        if case.state != "open":
            raise ConflictError(f"the case is {case.state}; decisions can only be proposed on open cases")
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


async def cast_vote(services: Services, principal: Principal, proposal_id: bytes, ballot: Vote) -> str:
    """Record a vote; returns the proposal's state afterwards (open, adopted or rejected)."""
    principal.require("council")
    if ballot.proposal_id != proposal_id or ballot.voter != principal.sign_key:
        raise BadRequestError("a vote must be for this proposal and signed with your own key")
    try:
        verify_vote(ballot)
    except TesseraError as exc:
        raise BadRequestError(f"vote rejected: {exc}") from exc
    async with services.db.write() as session:
        record = await council_record(services, session)
        member_index(record, principal)
        proposal = await session.get(ProposalRow, proposal_id)
        if proposal is None:
            raise NotFoundError("no such proposal")
        if proposal.state != "open":
            raise ConflictError(f"this proposal is {proposal.state} already")
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
        needed = quorum_for(services, proposal.action, len(members))
        day = services.today()
        await audit.append(
            session,
            day=day,
            actor=principal.name,
            action="decision.voted",
            obj=b64u_encode(proposal.case_id),
            detail={"proposal_id": b64u_encode(proposal_id), "approve": ballot.approve},
        )
        if yes >= needed:
            proposal.state = "adopted"
            if proposal.action in ("approve", "decline"):
                case = await session.get(CaseRow, proposal.case_id)
                assert case is not None
                case.state = "decided"
            await audit.append(
                session,
                day=day,
                actor="council",
                action="decision.adopted",
                obj=b64u_encode(proposal.case_id),
                detail={"proposal_id": b64u_encode(proposal_id), "action": proposal.action, "yes": yes, "needed": needed},
            )
        elif no > len(members) - needed:
            proposal.state = "rejected"
            await audit.append(
                session,
                day=day,
                actor="council",
                action="decision.rejected",
                obj=b64u_encode(proposal.case_id),
                detail={"proposal_id": b64u_encode(proposal_id)},
            )
        return proposal.state


def parse_proposal(text: str) -> Proposal:
    return decode_json(Proposal, text.encode())
