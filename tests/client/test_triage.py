"""Issue 26 item 4: the council triages from the list (kind, urgency, region, the date; filters and a search
computed on the device), sees its open decisions and what waits for each member, and a member runs a ceremony
to the end with one command.

Against the old code: `cases list` showed case, state and a day number only (no kind, urgency or region, only
--state), and there was no `decision list`, `todo` or `council ceremony run`."""

from __future__ import annotations

import datetime
import json
import os
import subprocess

from tests import fastcli
from tests.support.harness import COUNCIL, ENV, FOOD, Org


def _listed(org: Org, who: str, *filters: str) -> list[dict[str, object]]:
    return json.loads(org.ok(who, "cases", "list", *filters, "--json"))["cases"]  # type: ignore[no-any-return]


def test_cases_list_shows_kind_urgency_region_and_the_date(org: Org) -> None:
    rows = {r["case_id"]: r for r in _listed(org, "kim")}
    assert set(rows) == {org.case, org.case2}
    medical, food = rows[org.case], rows[org.case2]
    assert (medical["kind"], medical["urgency"], medical["region"]) == ("medical", "high", "Jilin")
    assert (food["kind"], food["urgency"], food["region"]) == ("food", "medium", "Liaoning")
    sent_on = org.received_on(org.case)
    assert medical["date"] == sent_on.isoformat()
    text = org.ok("kim", "cases", "list")
    assert "medical" in text and "Jilin" in text and sent_on.isoformat() in text
    assert text.index(org.case) < text.index(org.case2)  # the more urgent first


def test_filters_and_search_run_on_the_device(org: Org) -> None:
    ids = lambda *f: {r["case_id"] for r in _listed(org, "kim", *f)}  # noqa: E731
    assert ids("--kind", "food") == {org.case2}
    assert ids("--urgency", "high,critical") == {org.case}
    assert ids("--region", "liaoning") == {org.case2}
    assert ids("--search", "OPERATION") == {org.case}
    assert ids("--search", "박서준") == set()  # identity fields stay sealed: they are not searched
    assert ids("--search", "RICE") == {org.case2}
    assert ids("--state", "open") == {org.case, org.case2}
    assert ids("--state", "decided") == set()
    sent_on = org.received_on(org.case)
    tomorrow, yesterday = sent_on + datetime.timedelta(days=1), sent_on - datetime.timedelta(days=1)
    assert ids("--since", tomorrow.isoformat()) == set()
    assert ids("--until", yesterday.isoformat()) == set()
    assert ids("--since", yesterday.isoformat(), "--until", tomorrow.isoformat()) == {org.case, org.case2}
    bad = org.run("kim", "cases", "list", "--since", "20791")
    assert bad.code == 2 and "YYYY-MM-DD" in bad.err


def test_decision_list_shows_open_proposals_votes_and_your_vote(org: Org) -> None:
    proposal = org.ok("kim", "decision", "propose", org.case, "--action", "approve", "--note", "800 USD").strip()
    (row,) = json.loads(org.ok("lee", "decision", "list", "--json"))["proposals"]
    assert (row["proposal_id"], row["case_id"], row["action"], row["kind"]) == (proposal, org.case, "approve", "medical")
    assert row["you_voted"] is None and row["yes_votes_verified"] == 0 and row["note"] == "800 USD"
    org.ok("lee", "decision", "vote", proposal, "--yes")
    (row,) = json.loads(org.ok("lee", "decision", "list", "--json"))["proposals"]
    assert row["you_voted"] == "yes" and row["yes_votes_verified"] == 1
    text = org.ok("park", "decision", "list")
    assert proposal in text and "1 of 2 yes" in text and "not yet" in text
    org.ok("park", "decision", "vote", proposal, "--no")
    org.ok("kim", "decision", "vote", proposal, "--yes")  # adopted: no longer open
    assert json.loads(org.ok("lee", "decision", "list", "--json"))["proposals"] == []


def _todo(org: Org, who: str) -> list[dict[str, str]]:
    return json.loads(org.ok(who, "todo", "--json"))["items"]  # type: ignore[no-any-return]


def test_todo_names_approvals_votes_and_new_messages(org: Org) -> None:
    assert _todo(org, "lee") == []
    assert "nothing waits for you" in org.ok("lee", "todo")
    request = org.ok("kim", "reveal", "request", org.case, "--purpose", "hospital admission").strip()
    proposal = org.ok("kim", "decision", "propose", org.case2, "--action", "approve", "--note", "rice").strip()
    org.ok("hana", "messages", "send", org.case2, "--text", "the shelter moved")
    items = _todo(org, "lee")
    kinds = {i["kind"]: i for i in items}
    assert request in kinds["reveal-approve"]["command"]
    assert proposal in kinds["vote"]["command"]
    assert org.case2 in kinds["message"]["text"]
    org.ok("lee", "reveal", "approve", request, "--yes")
    org.ok("lee", "decision", "vote", proposal, "--yes")
    org.ok("lee", "messages", "list", org.case2)
    assert _todo(org, "lee") == []
    # the requester: one more approval opens it
    org.ok("park", "reveal", "approve", request, "--yes")
    assert any(i["kind"] == "reveal-open" and request in i["command"] for i in _todo(org, "kim"))
    # the helper: a new message and an adopted decision on her case
    org.ok("kim", "messages", "send", org.case2, "--text", "we deliver on Monday")
    org.ok("park", "decision", "vote", proposal, "--yes")
    helper = {i["kind"]: i for i in _todo(org, "hana")}
    assert "rice" in helper["decision"]["text"] and org.case2 in helper["message"]["text"]
    org.ok("hana", "inbox")
    assert _todo(org, "hana") == []


def test_todo_names_the_outbox(org: Org) -> None:
    form = org.write("form.toml", FOOD)
    org.ok("hana", "intake", "submit", "--kind", "food", "--form", str(form), "--offline")
    (item,) = _todo(org, "hana")
    assert item["kind"] == "outbox" and "1 intake(s)" in item["text"]


def _cli(org: Org, who: str, *argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, **ENV}
    command = fastcli.command("--home", str(org.home_path(who)), "--server", org.stack.url, *argv)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_ceremony_runs_to_the_end_in_one_command_each(bare_org: Org) -> None:
    bare_org.ok("admin", "council", "ceremony", "start", "--threshold", "2", "--members", ",".join(COUNCIL))
    # alone, a member waits a bounded time and says how to go on; nothing is lost
    quick = ("--wait", "0.02", "--interval", "0.2")
    alone = bare_org.run("kim", "council", "ceremony", "run", "--yes", "--accept-unverified", *quick)
    assert alone.code == 1 and "still waiting for" in alone.err + alone.out and "resumes where it stopped" in alone.out
    assert "lee" in alone.out  # waiting names people, not numbers
    runs = [
        _cli(bare_org, m, "council", "ceremony", "run", "--yes", "--accept-unverified", "--interval", "0.3", "--wait", "3")
        for m in COUNCIL
    ]
    for member, process in zip(COUNCIL, runs, strict=True):
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, f"{member}: {out}\n{err}"
        assert "done: the council key exists" in out and "Traceback" not in err
    assert "council key of epoch 1" in bare_org.ok("kim", "sync")
