"""Review of main after issues 18 and 25 (fixed since: a decision is adopted with no fewer yes votes than the
council's threshold k, from its signed record, whatever `needed` the proposer signed): the number of yes votes
that adopts a decision (`needed`) was whatever the proposer signed, from 1 up; the organisation's quorum for the
action lives only in the server's configuration, so only the server enforced it. One council member (coerced,
or acting alone) and the server adopted a decision that every client showed as verified and adopted, and that
the helper's inbox showed as the council's outcome.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.harness import Org

NOTE = "pay 5000 USD in cash to the broker"


def test_review_one_member_cannot_adopt_a_decision_alone(org: Org) -> None:
    """kim proposes "approve" on hana's case with `--needed 1` (the real server refuses it: the organisation
    adopts approvals by a majority); the hostile server stores it anyway, kim votes yes, and the server serves
    proposal and vote with the case. Seen on main: lee's `cases show` says "approve (adopted, 1 of 1 yes needed)"
    with verified true, and hana's inbox prints "decision: approve: pay 5000 USD in cash to the broker" as the
    outcome of her case; nobody else voted.
    Fix (keys/decisions.py `tally`, with the quorum as protocol data): put the organisation's quorum per action in
    signed data the clients verify (the council's epoch record or a policy entry of the key directory that k
    members sign), and have `read_decision` count a proposal as adoptable only with at least that many yes
    votes; until then, at the very least never below the council's threshold k (or a majority of the epoch)."""
    stored: dict[str, Any] = {}

    def take_proposal(seen: Any) -> tuple[int, Any]:
        stored["proposal"] = seen.json()
        return 201, {"proposal_id": stored["proposal"]["proposal_id"]}

    def serve_proposal(_seen: Any) -> tuple[int, Any]:
        votes = [{"account": "kim", "approve": True, "vote": v} for v in stored.get("votes", [])]
        proposal = stored["proposal"]
        served = {"proposal_id": proposal["proposal_id"], "case_id": org.case, "proposal": proposal, "votes": votes}
        return 200, {**served, "state": "open", "day": 1}

    def take_vote(seen: Any) -> tuple[int, Any]:
        stored.setdefault("votes", []).append(seen.json())
        return 201, {"state": "adopted"}

    def with_decision(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        if "proposal" not in stored:
            return body
        decision = {
            "proposal_id": stored["proposal"]["proposal_id"],
            "action": "approve",
            "state": "adopted",
            "day": body.get("day"),
            "proposer": "kim",
            "proposal": stored["proposal"],
            "votes": [{"account": "kim", "approve": True, "vote": v} for v in stored.get("votes", [])],
        }
        return {**body, "decisions": [*body.get("decisions", []), decision], "state": "decided"}

    org.relay.answer("POST", rf"/v1/cases/{org.case}/proposals", take_proposal)
    org.relay.answer("GET", r"/v1/proposals/[^/]+", serve_proposal)
    org.relay.answer("POST", r"/v1/proposals/[^/]+/votes", take_vote)
    org.relay.rewrite("GET", rf"/v1/cases/{org.case}", with_decision)
    proposal = org.ok("kim", "decision", "propose", org.case, "--action", "approve", "--note", NOTE, "--needed", "1").strip()
    org.ok("kim", "decision", "vote", proposal, "--yes")
    shown = json.loads(org.ok("lee", "cases", "show", org.case, "--json"))
    adopted = [d for d in shown["decisions"] if d["proposal_id"] == proposal and d["verified"] and d["state"] == "adopted"]
    inbox = org.ok("hana", "inbox")
    assert NOTE not in inbox, f"hana's inbox shows a decision one member took alone as the council's:\n{inbox}"
    assert adopted == [], f"lee is shown a decision one member took alone as verified and adopted: {adopted}"
