"""A helper's addenda against a lying server and a member who impersonates the helper (issue 26 item 6): an
addendum counts only from the case's reply key and only on its own case (protocol doc §8c)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from client.api import Api
from keys.addenda import Addendum, addendum_text
from keys.council import EpochRecord
from keys.encoding import b64u_decode
from keys.envelope import IntakeEnvelope
from keys.messages import seal_message
from keys.wire import from_wire, to_wire
from tests.support.harness import Org


def _post_as(org: Org, who: str, case: str, text: str, *, author: str) -> None:
    """`who` seals a case-thread message claiming `author`, signed with their own keys, to the case's readers."""
    home = org.home(who)

    async def post() -> None:
        async with aiohttp.ClientSession() as session:
            api = Api(org.stack.url, session, keys=home.keys, principal=home.account)
            envelope = from_wire(IntakeEnvelope, (await api.call("GET", f"/v1/cases/{case}"))["envelope"])
            record = from_wire(EpochRecord, home.state["council"])
            readers = [m.box_key for m in record.members] + [envelope.reply_box_key]
            message = seal_message(
                case_id=envelope.case_id, thread="case", text=text, author=author, author_keys=home.keys, readers=readers
            )
            await api.call("POST", f"/v1/cases/{case}/messages", body=to_wire(message))

    asyncio.run(post())


def test_a_withdrawal_signed_by_anyone_but_the_helper_does_not_count(org: Org) -> None:
    forged = Addendum(v=1, case_id=b64u_decode(org.case, length=16), kind="withdrawal", fields=(), note="close it")
    _post_as(org, "kim", org.case, addendum_text(forged), author="helper")
    shown = json.loads(org.ok("lee", "cases", "show", org.case, "--json"))
    assert shown["addenda"] == []
    assert not json.loads(org.ok("lee", "cases", "list", "--json", "--kind", "medical"))["cases"][0]["withdrawal_asked"]
    assert not [i for i in json.loads(org.ok("lee", "todo", "--json"))["items"] if i["kind"] == "withdrawal"]
    listed = json.loads(org.ok("lee", "messages", "list", org.case, "--json"))["messages"]
    assert listed[-1]["author"] == "helper (UNVERIFIED SENDER)" and listed[-1]["addendum"] is None


def test_a_withdrawal_moved_to_another_case_does_not_count_there(org: Org) -> None:
    org.ok("hana", "intake", "withdraw", org.case2, "--reason", "moved on", "--yes")
    other: list[Any] = []
    hook = org.relay.rewrite("GET", f"/v1/cases/{org.case2}/messages", lambda _s, b: other.append(b) or b)
    org.ok("kim", "messages", "list", org.case2)
    org.relay._rewrites.remove(hook)
    moved = other[-1]["messages"]
    org.relay.rewrite("GET", f"/v1/cases/{org.case}/messages", lambda _s, b: {"messages": b["messages"] + moved})
    assert json.loads(org.ok("lee", "cases", "show", org.case, "--json"))["addenda"] == []
    listed = {c["case_id"]: c for c in json.loads(org.ok("lee", "cases", "list", "--json"))["cases"]}
    assert listed[org.case2]["withdrawal_asked"] is True and listed[org.case]["withdrawal_asked"] is False
