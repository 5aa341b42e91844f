"""Authentication failures all look the same; the role matrix holds for every route and every role."""

from __future__ import annotations

import json

import pytest

from client.api import Api, ApiError
from client.directory import from_genesis
from client.enrol import revoke_account
from keys.accounts import AccountKeys
from keys.encoding import b64u_encode
from keys.requests import case_principal, sign_request
from server.http.routes import ROUTES
from tests.support.world import Member, World

DUMMY_ID = b64u_encode(b"\x00" * 16)


def concrete(path: str) -> str:
    for name in ("case_id", "request_id", "proposal_id", "ceremony_id", "attachment_id", "invite_id"):
        path = path.replace("{" + name + "}", DUMMY_ID)
    return path.replace("{account}", "nobody")


async def audit_count(member: Member) -> int:
    return len((await member.api.call("GET", "/v1/audit"))["entries"])


async def status_of(api: Api, method: str, path: str, *, auth: bool = True) -> int:
    try:
        await api.call(method, path, body={} if method in ("POST", "PUT") else None, auth=auth)
    except ApiError as exc:
        return exc.status
    return 200


async def test_every_route_for_every_role(world: World) -> None:
    admin = await world.admin()
    callers = {"admin": admin, "council": await world.enrol("c1", "council"), "helper": await world.enrol("h1", "helper")}
    case_caller = world.anonymous().as_principal(case_principal(b"\x00" * 16), AccountKeys.generate())
    before = await audit_count(admin)
    checked = 0
    for route in ROUTES:
        path = concrete(route.path)
        if route.roles is None:
            status = await status_of(world.anonymous(), route.method, path, auth=False)
            assert status < 500 and status not in (401, 403), f"{route.method} {route.path}: {status}"
            continue
        assert await status_of(world.anonymous(), route.method, path, auth=False) == 401, route.path
        for role, member in callers.items():
            status = await status_of(member.api, route.method, path)
            if role in route.roles:
                # let through, and answered: a refusal of the (empty) body or the dummy ids is a 4xx, never a 500
                assert status < 500 and status not in (401, 403), f"{role} {route.method} {route.path}: {status}"
            else:
                assert status == 403, f"{role} {route.method} {route.path}: {status}"
            checked += 1
        # a case principal for a case that does not exist cannot even authenticate
        assert await status_of(case_caller, route.method, path) == 401
    assert checked == 3 * sum(1 for r in ROUTES if r.roles is not None)
    assert await audit_count(admin) == before, "a refused request wrote something"


async def test_authentication_failures_look_the_same(world: World) -> None:
    admin = await world.admin()
    helper = await world.enrol("h2", "helper")
    bodies = set()

    async def raw(headers: dict[str, str], path: str = "/v1/directory") -> tuple[int, str]:
        async with world.client.get(path, headers=headers) as response:
            return response.status, await response.text()

    def signed(keys: AccountKeys, principal: str, *, timestamp: int | None = None) -> dict[str, str]:
        ts = int(world.clock()) if timestamp is None else timestamp
        return sign_request(
            keys, principal=principal, method="GET", path="/v1/directory", query="", body=b"", timestamp=ts
        ).as_dict()

    good = signed(helper.keys, "h2")
    assert (await raw(good))[0] == 200
    cases = {
        "replayed nonce": good,
        "bad signature": {**signed(helper.keys, "h2"), "X-Tessera-Signature": b64u_encode(bytes(64))},
        "someone else's key": signed(AccountKeys.generate(), "h2"),
        "unknown account": signed(helper.keys, "nobody"),
        "stale timestamp": signed(helper.keys, "h2", timestamp=int(world.clock()) - 301),
        "future timestamp": signed(helper.keys, "h2", timestamp=int(world.clock()) + 301),
        "missing headers": {},
        "garbage headers": {
            "X-Tessera-Principal": "h2",
            "X-Tessera-Time": "x",
            "X-Tessera-Nonce": "!",
            "X-Tessera-Signature": "?",
        },
    }
    for name, headers in cases.items():
        status, body = await raw(headers)
        assert status == 401, name
        bodies.add(body)
    # revoked: the same answer
    await revoke_account(admin.api, admin.keys, "h2", directory=from_genesis(admin.api))
    status, body = await raw(signed(helper.keys, "h2"))
    assert status == 401
    bodies.add(body)
    assert len(bodies) == 1, bodies
    assert json.loads(bodies.pop()) == {"error": "unauthorized", "message": "authentication failed"}


async def test_signature_covers_path_query_and_body(world: World) -> None:
    helper = await world.enrol("h3", "helper")
    headers = sign_request(
        helper.keys, principal="h3", method="GET", path="/v1/directory", query="after=0", body=b"", timestamp=int(world.clock())
    ).as_dict()
    async with world.client.get("/v1/directory?after=5", headers=headers) as response:
        assert response.status == 401


@pytest.mark.parametrize("who", ["helper", "council"])
async def test_revocation_is_effective_at_once(world: World, who: str) -> None:
    admin = await world.admin()
    member = await world.enrol("x1", who)
    await member.api.call("GET", "/v1/directory")
    await revoke_account(admin.api, admin.keys, "x1", directory=from_genesis(admin.api))
    with pytest.raises(ApiError) as caught:
        await member.api.call("GET", "/v1/directory")
    assert caught.value.status == 401
