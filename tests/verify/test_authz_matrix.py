"""Authorization matrix: every route x every role x {no signature, bad signature, replayed nonce, stale
timestamp, revoked account} gives the documented answer (401, the same body) and writes nothing; and
another member's object is out of reach (the same 404 as an absent one)."""

from __future__ import annotations

import io

import pytest
from aiohttp.test_utils import TestClient

from client.api import ApiError
from client.directory import from_genesis
from client.enrol import revoke_account
from keys.encoding import b64u_encode
from keys.envelope import new_case_id, reply_keys, seal_intake, unwrap_case_key
from keys.requests import case_principal, sign_request
from keys.reveal import request_reveal
from keys.wire import to_wire
from server.http.routes import ROUTES
from tests.server.test_auth_and_roles import concrete
from tests.support.world import Member, World, council_record

UNAUTHORIZED = {"error": "unauthorized", "message": "authentication failed"}


async def send(http: TestClient, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, object]:
    async with http.request(method, path, headers=headers, data=io.BytesIO(body) if body else None) as response:
        return response.status, await response.json()


def signed(member: Member, method: str, path: str, body: bytes, timestamp: int) -> dict[str, str]:
    return sign_request(
        member.keys, principal=member.name, method=method, path=path, query="", body=body, timestamp=timestamp
    ).as_dict()


async def audit_len(member: Member) -> int:
    return len((await member.api.call("GET", "/v1/audit"))["entries"])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_every_route_every_role_every_failure(world: World) -> None:
    admin = await world.admin()
    people = {"admin": admin, "council": await world.enrol("c1", "council"), "helper": await world.enrol("h1", "helper")}
    revoked = await world.enrol("gone", "helper")
    await revoke_account(admin.api, admin.keys, "gone", directory=from_genesis(admin.api))
    before = await audit_len(admin)
    now = int(world.clock())
    body = b"{}"
    cells = 0
    for route in ROUTES:
        if route.roles is None:
            continue
        path = concrete(route.path)
        data = body if route.method in ("POST", "PUT") else b""
        for member in people.values():
            good = signed(member, route.method, path, data, now)
            cases = {
                "no signature": {},
                "bad signature": {**good, "X-Tessera-Signature": b64u_encode(bytes(64))},
                "stale timestamp": signed(member, route.method, path, data, now - 400),
                "revoked account": signed(revoked, route.method, path, data, now),
            }
            for name, headers in cases.items():
                status, answer = await send(world.client, route.method, path, headers, data)
                assert (status, answer) == (401, UNAUTHORIZED), (name, route.method, route.path, member.name)
                cells += 1
            await send(world.client, route.method, path, good, data)  # whatever it answers, then the replay:
            status, answer = await send(world.client, route.method, path, good, data)
            assert (status, answer) == (401, UNAUTHORIZED), ("replayed nonce", route.method, route.path, member.name)
            cells += 1
    assert cells == 5 * 3 * sum(1 for r in ROUTES if r.roles is not None)
    assert await audit_len(admin) == before, "a refused request wrote something"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_another_members_objects_look_absent(world: World) -> None:

    kim, lee, _park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    record, seq, head = await council_record(helper.api)
    envelopes = []
    for secret in (b"\x01" * 32, b"\x02" * 32):
        env = seal_intake(
            case_id=new_case_id(),
            case_file=b"{}",
            identity=b"x",
            record=record,
            author="hana",
            author_keys=helper.keys,
            reply_secret=secret,
            head_seq=seq,
            head_hash=head,
        )
        await helper.api.call("PUT", f"/v1/cases/{b64u_encode(env.case_id)}", body=to_wire(env))
        envelopes.append(env)
    a, b = envelopes
    case_key = unwrap_case_key(kim.keys, a.case_id, next(w for w in a.wraps if w.recipient == kim.keys.public().box_key))
    request, _ = request_reveal(
        record=record,
        header=a.header,
        case_id=a.case_id,
        keys=kim.keys,
        purpose="p",
        case_key=case_key,
        expiry=int(world.clock()) + 600,
    )
    await kim.api.call("POST", "/v1/reveals", body=to_wire(request))
    absent = b64u_encode(bytes(16))
    # another member's reveal request looks exactly like an absent one
    answers = []
    for rid in (b64u_encode(request.request_id), absent):
        with pytest.raises(ApiError) as caught:
            await lee.api.call("GET", f"/v1/reveals/{rid}")
        answers.append((caught.value.status, caught.value.message))
    assert answers[0] == answers[1] == (404, "no such request")
    # the helper of case A (through A's reply key) cannot read case B, and it looks absent
    as_a = helper.api.as_principal(case_principal(a.case_id), reply_keys(b"\x01" * 32, a.case_id))
    answers = []
    for target in (b.case_id, bytes(16)):
        with pytest.raises(ApiError) as caught:
            await as_a.call("GET", f"/v1/cases/{b64u_encode(target)}")
        answers.append((caught.value.status, caught.value.message))
        with pytest.raises(ApiError) as messages:
            await as_a.call("GET", f"/v1/cases/{b64u_encode(target)}/messages")
        assert messages.value.status == 404
    assert answers[0] == answers[1]
    # a reply key of case B cannot authenticate as case A's principal
    wrong = helper.api.as_principal(case_principal(a.case_id), reply_keys(b"\x02" * 32, b.case_id))
    with pytest.raises(ApiError) as caught:
        await wrong.call("GET", f"/v1/cases/{b64u_encode(a.case_id)}")
    assert caught.value.status == 401
