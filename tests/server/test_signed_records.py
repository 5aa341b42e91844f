"""What the server signs and checks for the case side: the intake receipt (under its directory key), votes on
exactly the stored proposal, the proposal's quorum and epoch, and the helper's signed attachment list."""

from __future__ import annotations

from dataclasses import replace

import pytest

from client.api import ApiError
from keys.attachments import sign_attachment_list
from keys.decisions import propose, vote
from keys.directory import DirectoryEntry, replay_to_pin
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope, reply_keys, unwrap_case_key
from keys.receipts import IntakeReceipt, envelope_digest, verify_receipt
from keys.requests import case_principal
from keys.wire import encode_json, from_wire, to_wire
from tests.support.world import World, council_record, submit_intake

REPLY_SECRET = b"\x01" * 32


async def test_the_receipt_is_signed_by_the_directorys_server_key(world: World) -> None:
    await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper)
    path = f"/v1/cases/{b64u_encode(envelope.case_id)}"
    answer = await helper.api.call("PUT", path, body=to_wire(envelope))  # again: the same receipt, signed again
    entries = [from_wire(DirectoryEntry, e) for e in (await helper.api.call("GET", "/v1/directory"))["entries"]]
    state = replay_to_pin(entries, pinned_seq=0, pinned_head=entries[0].hash())
    assert state.server_key is not None
    receipt = from_wire(IntakeReceipt, answer["signed_receipt"])
    verify_receipt(
        receipt, server_key=state.server_key, case_id=envelope.case_id, envelope_digest=envelope_digest(encode_json(envelope))
    )
    assert receipt.day == answer["day"] and b64u_encode(receipt.envelope_digest) == answer["receipt"]


async def test_votes_name_the_stored_proposal_and_its_quorum_and_epoch_are_checked(world: World) -> None:
    kim, lee, _park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper)
    record, seq, head = await council_record(kim.api)
    case_key = unwrap_case_key(
        kim.keys, envelope.case_id, next(w for w in envelope.wraps if w.recipient == kim.keys.public().box_key)
    )
    path = f"/v1/cases/{b64u_encode(envelope.case_id)}/proposals"

    def proposal_for(**kw: object):  # type: ignore[no-untyped-def]
        args: dict[str, object] = dict(
            case_id=envelope.case_id,
            case_key=case_key,
            action="approve",
            note="n",
            epoch=record.epoch,
            needed=2,
            head_seq=seq,
            head_hash=head,
            keys=kim.keys,
        )
        args.update(kw)
        return propose(**args)  # type: ignore[arg-type]

    for bad, status in (
        (proposal_for(needed=1), 400),
        (proposal_for(needed=4), 400),
        (proposal_for(epoch=record.epoch + 1), 409),
    ):
        with pytest.raises(ApiError) as refused:
            await kim.api.call("POST", path, body=to_wire(bad))
        assert refused.value.status == status
    proposal = proposal_for()
    await kim.api.call("POST", path, body=to_wire(proposal))
    pid = b64u_encode(proposal.proposal_id)
    shown = await lee.api.call("GET", f"/v1/proposals/{pid}")
    assert shown["proposal"] == to_wire(proposal) and shown["votes"] == [] and shown["state"] == "open"
    # a vote for another version of this proposal (the same id, another action) is not taken
    other = replace(proposal, action="decline")
    with pytest.raises(ApiError) as refused:
        await lee.api.call(
            "POST",
            f"/v1/proposals/{pid}/votes",
            body=to_wire(vote(proposal=other, approve=True, head_seq=seq, head_hash=head, keys=lee.keys)),
        )
    assert refused.value.status == 400
    ballot = vote(proposal=proposal, approve=True, head_seq=seq, head_hash=head, keys=lee.keys)
    assert (await lee.api.call("POST", f"/v1/proposals/{pid}/votes", body=to_wire(ballot)))["state"] == "open"
    assert (await lee.api.call("GET", f"/v1/proposals/{pid}"))["votes"][0]["vote"] == to_wire(ballot)


async def test_the_attachment_list_must_be_signed_by_the_reply_key_and_only_grows(world: World) -> None:
    kim, *_ = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope: IntakeEnvelope = await submit_intake(helper, reply_secret=REPLY_SECRET)
    reply = reply_keys(REPLY_SECRET, envelope.case_id)
    as_case = helper.api.as_principal(case_principal(envelope.case_id), reply)
    base = f"/v1/cases/{b64u_encode(envelope.case_id)}"
    ids = [b"\x01" * 16, b"\x02" * 16]
    second = sign_attachment_list(case_id=envelope.case_id, serial=2, attachment_ids=ids, reply=reply)
    assert (await as_case.call("PUT", f"{base}/attachment-list", body=to_wire(second)))["serial"] == 2
    first = sign_attachment_list(case_id=envelope.case_id, serial=1, attachment_ids=ids[:1], reply=reply)
    assert (await as_case.call("PUT", f"{base}/attachment-list", body=to_wire(first)))["serial"] == 2  # older: ignored
    assert (await as_case.call("PUT", f"{base}/attachment-list", body=to_wire(second)))["serial"] == 2  # again: fine
    forged = sign_attachment_list(case_id=envelope.case_id, serial=3, attachment_ids=[], reply=helper.keys)
    with pytest.raises(ApiError) as refused:
        await as_case.call("PUT", f"{base}/attachment-list", body=to_wire(forged))
    assert refused.value.status == 400
    differing = sign_attachment_list(case_id=envelope.case_id, serial=2, attachment_ids=ids[1:], reply=reply)
    with pytest.raises(ApiError) as refused:
        await as_case.call("PUT", f"{base}/attachment-list", body=to_wire(differing))
    assert refused.value.status == 409
    with pytest.raises(ApiError) as refused:
        await kim.api.call("PUT", f"{base}/attachment-list", body=to_wire(second))
    assert refused.value.status == 403
    listed = await kim.api.call("GET", f"{base}/attachments")
    assert listed["list"] == to_wire(second) and listed["attachments"] == []
