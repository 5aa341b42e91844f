"""The whole story against create_app: enrolment, ceremony, intake, triage, reveal, decision, messages."""

from __future__ import annotations

from dataclasses import replace

import pytest

from client.api import ApiError
from keys.council import EpochRecord
from keys.decisions import Proposal, open_note, propose, vote
from keys.directory import DirectoryEntry, replay_to_pin
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import IntakeEnvelope, new_case_id, open_case_file, open_identity, reply_keys, seal_intake, unwrap_case_key
from keys.errors import QuorumError
from keys.group import Scalar
from keys.hashing import digest
from keys.messages import SealedMessage, open_message, seal_message
from keys.requests import case_principal
from keys.reveal import PartialDecryption, approve_reveal, combine_reveal, request_reveal
from keys.wire import encode_json, from_wire, to_wire
from tests.support.world import World, council_record


async def test_join_and_ceremony(world: World) -> None:
    members = await world.council(["kim", "lee", "park"], threshold=2)
    answer = await members[0].api.call("GET", "/v1/directory")
    entries = [from_wire(DirectoryEntry, e) for e in answer["entries"]]
    state = replay_to_pin(entries, pinned_seq=0, pinned_head=entries[0].hash())
    assert isinstance(state.council, EpochRecord)
    assert {m.account for m in state.council.members} == {"kim", "lee", "park"}
    assert state.council.threshold == 2
    with pytest.raises(ApiError) as caught:
        await world.join(await world.invite("kim", "helper"), "kim")
    assert caught.value.status == 409


