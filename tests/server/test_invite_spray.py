"""A spray of made-up invites costs the database at most one read a second (server/services/budgets.py
KnownInvites), and a real invite is still found: at once in the process that issued it, within a second in
another worker. Seen with `python -m bench.hostile --only invite-spray` before: 1,000 spraying connections made
the honest clients' p99 eight times what it was alone, each made-up invite being one database read."""

from __future__ import annotations

import asyncio

import pytest

from client.api import ApiError
from keys.encoding import b64u_encode
from server.services import accounts
from server.services import budgets as budgets_module
from server.services.budgets import KnownInvites

from .conftest import World


async def test_made_up_invites_are_answered_without_a_database_read_each(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = []
    real = accounts._unused_invite_ids

    async def counted(services: object) -> frozenset[bytes]:
        reads.append(1)
        return await real(services)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts, "_unused_invite_ids", counted)
    invite = await world.invite("newcomer", "helper")
    anonymous = world.anonymous()
    for i in range(100):
        body = {"v": 1, "invite_id": b64u_encode(i.to_bytes(16, "big")), "secret": "x" * 32}
        with pytest.raises(ApiError) as caught:
            await anonymous.call("POST", "/v1/invites/grant", body=body, auth=False)
        assert caught.value.status == 404
    assert len(reads) <= 2  # one read a second at most; the checks above take well under two
    await world.join(invite, "newcomer")  # issued by this process: known at once


async def test_an_invite_from_another_worker_is_found_within_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(budgets_module.time, "monotonic", lambda: clock[0])
    stored = {b"\x01" * 16}

    async def read() -> frozenset[bytes]:
        return frozenset(stored)

    known = KnownInvites()
    assert await known.may_exist(b"\x01" * 16, read)
    stored.add(b"\x02" * 16)  # another worker issued it just now
    assert not await known.may_exist(b"\x02" * 16, read)  # this list is younger than a second
    clock[0] += budgets_module.INVITE_IDS_FRESH
    assert await known.may_exist(b"\x02" * 16, read)
    assert not await known.may_exist(b"\x03" * 16, read)


async def test_many_checks_at_once_wait_for_one_read() -> None:
    reads = []

    async def read() -> frozenset[bytes]:
        reads.append(1)
        await asyncio.sleep(0.01)
        return frozenset()

    known = KnownInvites()
    found = await asyncio.gather(*(known.may_exist(bytes([i]) * 16, read) for i in range(50)))
    assert found == [False] * 50 and len(reads) == 1
