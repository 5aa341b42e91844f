"""Council triage against a lying server (issue 26 item 4): `cases list` reads whole cases a page at a time
(`GET /v1/case-pages`), `decision list` and `tessera todo` read the open proposals (`GET /v1/proposals`); each
case goes through the checked opener and each decision is counted from its signatures, so nothing the server
makes up or relabels is shown as the council's."""

from __future__ import annotations

import json
from typing import Any

from keys.council import EpochRecord
from keys.wire import from_wire
from tests.hostile.lies import ATTACKER, forge_case
from tests.support.harness import Org

PAGES = r"/v1/case-pages"


def _record(org: Org) -> EpochRecord:
    return from_wire(EpochRecord, org.home("kim").state["council"])


def test_a_case_the_server_made_up_in_a_page_is_listed_as_not_verifying(org: Org) -> None:
    record = _record(org)

    def forge(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        body["cases"] = [
            forge_case(c, record, author="hana", author_keys=ATTACKER)[0] if c["case_id"] == org.case else c
            for c in body["cases"]
        ]
        return body

    org.relay.rewrite("GET", PAGES, forge)
    listed = {c["case_id"]: c for c in json.loads(org.ok("kim", "cases", "list", "--json"))["cases"]}
    assert listed[org.case]["problem"] is not None and "does not verify" in listed[org.case]["problem"]
    assert listed[org.case]["kind"] is None and listed[org.case]["case_file"] == {}
    assert listed[org.case2]["problem"] is None
    assert "made up" not in org.ok("kim", "cases", "list")
    assert json.loads(org.ok("kim", "cases", "list", "--search", "made up", "--json"))["cases"] == []
    assert any(i["kind"] == "problem" and org.case in i["text"] for i in json.loads(org.ok("kim", "todo", "--json"))["items"])


def test_a_case_listed_twice_is_refused(org: Org) -> None:
    org.relay.rewrite("GET", PAGES, lambda _s, body: {**body, "cases": body["cases"] + body["cases"][:1]})
    twice = org.run("kim", "cases", "list")
    assert twice.code == 3 and "twice" in twice.err


def test_decision_list_shows_the_signed_action_and_counts_only_signed_votes(org: Org) -> None:
    proposal = org.ok("kim", "decision", "propose", org.case, "--action", "decline", "--note", "not now").strip()
    org.ok("kim", "decision", "vote", proposal, "--yes")

    def claim_action(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        for p in body["proposals"]:
            p["action"] = "approve"  # an action beside the signed proposal: no route answers one (contract/answers.py)
        return body

    hook = org.relay.rewrite("GET", r"/v1/proposals", claim_action)
    refused = org.run("lee", "decision", "list", "--json")
    assert refused.code == 3 and "unknown field(s) action" in refused.err, refused.err
    org.relay._rewrites.remove(hook)

    def lie(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        for p in body["proposals"]:
            p["votes"] = p["votes"] + [{**v, "account": "lee"} for v in p["votes"]]  # kim's vote again, as lee's
        return body

    org.relay.rewrite("GET", r"/v1/proposals", lie)
    (row,) = json.loads(org.ok("lee", "decision", "list", "--json"))["proposals"]
    assert row["action"] == "decline" and row["yes_votes_verified"] == 1 and row["you_voted"] is None
    assert any(i["kind"] == "vote" and proposal in i["command"] for i in json.loads(org.ok("lee", "todo", "--json"))["items"])


def test_a_proposal_the_server_made_up_is_not_put_to_a_vote(org: Org) -> None:
    proposal = org.ok("kim", "decision", "propose", org.case, "--action", "approve", "--note", "800 USD").strip()

    def forge(_s: Any, body: dict[str, Any]) -> dict[str, Any]:
        for p in body["proposals"]:
            p["proposal"]["signature"] = p["proposal"]["signature"][:-4] + "AAAA"
        return body

    org.relay.rewrite("GET", r"/v1/proposals", forge)
    (row,) = json.loads(org.ok("lee", "decision", "list", "--json"))["proposals"]
    assert row["verified"] is False and row["problem"]
    assert not [i for i in json.loads(org.ok("lee", "todo", "--json"))["items"] if proposal in i["command"]]
