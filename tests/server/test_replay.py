"""Replay protection for requests that change state: the nonce is recorded in the request's first write,
in the same transaction as the change, or before the answer when the request wrote nothing or failed.
Whatever the first copy did, a second copy of the same signed request is the same 401 and writes nothing."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from client.api import ApiError
from client.directory import from_genesis
from client.enrol import revoke_account
from keys.council import EpochRecord
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import new_case_id, seal_intake
from keys.requests import AuthHeaders, sign_request
from keys.wire import to_wire
from server.config import Config, load_config
from server.errors import UnauthorizedError
from server.http.keys import SERVICES
from server.services import audit, cases
from server.services.auth import Admission, authenticate, nonce_digest
from server.services.context import Services
from server.storage.db import FIRST_WRITE
from tests.support.world import Member, World, council_record

LIMIT = 40  # requests per principal and minute here: enough for enrolment, small enough to reach


@pytest.fixture
def config(server_dir: tuple[Path, str]) -> Config:
    return replace(load_config(server_dir[0]), rate_limit=LIMIT)


async def sealed_intake(helper: Member, case_id: bytes | None = None, count: int = 1) -> list[tuple[str, bytes]]:
    """New intakes as the client sends them: (path, body) each."""
    record, seq, head = await council_record(helper.api)
    return [_seal(helper, record, seq, head, case_id) for _ in range(count)]


def _seal(helper: Member, record: EpochRecord, seq: int, head: bytes, case_id: bytes | None) -> tuple[str, bytes]:
    envelope = seal_intake(
        case_id=case_id or new_case_id(),
        case_file=b"{}",
        identity=b"x",
        record=record,
        author=helper.name,
        author_keys=helper.keys,
        reply_secret=b"\x01" * 32,
        head_seq=seq,
        head_hash=head,
    )
    body = json.dumps(to_wire(envelope), separators=(",", ":")).encode()
    return f"/v1/cases/{b64u_encode(envelope.case_id)}", body


def signed(world: World, member: Member, path: str, body: bytes) -> dict[str, str]:
    headers = sign_request(
        member.keys, principal=member.name, method="PUT", path=path, query="", body=body, timestamp=int(world.clock())
    ).as_dict()
    return {**headers, "Content-Type": "application/json"}


async def put(world: World, path: str, body: bytes, headers: dict[str, str]) -> int:
    async with world.client.put(path, data=body, headers=headers) as response:
        await response.read()
        return response.status


async def audit_length(admin: Member) -> int:
    return len((await admin.api.call("GET", "/v1/audit"))["entries"])


async def stored_cases(member: Member) -> int:
    return len((await member.api.call("GET", "/v1/cases", query={"limit": 200}))["cases"])


async def organisation(world: World) -> tuple[Member, Member, Member]:
    """An administrator, a council of kim, lee and park, and a helper h1: (admin, kim, helper)."""
    admin = await world.admin()
    kim, _, _ = await world.council(["kim", "lee", "park"], threshold=2)
    return admin, kim, await world.enrol("h1", "helper")


async def test_a_replayed_change_is_refused_whatever_its_first_copy_did(world: World) -> None:
    admin, kim, helper = await organisation(world)
    ((path, body),) = await sealed_intake(helper)
    # it changed state: stored once, audited once
    first = signed(world, helper, path, body)
    before = await audit_length(admin)
    assert await put(world, path, body, first) == 200
    assert await put(world, path, body, first) == 401
    assert (await stored_cases(kim), await audit_length(admin)) == (1, before + 1)
    # it wrote nothing (the same intake again, freshly signed: the idempotent answer)
    again = signed(world, helper, path, body)
    assert await put(world, path, body, again) == 200
    assert await put(world, path, body, again) == 401
    # it failed (another intake under the same case id is a conflict): its copy is a 401, not a 409
    ((_, other),) = await sealed_intake(helper, case_id=b64u_decode(path.rsplit("/", 1)[1]))
    conflicting = signed(world, helper, path, other)
    assert await put(world, path, other, conflicting) == 409
    assert await put(world, path, other, conflicting) == 401
    # it was refused for its role
    forbidden = signed(world, admin, path, body)
    assert await put(world, path, body, forbidden) == 403
    assert await put(world, path, body, forbidden) == 401
    assert (await stored_cases(kim), await audit_length(admin)) == (1, before + 1)


async def test_a_copy_of_a_recorded_request_is_refused_before_its_handler_runs(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, helper = await organisation(world)
    ((path, body),) = await sealed_intake(helper)
    headers = signed(world, helper, path, body)
    assert await put(world, path, body, headers) == 200

    reached: list[object] = []

    async def service(*args: object) -> None:
        reached.append(args)
        raise AssertionError("the copy reached the intake service")

    monkeypatch.setattr(cases, "submit_intake", service)
    assert await put(world, path, body, headers) == 401
    assert reached == []  # refused before the envelope was parsed and checked


async def test_copies_of_one_request_racing_each_other_land_once(world: World) -> None:
    admin, kim, helper = await organisation(world)
    ((path, body),) = await sealed_intake(helper)
    headers = signed(world, helper, path, body)
    before = await audit_length(admin)
    statuses = await asyncio.gather(*(put(world, path, body, headers) for _ in range(6)))
    assert sorted(statuses) == [200] + [401] * 5
    assert (await stored_cases(kim), await audit_length(admin)) == (1, before + 1)


async def test_a_change_past_the_rate_limit_is_refused_and_cannot_be_replayed(world: World) -> None:
    admin, kim, helper = await organisation(world)
    intakes = await sealed_intake(helper, count=LIMIT + 2)
    world.clock.advance(61)  # a fresh minute: only the intakes below count
    before = await audit_length(admin)
    statuses = [await put(world, path, body, signed(world, helper, path, body)) for path, body in intakes[:LIMIT]]
    assert statuses == [200] * LIMIT
    path, body = intakes[LIMIT]
    refused = signed(world, helper, path, body)
    assert await put(world, path, body, refused) == 429  # the budget was spent before it came: refused at once
    # copies racing each other past the limit: each one is refused once its signature is checked
    racing = [(p, b, signed(world, helper, p, b)) for p, b in intakes[LIMIT + 1 :]]
    assert await asyncio.gather(*(put(world, p, b, h) for p, b, h in racing)) == [429]
    assert (await stored_cases(kim), await audit_length(admin)) == (LIMIT, before + LIMIT)
    world.clock.advance(61)
    assert await put(world, path, body, refused) == 401  # its nonce was recorded with the refusal
    assert await put(world, path, body, signed(world, helper, path, body)) == 200
    assert await stored_cases(kim) == LIMIT + 1


@dataclass
class Request:
    """One signed PUT checked directly by the service (the middleware's steps, taken one at a time)."""

    admin: Member
    helper: Member
    services: Services
    path: str
    body: bytes
    headers: dict[str, str]

    async def admit(self) -> Admission:
        return await authenticate(self.services, method="PUT", path=self.path, query="", body=self.body, headers=self.headers)

    async def write(self, admission: Admission, action: str, *, fail: bool = False) -> None:
        """An audited write block made for the request (FIRST_WRITE set, as the middleware does)."""
        token = FIRST_WRITE.set(admission)
        try:
            async with self.services.db.write() as session:
                await audit.append(session, day=0, actor="test", action=action, obj="x")
                if fail:
                    raise RuntimeError("the change fails")
        finally:
            FIRST_WRITE.reset(token)

    async def audit_actions(self, after: int) -> list[str]:
        return [e["action"] for e in (await self.admin.api.call("GET", "/v1/audit"))["entries"][after:]]


async def signed_request(world: World) -> Request:
    admin = await world.admin()
    helper = await world.enrol("h1", "helper")
    path, body = f"/v1/cases/{b64u_encode(new_case_id())}", b"{}"  # only its signature is checked here
    return Request(admin, helper, world.client.app[SERVICES], path, body, signed(world, helper, path, body))


async def test_requests_that_fail_authentication_spend_no_budget(world: World) -> None:
    # an outsider who knows an account's name, sending under it, spends nothing of that account's budget
    request = await signed_request(world)
    forged = {**request.headers, "X-Tessera-Signature": b64u_encode(bytes(64))}
    for _ in range(2 * LIMIT):
        assert await put(world, request.path, request.body, {**forged, "X-Tessera-Nonce": b64u_encode(os.urandom(16))}) == 401
    statuses = []
    for _ in range(LIMIT):
        try:
            await request.helper.api.call("GET", "/v1/directory")
            statuses.append(200)
        except ApiError as exc:
            statuses.append(exc.status)
    assert statuses == [200] * LIMIT


async def test_the_nonce_shares_the_transaction_of_the_first_write(world: World) -> None:
    request = await signed_request(world)
    admission = await request.admit()
    before = await audit_length(request.admin)
    with pytest.raises(RuntimeError):
        await request.write(admission, "test.rolled-back", fail=True)
    assert not admission.done  # rolled back with the change: the next write records it
    await request.write(admission, "test.kept")
    assert admission.done
    assert await request.audit_actions(before) == ["test.kept"]
    with pytest.raises(UnauthorizedError):
        await (await request.admit()).settle()


async def test_a_revocation_between_the_check_and_the_write_refuses_the_write(world: World) -> None:
    request = await signed_request(world)
    admission = await request.admit()
    await revoke_account(request.admin.api, request.admin.keys, "h1", directory=from_genesis(request.admin.api))
    before = await audit_length(request.admin)
    with pytest.raises(UnauthorizedError):
        await request.write(admission, "test.after-revocation")
    assert await request.audit_actions(before) == []
    with pytest.raises(ApiError) as caught:
        await request.helper.api.call("GET", "/v1/directory")
    assert caught.value.status == 401


async def test_a_refused_change_has_its_nonce_on_disk_before_its_answer(world: World) -> None:
    admin = await world.admin()
    services = world.client.app[SERVICES]
    if not services.db.is_sqlite:
        pytest.skip("SQLite only: on PostgreSQL every write block is its own committed transaction")
    path, body = f"/v1/cases/{b64u_encode(new_case_id())}", b"{}"
    headers = signed(world, admin, path, body)
    assert await put(world, path, body, headers) == 403  # an administrator submits no intakes
    nonce = nonce_digest(AuthHeaders.parse(headers))
    outside = sqlite3.connect(services.config.db_url.removeprefix("sqlite:///"))
    try:  # another connection sees only what was committed
        assert outside.execute("SELECT count(*) FROM nonces WHERE digest = ?", (nonce,)).fetchone() == (1,)
    finally:
        outside.close()
