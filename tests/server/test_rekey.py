"""The re-key routes on both backends: who may do what, and every bad contribution or attestation is
refused with nothing written."""

from __future__ import annotations

from dataclasses import replace

import pytest

from client import rekey
from client.api import ApiError
from client.casefiles import parse_attested
from client.ceremony import share_for, step_member
from keys.attestation import MerkleTree, sign_attestation
from keys.directory import DirectoryEntry, DirectoryState, replay_to_pin
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import IntakeEnvelope, open_case_file, open_identity, unwrap_case_key
from keys.errors import DecryptionError
from keys.group import Point, multi_mul
from keys.kem import IdentityHeader, unwrap_identity_key
from keys.keyswitch import contribute_switch, switch_context
from keys.reveal import PartialDecryption, approve_reveal, combine_reveal, request_reveal
from keys.sharing import lagrange_coefficients
from keys.wire import from_wire, to_wire
from tests.support.world import Member, World, submit_intake


async def _state(member: Member) -> DirectoryState:
    entries = [from_wire(DirectoryEntry, e) for e in (await member.api.call("GET", "/v1/directory"))["entries"]]
    return replay_to_pin(entries, pinned_seq=0, pinned_head=entries[0].hash())


async def _refused(member: Member, method: str, path: str, status: int, text: str, **kw: object) -> None:
    with pytest.raises(ApiError) as caught:
        await member.api.call(method, path, **kw)  # type: ignore[arg-type]
    assert caught.value.status == status and text in caught.value.message, caught.value.message


async def test_rekey_refuses_bad_contributions_and_attestations(world: World) -> None:
    kim, lee, park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    cases = [await submit_intake(helper, identity=f"person {i}".encode()) for i in range(3)]
    mina = await world.enrol("mina", "council")
    await world.enrol("nari", "council")
    admin = await world.admin()
    body = {"v": 1, "threshold": 2, "members": ["mina", "nari", "kim"]}
    await _refused(admin, "POST", "/v1/ceremonies", 400, "at least 2 members of the current council", body=body)
    await admin.api.call("POST", "/v1/ceremonies", body={"v": 1, "threshold": 2, "members": ["kim", "park", "mina"]})
    for _ in range(8):
        if all([(await step_member(m.api, m.keys, m.secrets)).done for m in (kim, park, mina)]):
            break
    status = await kim.api.call("GET", "/v1/rekey")
    assert (status["state"], status["remaining"]) == ("switching", 3)
    redistribute = {"v": 1, "threshold": 2, "members": ["kim", "park", "mina"], "dealers": []}
    await _refused(admin, "POST", "/v1/ceremonies/redistribute", 409, "re-key is switching", body=redistribute)
    await _refused(admin, "POST", "/v1/ceremonies", 409, "re-key is switching", body={**body, "members": ["kim", "park", "mina"]})
    await _refused(mina, "GET", "/v1/rekey/headers", 403, "not a member of the old council")

    state = await _state(kim)
    assert state.council is not None
    old, new = state.earlier_councils[1], state.council
    index = old.member_by_sign_key(kim.keys.public().sign_key).index  # type: ignore[union-attr]
    share = share_for(kim.secrets, 1)
    assert share is not None
    page = (await kim.api.call("GET", "/v1/rekey/headers"))["cases"]
    assert sorted(b64u_decode(i["case_id"]) for i in page) == sorted(e.case_id for e in cases)
    good = [
        contribute_switch(
            old=old,
            new=new,
            index=index,
            share=share,
            case_id=b64u_decode(i["case_id"]),
            header=from_wire(IdentityHeader, i["header"]),
            swctx=switch_context(old, new),
        )
        for i in page
    ]
    audit_before = (await admin.api.call("GET", "/v1/audit"))["entries"][-1]["seq"]
    flipped = bytearray(good[1].proof)
    flipped[5] ^= 1
    bad_batches = [
        ("does not verify", [good[0], replace(good[1], proof=bytes(flipped)), good[2]]),
        ("your own member index", [replace(good[0], index=index % 3 + 1)]),
        ("one contribution per case", [good[0], good[0]]),
        ("does not verify", [replace(good[0], t_point=good[1].t_point)]),
    ]
    for text, batch in bad_batches:
        body = {"v": 1, "contributions": [to_wire(c) for c in batch]}
        await _refused(kim, "POST", "/v1/rekey/contributions", 400, text, body=body)
    assert (await kim.api.call("GET", "/v1/rekey"))["contributions"] == {}
    assert (await admin.api.call("GET", "/v1/audit"))["entries"][-1]["seq"] == audit_before  # nothing written

    answer = await kim.api.call("POST", "/v1/rekey/contributions", body={"v": 1, "contributions": [to_wire(c) for c in good]})
    assert (answer["accepted"], answer["switched"]) == (3, 0)
    answer = await kim.api.call("POST", "/v1/rekey/contributions", body={"v": 1, "contributions": [to_wire(c) for c in good]})
    assert (answer["accepted"], answer["already"]) == (0, 3)
    assert (await kim.api.call("GET", "/v1/rekey/headers"))["cases"] == []
    await _refused(
        mina, "POST", "/v1/rekey/attestation", 409, "not switched yet", body=_attest_body(mina, state, b"\x00" * 32, 3)
    )
    assert await rekey.contribute(lee.api, lee.keys, lee.secrets, await _state(lee), lambda d, t: None) == 3
    assert (await kim.api.call("GET", "/v1/rekey"))["remaining"] == 0

    # attestations: wrong root, outsider, forged signature, then k valid ones
    await _refused(
        park,
        "POST",
        "/v1/rekey/attestation",
        409,
        "differ from the ones you signed",
        body=_attest_body(park, state, b"\x01" * 32, 3),
    )
    await _refused(lee, "POST", "/v1/rekey/attestation", 403, "new council", body=_attest_body(lee, state, b"\x01" * 32, 3))
    leaves = []
    after = None
    while True:
        items = (await park.api.call("GET", "/v1/rekey/switched", query={"after": after}))["cases"]
        if not items:
            break
        for item in items:
            case_id = b64u_decode(item["case_id"])
            leaves.append(rekey.check_switch(item, case_id, state, rekey.councils(state, status)).leaf(case_id))
        after = items[-1]["case_id"]
    tree = MerkleTree(leaves)
    forged = _attest_body(park, state, tree.root, tree.size)
    forged["signature"]["signature"] = b64u_encode(bytes(64))
    await _refused(park, "POST", "/v1/rekey/attestation", 400, "attestation rejected", body=forged)
    first = await park.api.call("POST", "/v1/rekey/attestation", body=_attest_body(park, state, tree.root, tree.size))
    assert first == {"state": "switching", "signatures": 1, "needed": 2}
    done = await mina.api.call("POST", "/v1/rekey/attestation", body=_attest_body(mina, state, tree.root, tree.size))
    assert done["state"] == "done"
    shown = await kim.api.call("GET", f"/v1/cases/{b64u_encode(cases[0].case_id)}")
    assert shown["envelope"]["header"] is None and shown["switched"]["attestation"]["root"] == b64u_encode(tree.root)
    await _refused(kim, "GET", "/v1/rekey/headers", 409, "no council re-key is running")


