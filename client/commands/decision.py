"""decision propose / decision vote."""

from __future__ import annotations

import argparse
from typing import Any

from client.casefiles import open_as_member
from client.session import Session, UsageError
from keys.decisions import ACTIONS, propose, vote
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import EncodingError
from keys.wire import to_wire


def register(sub: Any) -> None:
    decision = sub.add_parser("decision", help="propose and vote on what help a case gets").add_subparsers(
        dest="decision_command", required=True
    )
    p = decision.add_parser("propose", help="propose a decision; prints the proposal id")
    p.add_argument("case")
    p.add_argument("--action", required=True, choices=ACTIONS)
    p.add_argument("--note", default="", help="what exactly (amounts, conditions); the helper reads it if adopted")
    p.set_defaults(run=cmd_propose)
    p = decision.add_parser("vote", help="vote on a proposal")
    p.add_argument("proposal")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--yes", action="store_true")
    group.add_argument("--no", action="store_true")
    p.set_defaults(run=cmd_vote)


async def cmd_propose(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    case = await open_as_member(api, home, args.case)
    proposal = propose(
        case_id=case.case_id, case_key=case.case_key, action=args.action, note=args.note or args.action, keys=home.keys
    )
    await api.call("POST", f"/v1/cases/{args.case}/proposals", body=to_wire(proposal))
    print(b64u_encode(proposal.proposal_id))
    return 0


async def cmd_vote(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    try:
        proposal_id = b64u_decode(args.proposal, length=16, what="proposal id")
    except EncodingError as exc:
        raise UsageError(f"{args.proposal!r} is not a proposal id") from exc
    ballot = vote(proposal_id=proposal_id, approve=bool(args.yes), keys=home.keys)
    answer = await session.api(home).call("POST", f"/v1/proposals/{args.proposal}/votes", body=to_wire(ballot))
    print(
        {
            "open": "vote recorded; the decision needs more votes.",
            "adopted": "vote recorded; the decision is adopted.",
            "rejected": "vote recorded; the proposal is rejected.",
        }[answer["state"]]
    )
    return 0
