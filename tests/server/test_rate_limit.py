"""Request budgets: per principal and minute, kept in memory (no row names who made requests when), and
per invite, which a spray of made-up invites cannot spend."""

import asyncio
import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from client.api import ApiError
from keys.encoding import b64u_encode
from keys.envelope import reply_keys
from keys.requests import case_principal
from server.config import Config, load_config
from server.http.keys import SERVICES
from server.services.budgets import INVITE_TRIES_PER_MINUTE
from tests.disk import on_disk
from tests.support.world import World, submit_intake

LIMIT = 15
SECRET = b"\x07" * 32


@pytest.fixture
def config(server_dir: tuple[Path, str]) -> Config:
    return replace(load_config(server_dir[0]), rate_limit=LIMIT)


async def test_rate_limit_per_principal_and_minute(world: World) -> None:
    helper = await world.enrol("h4", "helper")
    other = await world.enrol("h5", "helper")
    for _ in range(LIMIT):
        await helper.api.call("GET", "/v1/directory")
    with pytest.raises(ApiError) as caught:
        await helper.api.call("GET", "/v1/directory")
    assert caught.value.status == 429 and "wait a minute" in caught.value.message
    await other.api.call("GET", "/v1/directory")  # another principal is not affected
    world.clock.advance(61)
    await helper.api.call("GET", "/v1/directory")


async def test_no_stored_row_or_log_line_links_a_helper_to_a_case(
    world: World, server_dir: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    # a helper's requests and, in the same minute, the requests of the case's reply key: a row for each,
    # named and with the minute, linked them on a seized disk (and in the WAL after the purge)
    services = world.client.app[SERVICES]
    if not services.db.is_sqlite:
        pytest.skip("SQLite's files are what a seized disk holds here; PostgreSQL keeps no rate rows either")
    services.config = replace(services.config, rate_limit=1000)  # a key ceremony is many requests
    caplog.set_level(logging.DEBUG)
    await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper, reply_secret=SECRET)
    as_case = helper.api.as_principal(case_principal(envelope.case_id), reply_keys(SECRET, envelope.case_id))
    for _ in range(3):
        await helper.api.call("GET", "/v1/directory")
        await as_case.call("GET", f"/v1/cases/{b64u_encode(envelope.case_id)}/messages")
    disk = on_disk(server_dir[0])
    assert case_principal(envelope.case_id).encode() not in disk
    assert b"case:" not in disk
    database = sqlite3.connect(server_dir[0] / "tessera.db")
    try:
        assert database.execute("SELECT count(*) FROM rate_limits").fetchone() == (0,)
    finally:
        database.close()
    case_text = b64u_encode(envelope.case_id)
    assert not [r.getMessage() for r in caplog.records if "hana" in r.getMessage() and case_text in r.getMessage()]


async def test_a_spray_of_made_up_invites_does_not_lock_a_real_one_out(world: World) -> None:
    invite = await world.invite("newcomer", "helper")
    anonymous = world.anonymous()
    statuses = set()

    async def made_up(i: int) -> None:
        body = {"v": 1, "invite_id": b64u_encode(i.to_bytes(16, "big")), "secret": "x" * 32}
        try:
            await anonymous.call("POST", "/v1/invites/grant", body=body, auth=False)
        except ApiError as exc:
            statuses.add((exc.status, exc.message))

    # more than any shared budget had room for (120 a minute), at once (each made-up one waits for the next read
    # of the invite list, budgets.KnownInvites)
    await asyncio.gather(*(made_up(i) for i in range(200)))
    assert statuses == {(404, "no such invite (check that you copied the whole invite)")}
    member = await world.join(invite, "newcomer")  # the real invite still joins, in the same minute
    await member.api.call("GET", "/v1/directory")


async def test_a_real_invite_has_a_budget_of_its_own(world: World) -> None:
    invite = await world.invite("newcomer", "helper")
    other = await world.invite("second", "helper")
    anonymous = world.anonymous()
    wrong = {"v": 1, "invite_id": b64u_encode(invite.invite_id), "secret": "x" * 32}
    statuses = []
    for _ in range(INVITE_TRIES_PER_MINUTE + 1):
        try:
            await anonymous.call("POST", "/v1/invites/grant", body=wrong, auth=False)
        except ApiError as exc:
            statuses.append(exc.status)
    assert statuses == [404] * INVITE_TRIES_PER_MINUTE + [429]
    with pytest.raises(ApiError) as caught:  # the right secret too, this minute: refused, nothing changes
        await world.join(invite, "newcomer")
    assert caught.value.status == 429 and "wait a minute" in caught.value.message
    await world.join(other, "second")  # another invite is not affected
    world.clock.advance(61)
    await world.join(invite, "newcomer")
