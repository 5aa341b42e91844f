"""Bad input gets a clear 4xx JSON error and changes nothing."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from client.api import ApiError
from keys.encoding import b64u_encode
from keys.envelope import new_case_id, seal_intake
from keys.requests import sign_request
from keys.wire import to_wire
from tests.support.world import Member, World, council_record


async def audit_count(member: Member) -> int:
    return len((await member.api.call("GET", "/v1/audit"))["entries"])


async def raw_send(world: World, member: Member, method: str, path: str, body: bytes) -> tuple[int, dict]:  # type: ignore[type-arg]
    headers = sign_request(
        member.keys, principal=member.name, method=method, path=path, query="", body=body, timestamp=int(world.clock())
    ).as_dict()
    async with world.client.request(
        method, path, data=io.BytesIO(body), headers={**headers, "Content-Type": "application/json"}
    ) as response:
        return response.status, await response.json()


@pytest.fixture
async def ready(world: World):  # type: ignore[no-untyped-def]
    members = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("helper1", "helper")
    record, seq, head = await council_record(helper.api)
    envelope = seal_intake(
        case_id=new_case_id(),
        case_file=b"{}",
        identity=b"x",
        record=record,
        author="helper1",
        author_keys=helper.keys,
        reply_secret=b"\x01" * 32,
        head_seq=seq,
        head_hash=head,
    )
    return members, helper, envelope


async def test_malformed_intakes_are_refused_and_nothing_is_written(world: World, ready) -> None:  # type: ignore[no-untyped-def]
    members, helper, envelope = ready
    admin = await world.admin()
    before = await audit_count(admin)
    path = f"/v1/cases/{b64u_encode(envelope.case_id)}"
    wire = to_wire(envelope)
    flipped = bytearray(envelope.header.proof)
    flipped[3] ^= 1
    bad_bodies = {
        "not JSON": b"{nope",
        "not UTF-8": b"\xff\xfe",
        "array": b"[]",
        "unknown version": json.dumps({**wire, "v": 2}).encode(),
        "unknown field": json.dumps({**wire, "extra": 1}).encode(),
        "wrong type": json.dumps({**wire, "epoch": "1"}).encode(),
        "short field": json.dumps({**wire, "kid": "AAAA"}).encode(),
        "invalid point": json.dumps({**wire, "header": {**wire["header"], "r": b64u_encode(bytes(32))}}).encode(),
        "bad proof": json.dumps(to_wire(replace(envelope, header=replace(envelope.header, proof=bytes(flipped))))).encode(),
        "missing wrap": json.dumps(to_wire(replace(envelope, wraps=envelope.wraps[:-1]))).encode(),
        "other case id in path": json.dumps(to_wire(replace(envelope, case_id=new_case_id()))).encode(),
    }
    for name, body in bad_bodies.items():
        status, answer = await raw_send(world, helper, "PUT", path, body)
        assert status == 400, (name, status, answer)
        assert set(answer) == {"error", "message"} and answer["message"], name
    status, answer = await raw_send(world, helper, "PUT", path, b"x" * (1024 * 1024 + 1))
    assert status == 413 and answer["error"] == "too_large"
    assert (await members[0].api.call("GET", "/v1/cases"))["cases"] == []
    assert await audit_count(admin) == before


async def test_malformed_bodies_on_other_routes_are_refused_and_nothing_is_written(world: World, ready) -> None:  # type: ignore[no-untyped-def]
    """The adapter parses every JSON body the same way (server/http/adapter.py): after authentication, before
    the handler, so a case that exists, a signed request and a malformed body still answer 400."""
    members, helper, envelope = ready
    kim = members[0]
    admin = await world.admin()
    await helper.api.call("PUT", f"/v1/cases/{b64u_encode(envelope.case_id)}", body=to_wire(envelope))
    before = await audit_count(admin)
    case = b64u_encode(envelope.case_id)
    routes = [
        (kim, "POST", f"/v1/cases/{case}/messages"),
        (kim, "POST", f"/v1/cases/{case}/proposals"),
        (kim, "POST", "/v1/reveals"),
        (kim, "POST", "/v1/wraps"),
        (admin, "POST", "/v1/invites"),
        (helper, "POST", "/v1/accounts/helper1/revoke"),
        (helper, "POST", "/v1/join"),  # public: no signature checked, the same parse
    ]
    for member, method, path in routes:
        for body in (b"{nope", b"[]", b'{"v":1}', b'{"v":1,"extra":1}'):
            status, answer = await raw_send(world, member, method, path, body)
            assert status == 400, (path, body, status, answer)
            assert set(answer) == {"error", "message"} and answer["message"], (path, body)
    assert await audit_count(admin) == before
    assert (await kim.api.call("GET", f"/v1/cases/{case}/messages"))["messages"] == []
    assert (await kim.api.call("GET", "/v1/proposals"))["proposals"] == []
    assert (await kim.api.call("GET", "/v1/reveals"))["requests"] == []


async def test_bad_ids_and_queries(world: World, ready) -> None:  # type: ignore[no-untyped-def]
    members, _helper, _ = ready
    kim = members[0]
    for path, query in [
        ("/v1/cases/not-an-id", None),
        ("/v1/cases", {"state": "weird"}),
        ("/v1/cases", {"limit": "x"}),
        ("/v1/cases", {"cursor": "!!"}),
    ]:
        with pytest.raises(ApiError) as caught:
            await kim.api.call("GET", path, query=query)
        assert caught.value.status == 400, path
    with pytest.raises(ApiError) as missing:
        await kim.api.call("GET", f"/v1/cases/{b64u_encode(bytes(16))}")
    assert missing.value.status == 404


async def test_unknown_routes_and_methods_are_json(world: World) -> None:
    async with world.client.get("/v1/nothing") as response:
        assert response.status == 404 and (await response.json())["error"] == "not_found"
    async with world.client.delete("/v1/health") as response:
        assert response.status == 405 and (await response.json())["error"] == "method_not_allowed"


async def test_reveal_partial_from_the_wrong_member_is_refused_and_logged(world: World, ready) -> None:  # type: ignore[no-untyped-def]
    from keys.envelope import open_case_file, unwrap_case_key
    from keys.errors import TesseraError
    from keys.group import Scalar
    from keys.reveal import approve_reveal, request_reveal

    members, helper, envelope = ready
    kim, lee, _park = members
    await helper.api.call("PUT", f"/v1/cases/{b64u_encode(envelope.case_id)}", body=to_wire(envelope))
    record, _, _ = await council_record(kim.api)
    case_key = unwrap_case_key(
        kim.keys, envelope.case_id, next(w for w in envelope.wraps if w.recipient == kim.keys.public().box_key)
    )
    open_case_file(envelope, case_key)
    request, _ = request_reveal(
        record=record,
        header=envelope.header,
        case_id=envelope.case_id,
        keys=kim.keys,
        purpose="p",
        case_key=case_key,
        expiry=int(world.clock()) + 600,
    )
    await kim.api.call("POST", "/v1/reveals", body=to_wire(request))
    lee_index = record.member_by_sign_key(lee.keys.public().sign_key).index  # type: ignore[union-attr]
    wrong_share = Scalar.random()
    with pytest.raises(TesseraError):  # an honest client refuses a wrong share; forge a partial by hand below
        approve_reveal(
            request,
            record=record,
            header=envelope.header,
            index=lee_index,
            share=wrong_share,
            keys=lee.keys,
            now=int(world.clock()),
        )
    from keys.encoding import u16
    from keys.group import Point
    from keys.hashing import TAG_APPROVE
    from keys.proofs import prove_dleq
    from keys.reveal import PartialDecryption, prepare_request
    from keys.wire import signing_bytes

    prepared = prepare_request(request, record)
    point = prepared.blinded.mul(wrong_share)
    proof = prove_dleq(wrong_share, Point.base_mul(wrong_share), prepared.blinded, point, [prepared.context, u16(lee_index)])
    forged = PartialDecryption(
        v=1, request_id=request.request_id, index=lee_index, point=point.encode(), proof=proof.encode(), signature=bytes(64)
    )
    forged = replace(forged, signature=lee.keys.sign(TAG_APPROVE, signing_bytes(forged)))
    with pytest.raises(ApiError) as caught:
        await lee.api.call("POST", f"/v1/reveals/{b64u_encode(request.request_id)}/partials", body=to_wire(forged))
    assert caught.value.status == 400
    entries = (await kim.api.call("GET", "/v1/audit"))["entries"]
    assert entries[-1]["action"] == "reveal.partial_rejected" and entries[-1]["actor"] == "lee"
    assert (await kim.api.call("GET", f"/v1/reveals/{b64u_encode(request.request_id)}"))["partials"] == []