def _attest_body(member: Member, state: DirectoryState, root: bytes, size: int) -> dict[str, object]:
    assert state.council is not None
    signature = sign_attestation(state.council, root, size, member.keys)
    return {"v": 1, "root": b64u_encode(root), "size": size, "signature": to_wire(signature)}


async def _whole_rekey(world: World, new: list[Member], contributors: list[Member], attesters: list[Member]) -> None:
    admin = await world.admin()
    await admin.api.call("POST", "/v1/ceremonies", body={"v": 1, "threshold": 2, "members": [m.name for m in new]})
    for _ in range(8):
        if all([(await step_member(m.api, m.keys, m.secrets)).done for m in new]):
            break
    for member in contributors:
        await rekey.contribute(member.api, member.keys, member.secrets, await _state(member), lambda d, t: None)
    for member in attesters:
        await rekey.attest(member.api, member.keys, await _state(member), lambda d, t: None)
    assert (await admin.api.call("GET", "/v1/rekey"))["state"] == "done"


async def test_a_second_rekey_switches_switched_headers_and_the_last_council_reveals(world: World) -> None:
    kim, lee, _park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper, identity="김영희 1990".encode())
    mina, nari = await world.enrol("mina", "council"), await world.enrol("nari", "council")
    await _whole_rekey(world, [kim, lee, mina], contributors=[kim, lee], attesters=[lee, mina])
    await _whole_rekey(world, [lee, mina, nari], contributors=[lee, mina], attesters=[mina, nari])
    state = await _state(lee)
    assert state.council is not None and state.council.epoch == 3
    record = state.council

    # lee (a reader of the case since the start) asks; mina and nari approve with their epoch-3 shares
    path = f"/v1/cases/{b64u_encode(envelope.case_id)}"
    raw = await lee.api.call("GET", path)
    attested = parse_attested(raw["switched"])
    assert attested is not None and attested.attestation.epoch == 3
    stored = from_wire(IntakeEnvelope, raw["envelope"])
    assert stored.header is None
    case_key = unwrap_case_key(lee.keys, envelope.case_id, stored.wraps[0])
    signed = open_case_file(stored, case_key, switched=attested.header)  # origin still the helper-signed header
    request, blinding = request_reveal(
        record=record,
        header=attested.header,
        case_id=envelope.case_id,
        keys=lee.keys,
        purpose="relocation",
        case_key=case_key,
        expiry=int(world.clock()) + 3600,
    )
    await lee.api.call("POST", "/v1/reveals", body=to_wire(request))
    rid = b64u_encode(request.request_id)
    for member in (mina, nari):
        index = record.member_by_sign_key(member.keys.public().sign_key).index  # type: ignore[union-attr]
        share = share_for(member.secrets, 3)
        assert share is not None
        partial = approve_reveal(
            request, record=record, header=attested, index=index, share=share, keys=member.keys, now=int(world.clock())
        )
        await member.api.call("POST", f"/v1/reveals/{rid}/partials", body=to_wire(partial))
    partials = [from_wire(PartialDecryption, p) for p in (await lee.api.call("GET", f"/v1/reveals/{rid}"))["partials"]]
    identity_key = combine_reveal(request, blinding, partials, record=record, header=attested.header)
    assert open_identity(stored, identity_key, signed).decode() == "김영희 1990"
    # k shares of the council between the two re-keys (kept on these test devices, as a thief would) open nothing
    middle = state.earlier_councils[2]
    shares = {}
    for member in (lee, mina):
        old_share = share_for(member.secrets, 2)
        assert old_share is not None
        shares[middle.member_by_sign_key(member.keys.public().sign_key).index] = old_share  # type: ignore[union-attr]
    weights = lagrange_coefficients(sorted(shares))
    x_r = multi_mul((weights[i] * shares[i], Point.decode(attested.header.r)) for i in sorted(shares))
    with pytest.raises(DecryptionError):
        unwrap_identity_key(case_id=envelope.case_id, wrap=attested.header.wrap, m=Point.decode(attested.header.c) - x_r)