async def test_the_whole_story(world: World) -> None:
    kim, lee, park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("helper1", "helper")
    record, seq, head = await council_record(helper.api)
    reply_secret = b"\x11" * 32
    case_id = new_case_id()
    envelope = seal_intake(
        case_id=case_id,
        case_file='{"kind":"medical","need":"수술비"}'.encode(),
        identity="김영희 1990".encode(),
        record=record,
        author="helper1",
        author_keys=helper.keys,
        reply_secret=reply_secret,
        head_seq=seq,
        head_hash=head,
    )
    path = f"/v1/cases/{b64u_encode(case_id)}"
    receipt = await helper.api.call("PUT", path, body=to_wire(envelope))
    assert receipt == await helper.api.call("PUT", path, body=to_wire(envelope))  # idempotent
    assert receipt["receipt"] == b64u_encode(digest(encode_json(envelope)))
    shown = await kim.api.call("GET", path)  # what is stored: the envelope without the member wraps, and kim's
    kim_wrap = [w for w in envelope.wraps if w.recipient == kim.keys.public().box_key]
    assert from_wire(IntakeEnvelope, shown["envelope"]) == replace(envelope, wraps=tuple(kim_wrap))
    other = seal_intake(
        case_id=case_id,
        case_file=b"{}",
        identity=b"x",
        record=record,
        author="helper1",
        author_keys=helper.keys,
        reply_secret=reply_secret,
        head_seq=seq,
        head_hash=head,
    )
    with pytest.raises(ApiError) as conflict:
        await helper.api.call("PUT", path, body=to_wire(other))
    assert conflict.value.status == 409

    # triage: a member lists and reads the case file with its own wrap
    listing = await kim.api.call("GET", "/v1/cases", query={"state": "open"})
    assert [c["case_id"] for c in listing["cases"]] == [b64u_encode(case_id)]
    case = await kim.api.call("GET", path)
    stored = from_wire(IntakeEnvelope, case["envelope"])
    assert [w.recipient for w in stored.wraps] == [kim.keys.public().box_key]
    case_key = unwrap_case_key(kim.keys, case_id, stored.wraps[0])
    assert open_case_file(stored, case_key).body.decode() == '{"kind":"medical","need":"수술비"}'

    # reveal: one approval is not enough, two are
    request, blinding = request_reveal(
        record=record,
        header=stored.header,
        case_id=case_id,
        keys=kim.keys,
        purpose="relocation",
        case_key=case_key,
        expiry=int(world.clock()) + 3600,
    )
    await kim.api.call("POST", "/v1/reveals", body=to_wire(request))
    rid = b64u_encode(request.request_id)
    pending = await lee.api.call("GET", "/v1/reveals")
    assert [p["request"]["request_id"] for p in pending["requests"]] == [rid]
    now = int(world.clock())
    for member in (lee,):
        index = record.member_by_sign_key(member.keys.public().sign_key).index  # type: ignore[union-attr]
        share = Scalar(b64u_decode(member.secrets["share:1"]))
        partial = approve_reveal(
            request, record=record, header=stored.header, index=index, share=share, keys=member.keys, now=now
        )
        await member.api.call("POST", f"/v1/reveals/{rid}/partials", body=to_wire(partial))
    got = await kim.api.call("GET", f"/v1/reveals/{rid}")
    partials = [from_wire(PartialDecryption, p) for p in got["partials"]]
    with pytest.raises(QuorumError):
        combine_reveal(request, blinding, partials, record=record, header=stored.header)
    index = record.member_by_sign_key(park.keys.public().sign_key).index  # type: ignore[union-attr]
    share = Scalar(b64u_decode(park.secrets["share:1"]))
    partial = approve_reveal(request, record=record, header=stored.header, index=index, share=share, keys=park.keys, now=now)
    await park.api.call("POST", f"/v1/reveals/{rid}/partials", body=to_wire(partial))
    got = await kim.api.call("GET", f"/v1/reveals/{rid}")
    partials = [from_wire(PartialDecryption, p) for p in got["partials"]]
    identity_key = combine_reveal(request, blinding, partials, record=record, header=stored.header)
    assert open_identity(stored, identity_key, open_case_file(stored, case_key)).decode() == "김영희 1990"
    with pytest.raises(ApiError) as not_yours:
        await lee.api.call("GET", f"/v1/reveals/{rid}")
    assert not_yours.value.status == 404

    # decision: proposal and two yes votes of three adopt it (majority); the case is decided
    proposal = propose(
        case_id=case_id,
        case_key=case_key,
        action="approve",
        note="500 USD for the operation",
        epoch=record.epoch,
        needed=2,
        head_seq=seq,
        head_hash=head,
        keys=kim.keys,
    )
    await kim.api.call("POST", f"{path}/proposals", body=to_wire(proposal))
    pid = b64u_encode(proposal.proposal_id)
    ballot = vote(proposal=proposal, approve=True, head_seq=seq, head_hash=head, keys=kim.keys)
    state = await kim.api.call("POST", f"/v1/proposals/{pid}/votes", body=to_wire(ballot))
    assert state["state"] == "open"
    ballot = vote(proposal=proposal, approve=True, head_seq=seq, head_hash=head, keys=lee.keys)
    state = await lee.api.call("POST", f"/v1/proposals/{pid}/votes", body=to_wire(ballot))
    assert state["state"] == "adopted"
    assert (await kim.api.call("GET", path))["state"] == "decided"

    # messages: the council writes to the helper; the helper reads it through the case's reply key
    readers = [m.box_key for m in record.members] + [stored.reply_box_key]
    message = seal_message(
        case_id=case_id, thread="case", text="We will pay. 지원합니다.", author="kim", author_keys=kim.keys, readers=readers
    )
    await kim.api.call("POST", f"{path}/messages", body=to_wire(message))
    reply = reply_keys(reply_secret, case_id)
    as_case = helper.api.as_principal(case_principal(case_id), reply)
    inbox = await as_case.call("GET", f"{path}/messages")
    opened = open_message(from_wire(SealedMessage, inbox["messages"][0]["message"]), reply)
    assert opened.text == "We will pay. 지원합니다."
    for method, route in [("GET", "/v1/cases"), ("GET", "/v1/directory"), ("GET", "/v1/reveals")]:
        with pytest.raises(ApiError) as refused:
            await as_case.call(method, route)
        assert refused.value.status == 403, route
    with pytest.raises(ApiError) as other_case:
        await as_case.call("GET", f"/v1/cases/{b64u_encode(new_case_id())}")
    assert other_case.value.status == 404
    mine = await as_case.call("GET", path)
    assert [d["action"] for d in mine["decisions"]] == ["approve"]
    outcome = from_wire(Proposal, mine["decisions"][0]["proposal"])
    helper_case_key = unwrap_case_key(reply, case_id, from_wire(IntakeEnvelope, mine["envelope"]).reply_wrap)
    assert open_note(outcome, helper_case_key) == "500 USD for the operation"
    # a council-only note must not include the reply key, and the helper does not see it
    note = seal_message(case_id=case_id, thread="council", text="internal", author="lee", author_keys=lee.keys, readers=readers)
    with pytest.raises(ApiError) as wrong_readers:
        await lee.api.call("POST", f"{path}/messages", body=to_wire(note))
    assert wrong_readers.value.status == 400
    note = seal_message(
        case_id=case_id, thread="council", text="internal", author="lee", author_keys=lee.keys, readers=readers[:-1]
    )
    await lee.api.call("POST", f"{path}/messages", body=to_wire(note))
    assert len((await as_case.call("GET", f"{path}/messages"))["messages"]) == 1
    assert len((await kim.api.call("GET", f"{path}/messages"))["messages"]) == 2
