"""How a report reads cases: real sealed case files served by a fake server. A case this member cannot open,
a forged or tampered one, one whose form does not fit, one the server withholds: each is counted as
unreadable with its reason, never guessed at. An approval counts only with votes this device verified."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from client.api import Api, ApiError
from client.home import Home
from client.report import strings as s
from client.report.source import list_cases, open_record, read_cases
from keys.accounts import AccountKeys
from keys.decisions import propose, vote
from keys.directory import DirectoryState
from keys.encoding import b64u_encode, canonical_json
from keys.envelope import IntakeEnvelope, new_case_id, seal_intake, unwrap_case_key
from keys.wire import to_wire
from tests.keys.test_directory import council_chain
from tests.support.council import Council, run_dkg

MEDICAL = {
    "region": "Jilin",
    "urgency": "high",
    "narrative": "needs surgery",
    "treatment": "emergency-operation",
    "condition": "appendicitis",
    "amount_usd": 1200,
}


class FakeServer(Api):
    """Answers GET /v1/cases and GET /v1/cases/ID from a dict, as a hostile or busy server might."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1", session=None)  # type: ignore[arg-type]  # nothing is sent
        self.stored: dict[str, dict[str, Any]] = {}
        self.refuse: dict[str, list[ApiError]] = {}

    async def call(self, method: str, path: str, *, body: Any = None, query: Any = None, auth: bool = True) -> Any:
        assert method == "GET"
        if path == "/v1/cases":
            rows = [{"case_id": c, "state": raw["state"], "day": raw["day"], "epoch": 1} for c, raw in self.stored.items()]
            return {"cases": rows, "next_cursor": None}
        case_id = path.rsplit("/", 1)[1]
        if self.refuse.get(case_id):
            raise self.refuse[case_id].pop(0)
        return json.loads(json.dumps(self.stored[case_id]))


class Org:
    def __init__(self, tmp_path: Path) -> None:
        self.council: Council = run_dkg(2, 3)
        self.helper = AccountKeys.generate()
        self.reader = self.council.keys[1]
        chain, admin = council_chain(self.council)  # a real verified directory: accounts, council, heads
        chain.add("helper", "helper", self.helper, admin)
        self.state: DirectoryState = chain.state
        self.home = Home(
            tmp_path,
            None,
            {
                "account": "member-1",
                "role": "council",
                "sign_seed": b64u_encode(self.reader.sign_seed),
                "box_secret": b64u_encode(self.reader.box_secret),
            },
        )
        self.server = FakeServer()

    def seal(self, fields: dict[str, Any], *, kind: str = "medical", author: AccountKeys | None = None) -> IntakeEnvelope:
        return seal_intake(
            case_id=new_case_id(),
            case_file=canonical_json({"kind": kind, "schema": 1, "fields": fields}),
            identity=canonical_json({"full_name": "김영희"}),
            record=self.council.record,
            author="helper",
            author_keys=author or self.helper,
            reply_secret=b"\x02" * 32,
            head_seq=self.state.seq,
            head_hash=self.state.head,
        )

    def serve(self, envelope: IntakeEnvelope, *, day: int = 20000, decisions: list[dict[str, Any]] | None = None) -> str:
        case_id = b64u_encode(envelope.case_id)
        mine = next(w for w in envelope.wraps if w.recipient == self.reader.public().box_key)
        self.server.stored[case_id] = {
            "case_id": case_id,
            "state": "decided" if decisions else "open",
            "day": day,
            "epoch": 1,
            "envelope": to_wire(replace(envelope, wraps=(mine,))),
            "switched": None,
            "decisions": decisions or [],
        }
        return case_id

    def decision(self, envelope: IntakeEnvelope, action: str, voters: list[int]) -> dict[str, Any]:
        case_key = unwrap_case_key(
            self.reader, envelope.case_id, next(w for w in envelope.wraps if w.recipient == self.reader.public().box_key)
        )
        head = {"head_seq": self.state.seq, "head_hash": self.state.head}
        proposal = propose(
            case_id=envelope.case_id, case_key=case_key, action=action, note="as asked", epoch=1, needed=2, keys=self.reader,
            **head,
        )
        ballots = [vote(proposal=proposal, approve=True, keys=self.council.keys[i], **head) for i in voters]
        return {
            "proposal_id": b64u_encode(proposal.proposal_id),
            "action": action,
            "state": "adopted",
            "day": 20001,
            "proposer": "member-1",
            "proposal": to_wire(proposal),
            "votes": [
                {"account": f"member-{i}", "approve": True, "vote": to_wire(b)} for i, b in zip(voters, ballots, strict=True)
            ],
        }

    async def read(self, since_day: int = 0) -> tuple[dict[str, Any], dict[str, str]]:
        records, unreadable = await read_cases(
            await list_cases(self.server),
            lambda case_id: open_record(self.server, self.home, self.state, case_id),
            since_day=since_day,
        )
        return {r.case_id: r for r in records}, {u.case_id: u.reason for u in unreadable}


@pytest.fixture
def org(tmp_path: Path) -> Org:
    return Org(tmp_path)


