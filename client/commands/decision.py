"""decision propose / vote / list: a vote is signed only on a proposal its voter was shown."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from client.agenda import open_decisions
from client.casefiles import member_keys, open_case, read_decision
from client.session import Session, UsageError
from client.terminal import clean, emit_json, say, table
from keys.decisions import ACTIONS, Proposal, majority, propose, verify_proposal, vote
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import EncodingError, ProofError
from keys.wire import from_wire, to_wire


def register(sub: Any) -> None:
    decision = sub.add_parser("decision", help="propose and vote on what help a case gets").add_subparsers(
        dest="decision_command", required=True
    )
    p = decision.add_parser("propose", help="propose a decision; prints the proposal id")
    p.add_argument("case")
    p.add_argument("--action", required=True, choices=ACTIONS)
    p.add_argument("--note", default="", help="what exactly (amounts, conditions); the helper reads it if adopted")
    p.add_argument(
        "--needed",
        type=int,
        help="yes votes that adopt it (default: more than half the council; the server refuses fewer than the "
        "organisation's rule for the action)",
    )
    p.set_defaults(run=cmd_propose)
    p = decision.add_parser("vote", help="vote on a proposal (it is shown first)")
    p.add_argument("proposal")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--yes", action="store_true")
    group.add_argument("--no", action="store_true")
    p.set_defaults(run=cmd_vote)
    p = decision.add_parser("list", help="open proposals: case, action, votes so far (signed ones only), what you voted")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_list)


async def cmd_propose(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role != "council":
        raise UsageError("only council members propose decisions")
    api = session.api(home)
    state, record = await session.council_state(home, api)
    case = await open_case(api, home, args.case, state)
    needed = majority(len(record.members)) if args.needed is None else args.needed
    if not 1 <= needed <= len(record.members):
        raise UsageError(f"--needed must be from 1 to {len(record.members)} (the council's size)")
    proposal = propose(
        case_id=case.case_id,
        case_key=case.case_key,
        action=args.action,
        note=args.note or args.action,
        epoch=record.epoch,
        needed=needed,
        head_seq=state.seq,
        head_hash=state.head,
        keys=home.keys,
    )
    await api.call("POST", f"/v1/cases/{case.text_id}/proposals", body=to_wire(proposal))
    print(b64u_encode(proposal.proposal_id))
    return 0


async def cmd_vote(session: Session, args: argparse.Namespace) -> int:
    """Show the proposal as its proposer signed it (case, action, note, quorum), then sign a vote on its digest.

    Verified first: the proposal parses, its case id is the one asked for, its proposer is a member of the
    council of its epoch in the verified directory and signed it, and its case opens through the checked
    opener. Shown by tests/hostile/test_cases.py: test_a_vote_is_signed_only_on_the_proposal_shown."""
    home = session.open_home()
    if home.role != "council":
        raise UsageError("only council members vote")
    try:
        proposal_id = b64u_decode(args.proposal.strip(), length=16, what="proposal id")
    except EncodingError as exc:
        raise UsageError(f"{args.proposal!r} is not a proposal id") from exc
    api = session.api(home)
    state = await session.directory(home, api)
    text = b64u_encode(proposal_id)
    answer = await api.call("GET", f"/v1/proposals/{text}")
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
    shown = read_decision(
        {"proposal": wire, "votes": answer.get("votes", []), "state": answer.get("state")},
        case_id=case.case_id,
        case_key=case.case_key,
        directory=state,
    )
    if shown["problem"] is not None:
        raise ProofError(f"proposal {text} does not verify: {shown['problem']}")
    say(f"proposal {text} by {shown['proposer']} on case {case.text_id} ({case.form.get('kind')}):", one_line=True)
    say(f"  action: {shown['action']}; adopted with {shown['needed']} yes votes of {len(record.members)}", one_line=True)
    say(f"  note: {clean(shown['note'])}")
    choice = "yes" if args.yes else "no"
    if sys.stdin.isatty() and input(f"Sign your vote ({choice}) on this proposal? Type yes: ").strip().lower() != "yes":
        print("no vote sent.")
        return 1
    ballot = vote(proposal=proposal, approve=bool(args.yes), head_seq=state.seq, head_hash=state.head, keys=home.keys)
    await api.call("POST", f"/v1/proposals/{text}/votes", body=to_wire(ballot))
    after = await api.call("GET", f"/v1/proposals/{text}")
    counted = read_decision(
        {"proposal": wire, "votes": after.get("votes", []) if isinstance(after, dict) else [], "state": "?"},
        case_id=case.case_id,
        case_key=case.case_key,
        directory=state,
    )
    outcome = {
        "open": "the decision needs more votes",
        "adopted": "the decision is adopted",
        "rejected": "the proposal is rejected",
    }.get(counted["state"], "its votes do not verify")
    print(f"vote recorded; {outcome} ({counted['yes_votes_verified']} of {counted['needed']} yes votes verified).")
    return 0


async def cmd_list(session: Session, args: argparse.Namespace) -> int:
    """The open proposals, each read from its signatures on a case that passed the checked opener
    (agenda.open_decisions): the votes shown are the signed ones that verify, "you" is this member's own."""
    home = session.open_home()
    if home.role != "council":
        raise UsageError("only council members see proposals; helpers see adopted decisions in `tessera cases list`")
    api = session.api(home)
    state = await session.directory(home, api)
    items = await open_decisions(api, home, state)
    if args.json:
        emit_json({"proposals": items})
        return 0
    rows = []
    for d in items:
        if d.get("action") is None:
            rows.append((d["proposal_id"], d["case_id"], "?", "?", "-", "-", "-", f"NOT VERIFIED: {d['problem']}"))
            continue
        votes = f"{d['yes_votes_verified']} of {d['needed']} yes"
        nos = sum(1 for v in d["votes"] if not v["approve"])
        if nos:
            votes += f", {nos} no"
        note = d["note"] if d["problem"] is None else f"NOT VERIFIED: {d['problem']}"
        if d["problem"] is None and not d["current_epoch"]:
            note = f"made for an earlier council (epoch {d['epoch']}): propose it again. {note}"
        rows.append(
            (
                d["proposal_id"],
                d["case_id"],
                d["kind"] or "?",
                d["action"],
                d["proposer"],
                votes,
                d["you_voted"] or "not yet",
                note,
            )
        )
    table(rows, ("proposal", "case", "kind", "action", "proposer", "votes", "you", "note"))
    if any(d.get("you_voted") is None and d.get("problem") is None for d in items):
        print("vote with `tessera decision vote PROPOSAL --yes` or `--no` (the proposal is shown before you sign).")
    return 0
