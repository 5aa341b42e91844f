"""Issue 26 item 6: a helper sees her own cases through her per-case keys (kind, date, state, decisions with
verified outcomes, messages), amends a case with what the council asked for, and asks to withdraw one.

Against the old code: `cases list` and `cases show` said only council members read cases, `inbox` listed ids,
and there was no `intake amend` or `intake withdraw`."""

from __future__ import annotations

import json

from tests.support.harness import Org


def test_a_helper_lists_and_reads_her_own_cases(org: Org) -> None:
    proposal = org.ok("kim", "decision", "propose", org.case2, "--action", "approve", "--note", "rice for six weeks").strip()
    org.ok("kim", "decision", "vote", proposal, "--yes")
    org.ok("lee", "decision", "vote", proposal, "--yes")
    org.ok("kim", "messages", "send", org.case2, "--text", "delivery on Monday")
    listed = {c["case_id"]: c for c in json.loads(org.ok("hana", "cases", "list", "--json"))["cases"]}
    assert set(listed) == {org.case, org.case2}
    food = listed[org.case2]
    assert (food["kind"], food["region"], food["date"]) == ("food", "Liaoning", org.received_on(org.case2).isoformat())
    assert [(d["action"], d["state"], d["note"]) for d in food["decisions"]] == [("approve", "adopted", "rice for six weeks")]
    assert [m["text"] for m in food["messages"]] == ["delivery on Monday"]
    text = org.ok("hana", "cases", "list")
    assert "approve adopted" in text and "food" in text
    shown = org.ok("hana", "cases", "show", org.case2)
    assert "narrative: rice for a shelter" in shown and "rice for six weeks" in shown and "submitted by you" in shown


def test_a_helper_answers_a_request_for_information_with_an_amendment(org: Org) -> None:
    proposal = org.ok("kim", "decision", "propose", org.case, "--action", "request-info", "--note", "which hospital ward?")
    for member in ("kim", "lee"):
        org.ok(member, "decision", "vote", proposal.strip(), "--yes")
    (asked,) = [i for i in json.loads(org.ok("hana", "todo", "--json"))["items"] if i["kind"] == "request-info"]
    assert "which hospital ward?" in asked["text"] and "intake amend" in asked["command"]
    form = org.write("amend.toml", '[case]\namount_usd = 950\ncondition = "broken leg, ward 4 needs a plate"\n')
    out = org.ok("hana", "intake", "amend", org.case, "--form", str(form), "--note", "the ward is surgery 4")
    assert "amended case" in out and not form.exists()
    shown = json.loads(org.ok("kim", "cases", "show", org.case, "--json"))
    (addendum,) = shown["addenda"]
    assert addendum["kind"] == "amendment" and addendum["fields"]["amount_usd"] == "950"
    assert addendum["note"] == "the ward is surgery 4"
    assert "amended the case: amount_usd = 950" in org.ok("kim", "cases", "show", org.case)
    assert any(i["kind"] == "amendment" and org.case in i["text"] for i in json.loads(org.ok("lee", "todo", "--json"))["items"])


def test_an_amendment_never_carries_identity_details(org: Org) -> None:
    form = org.write("amend.toml", '[identity]\nfull_name = "박서준"\n[case]\namount_usd = 950\n')
    refused = org.run("hana", "intake", "amend", org.case, "--form", str(form))
    assert refused.code == 2 and "identity details" in refused.err and form.exists()
    wrong = org.write("amend2.toml", "[case]\npeople = 3\n")  # a food field on a medical case
    assert org.run("hana", "intake", "amend", org.case, "--form", str(wrong)).code == 2
    assert json.loads(org.ok("kim", "cases", "show", org.case, "--json"))["addenda"] == []


def test_a_helper_asks_to_withdraw_a_case_and_the_council_sees_it(org: Org) -> None:
    refused = org.run("hana", "intake", "withdraw", org.case2)
    assert refused.code == 2 and "--yes" in refused.err
    org.ok("hana", "intake", "withdraw", org.case2, "--reason", "the family moved on", "--yes")
    (item,) = [i for i in json.loads(org.ok("kim", "todo", "--json"))["items"] if i["kind"] == "withdrawal"]
    assert org.case2 in item["text"] and "the family moved on" in item["text"] and "--action close" in item["command"]
    assert "WITHDRAWAL ASKED" in org.ok("kim", "cases", "list")
    assert json.loads(org.ok("lee", "cases", "list", "--json", "--kind", "food"))["cases"][0]["withdrawal_asked"] is True