async def test_a_readable_case_with_a_verified_approval(org: Org) -> None:
    envelope = org.seal(MEDICAL)
    case_id = org.serve(envelope, decisions=[org.decision(envelope, "approve", [1, 2])])
    records, unreadable = await org.read()
    assert unreadable == {}
    record = records[case_id]
    assert record.kind == "medical" and record.outcome == "approved" and record.day == 20000
    assert record.fields == {"urgency": "high", "treatment": "emergency-operation", "amount_usd": 1200}  # no free text


async def test_an_adoption_without_enough_verified_votes_is_not_believed(org: Org) -> None:
    envelope = org.seal(MEDICAL)
    case_id = org.serve(envelope, decisions=[org.decision(envelope, "approve", [1])])  # the server says adopted
    records, _ = await org.read()
    assert records[case_id].outcome == "open" and records[case_id].unverified_decisions == 1


async def test_the_server_cannot_move_or_relabel_an_approval(org: Org) -> None:
    """A genuine adopted approval, with genuine votes, served on another case or under another action."""
    approved = org.seal(MEDICAL)
    decision = org.decision(approved, "approve", [1, 2])
    org.serve(approved, decisions=[decision])
    other = org.serve(org.seal(MEDICAL), decisions=[decision])  # the approval of `approved`, replayed here
    declined = org.seal(MEDICAL)
    relabelled = org.serve(declined, decisions=[{**org.decision(declined, "decline", [1, 2]), "action": "approve"}])
    records, _ = await org.read()
    assert records[b64u_encode(approved.case_id)].outcome == "approved"
    assert records[other].outcome == "open" and records[other].unverified_decisions == 1
    # the council declined it, whatever the server labels it: the action shown is the one the proposer signed
    assert records[relabelled].outcome == "declined"


async def test_cases_that_cannot_be_read_are_counted_with_their_reason(org: Org) -> None:
    stranger = Org(org.home.path)  # another council: its wraps do not open with this member's key
    foreign = stranger.seal(MEDICAL)
    foreign_id = b64u_encode(foreign.case_id)
    org.server.stored[foreign_id] = {
        "case_id": foreign_id,
        "state": "open",
        "day": 20000,
        "epoch": 1,
        "envelope": to_wire(replace(foreign, wraps=(foreign.wraps[0],))),
        "switched": None,
        "decisions": [],
    }
    forged = org.serve(org.seal(MEDICAL, author=AccountKeys.generate()))  # signed by someone calling themselves helper
    misfit = org.serve(org.seal({**MEDICAL, "amount_usd": "a lot"}))
    tampered_envelope = org.seal(MEDICAL)
    flipped = bytearray(tampered_envelope.case_file)
    flipped[40] ^= 1
    tampered = org.serve(replace(tampered_envelope, case_file=bytes(flipped)))
    withheld = org.serve(org.seal(MEDICAL))
    org.server.refuse[withheld] = [ApiError(404, "not_found", "no key wrap for you on this case")]
    broken = org.serve(org.seal(MEDICAL))
    del org.server.stored[broken]["envelope"]["kid"]
    fine = org.serve(org.seal(MEDICAL))
    records, unreadable = await org.read()
    assert set(records) == {fine}
    assert unreadable == {
        foreign_id: s.REASON_DOES_NOT_OPEN,
        forged: s.REASON_FORGED,
        misfit: s.REASON_FORM,
        tampered: s.REASON_DOES_NOT_OPEN,  # the AEAD does not open (it was altered)
        withheld: s.REASON_NOT_SERVED,
        broken: s.REASON_MALFORMED,
    }


async def test_older_cases_are_not_fetched(org: Org) -> None:
    old = org.serve(org.seal(MEDICAL), day=19000)
    new = org.serve(org.seal(MEDICAL), day=19500)
    records, _ = await org.read(since_day=19500)
    assert set(records) == {new} and old not in records


async def test_it_waits_out_the_rate_limit_and_gives_up_after_a_while(org: Org) -> None:
    case_id = org.serve(org.seal(MEDICAL))
    org.server.refuse[case_id] = [ApiError(429, "rate_limited", "more than 600 requests this minute")]
    waits: list[int] = []
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def opener(case_id: str) -> Any:
        return await open_record(org.server, org.home, org.state, case_id)

    rows = await list_cases(org.server)
    records, _ = await read_cases(rows, opener, since_day=0, on_wait=waits.append, sleep=sleep, clock=lambda: 120.0 + 45)
    assert len(records) == 1 and waits == [16] and slept == [16]  # 45 s into a minute: on again 1 s after it ends
    org.server.refuse[case_id] = [ApiError(429, "rate_limited", "busy")] * 10
    with pytest.raises(ApiError):
        await read_cases(rows, opener, since_day=0, sleep=sleep, clock=lambda: 0.0)


async def test_a_malformed_case_list_is_a_clear_error(org: Org) -> None:
    from keys.errors import ProtocolError

    good = {"case_id": "x", "state": "open", "day": 1}
    for rows in ([{**good, "case_id": 5}], [{**good, "day": 10**12}], [{"case_id": "x"}], [good, good]):

        async def bad(method: str, path: str, rows: Any = rows, **kw: Any) -> Any:
            return {"cases": rows, "next_cursor": None}

        org.server.call = bad  # type: ignore[method-assign]
        with pytest.raises(ProtocolError, match="malformed"):
            await list_cases(org.server)
