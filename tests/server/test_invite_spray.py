"""A spray of made-up invites costs the database at most one read a second (server/services/budgets.py
KnownInvites), and a real invite is still found: at once in the process that issued it, by the next read in
another worker (a check of an id not in the list waits for a read that begins after it came). Seen with
`python -m bench.hostile --only invite-spray` before: 1,000 spraying connections made the honest clients' p99
eight times what it was alone, each made-up invite being one database read."""

from __future__ import annotations

import asyncio

import pytest

from client.api import ApiError
from keys.encoding import b64u_encode
from server.services import accounts
from server.services import budgets as budgets_module
from server.services.budgets import KnownInvites
from tests.support.world import World


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

    async def made_up(i: int) -> int:
        body = {"v": 1, "invite_id": b64u_encode(i.to_bytes(16, "big")), "secret": "x" * 32}
        with pytest.raises(ApiError) as caught:
            await anonymous.call("POST", "/v1/invites/grant", body=body, auth=False)
        return caught.value.status

    assert await asyncio.gather(*(made_up(i) for i in range(100))) == [404] * 100
    assert await made_up(100) == 404  # one more, after them: it waits for the next read
    assert len(reads) <= 3  # 101 checks, at most one read a second
    await world.join(invite, "newcomer")  # issued by this process: known at once


async def test_an_invite_from_another_worker_is_found_by_the_next_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The list was read a moment ago; another worker issues an invite; a check of it here waits for a read that
    begins after the check came, and finds it (it never answers "no such invite" for an invite that exists)."""
    clock = [1000.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(budgets_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(budgets_module.asyncio, "sleep", sleep)
    stored = {b"\x01" * 16}
    reads = []

    async def read() -> frozenset[bytes]:
        reads.append(clock[0])
        return frozenset(stored)

    known = KnownInvites()
    assert await known.may_exist(b"\x01" * 16, read) and reads == [1000.0]  # the first check reads at once
    clock[0] += 0.25
    stored.add(b"\x02" * 16)  # another worker issued it just now
    assert await known.may_exist(b"\x02" * 16, read)
    assert slept == [budgets_module.INVITE_IDS_FRESH - 0.25] and reads == [1000.0, 1001.0]
    assert await known.may_exist(b"\x02" * 16, read) and len(reads) == 2  # in the list now: no wait, no read
    clock[0] += 0.5
    assert not await known.may_exist(b"\x03" * 16, read) and len(reads) == 3  # a made-up one: the next read says no


async def test_many_checks_at_once_wait_for_one_read() -> None:
    """The first check reads at once; the 49 that came while it read need a read that began after them: one more,
    a second later, for all of them."""
    reads = []

    async def read() -> frozenset[bytes]:
        reads.append(1)
        await asyncio.sleep(0.01)
        return frozenset()

    known = KnownInvites()
    found = await asyncio.gather(*(known.may_exist(bytes([i]) * 16, read) for i in range(50)))
    assert found == [False] * 50 and len(reads) == 2
