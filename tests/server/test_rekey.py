"""The re-key routes on both backends: who may do what, and every bad contribution or attestation is
refused with nothing written."""

from __future__ import annotations

from dataclasses import replace

import pytest

from client import rekey
from client.api import ApiError
from client.ceremony import ceremony_step, share_for
from keys.attestation import MerkleTree, sign_attestation
from keys.directory import DirectoryEntry, DirectoryState, replay_to_pin
from keys.encoding import b64u_decode, b64u_encode
from keys.kem import IdentityHeader
from keys.keyswitch import contribute_switch, switch_context
from keys.wire import from_wire, to_wire

from .conftest import Member, World, submit_intake


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
        if all([(await ceremony_step(m.api, m.keys, m.secrets)).done for m in (kim, park, mina)]):
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
    bad_batches = {
        "does not verify": [good[0], replace(good[1], proof=bytes(flipped)), good[2]],
        "your own member index": [replace(good[0], index=index % 3 + 1)],
        "one contribution per case": [good[0], good[0]],
        "does not verify ": [replace(good[0], t_point=good[1].t_point)],
    }
    for text, batch in bad_batches.items():
        body = {"v": 1, "contributions": [to_wire(c) for c in batch]}
        await _refused(kim, "POST", "/v1/rekey/contributions", 400, text.strip(), body=body)
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
