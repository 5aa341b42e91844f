"""Decisions as data: propose, and show a proposal exactly as its proposer signed it before a vote is signed on
its digest. What `tessera decision propose | vote` do inline today (client/commands/decision.py), for the app;
the CLI should call these once issue 26 lands. Hostile tests of the same checks: tests/hostile/test_cases.py,
test_a_vote_is_signed_only_on_the_proposal_shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from client.api import Api
from client.casefiles import OpenedCase, member_keys, open_case, read_decision
from client.home import Home
from client.session import UsageError
from keys.council import EpochRecord
from keys.decisions import ACTIONS, Proposal, majority, proposal_digest, propose, verify_proposal, vote
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import EncodingError, ProofError
from keys.wire import from_wire


async def make_proposal(
    api: Api, home: Home, state: DirectoryState, record: EpochRecord, case: OpenedCase, action: str, note: str, needed: int | None
) -> str:
    """Sign and post a proposal on `case` (opened through the checked opener); returns its id."""
    if action not in ACTIONS:
        raise UsageError(f"the action is one of: {', '.join(ACTIONS)}")
    size = len(record.members)
    needed = majority(size) if needed is None else needed
    if not 1 <= needed <= size:
        raise UsageError(f"the yes votes needed must be from 1 to {size} (the council's size)")
    proposal = propose(
        case_id=case.case_id,
        case_key=case.case_key,
        action=action,
        note=note.strip() or action,
        epoch=record.epoch,
        needed=needed,
        head_seq=state.seq,
        head_hash=state.head,
        keys=home.keys,
    )
    await api.propose(proposal)
    return b64u_encode(proposal.proposal_id)


@dataclass(frozen=True)
class Shown:
    """A proposal as its proposer signed it, checked, with what a vote on it signs."""

    proposal: Proposal
    wire: dict[str, Any]
    case: OpenedCase
    decision: dict[str, Any]  # read_decision: action, note, proposer, needed, votes counted from signatures
    digest: str  # what a vote signs: the proposal's digest (base64url)
    council_size: int


async def show_proposal(api: Api, home: Home, state: DirectoryState, proposal_text: str) -> Shown:
    """Fetch a proposal and check it before anyone votes: it parses, it is the one asked for, its proposer is a
    member of its epoch's council and signed it, its epoch is the current council's, its case opens through
    the checked opener and the decision reads from signatures. Raises ProofError or UsageError."""
    try:
        proposal_id = b64u_decode(proposal_text.strip(), length=16, what="proposal id")
    except EncodingError as exc:
        raise UsageError(f"{proposal_text!r} is not a proposal id") from exc
    text = b64u_encode(proposal_id)
    answer = await api.proposal(proposal_id)
    wire = answer.get("proposal") if isinstance(answer, dict) else None
    if isinstance(wire, dict) and wire.get("v") == 1:
        raise UsageError("this proposal was made by an older version of Tessera, whose votes do not name it: propose it again")
    proposal = from_wire(Proposal, wire)
    if proposal.proposal_id != proposal_id:
        raise ProofError(f"asked for proposal {text}, the server answered with another one")
    record = state.council_at(proposal.epoch)
    if record is None or proposal.proposer not in member_keys(record, state):
        raise ProofError(f"proposal {text} is not signed by a member of the council of its epoch ({proposal.epoch})")
    verify_proposal(proposal)
    if state.council is None or proposal.epoch != state.council.epoch:
        raise UsageError(f"proposal {text} was made for an earlier council (epoch {proposal.epoch}); propose it again")
    case = await open_case(api, home, proposal.case_id, state)
    decision = read_decision(
        {"proposal": wire, "votes": answer.get("votes", []), "state": answer.get("state")},
        case_id=case.case_id,
        case_key=case.case_key,
        directory=state,
    )
    if decision["problem"] is not None:
        raise ProofError(f"proposal {text} does not verify: {decision['problem']}")
    assert isinstance(wire, dict)
    return Shown(proposal, wire, case, decision, b64u_encode(proposal_digest(proposal)), len(record.members))


async def cast_vote(api: Api, home: Home, state: DirectoryState, shown: Shown, *, approve: bool) -> dict[str, Any]:
    """Sign a vote on the digest of the proposal `shown` and post it; returns the decision as counted again
    from the signed votes."""
    ballot = vote(proposal=shown.proposal, approve=approve, head_seq=state.seq, head_hash=state.head, keys=home.keys)
    await api.vote(ballot)
    after = await api.proposal(shown.proposal.proposal_id)
    return read_decision(
        {"proposal": shown.wire, "votes": after.get("votes", []) if isinstance(after, dict) else [], "state": "?"},
        case_id=shown.case.case_id,
        case_key=shown.case.case_key,
        directory=state,
    )
