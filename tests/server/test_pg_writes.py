"""The PostgreSQL write path: intakes in a merged group commit (storage/pg.py), their statements merged across
requests (storage/merge.py), the audit chain appended at the batch's commit; and the merged lookups of reads.
Storage-level tests run on PostgreSQL only; the request-level ones on both engines (the behaviour is the same)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select

from keys.encoding import b64u_decode
from keys.envelope import new_case_id
from keys.requests import AuthHeaders
from server.config import Config, load_config
from server.http.keys import SERVICES
from server.main import initialise
from server.services import audit
from server.services.auth import nonce_digest
from server.storage import merge, queries
from server.storage.db import Database, asyncpg_dsn
from server.storage.merged import MergedBatch
from server.storage.models import AccountRow, CaseRow
from tests.support.world import World, drop_pg, pg_available

from .test_replay import organisation, put, sealed_intake, signed

RATE = queries.RATE_UPSERT["postgresql"]
NONCE = queries.NONCE_INSERT["postgresql"]


@pytest.fixture
async def pg(tmp_path: Path) -> AsyncIterator[tuple[Database, str]]:
    """A new organisation's database on PostgreSQL: (the server's Database, a plain URL for other connections)."""
    url = await asyncio.to_thread(pg_available)
    if url is None:
        pytest.skip("no PostgreSQL server answers (set TESSERA_TEST_PG_URL)")
    await asyncio.to_thread(initialise, tmp_path / "server", db_url=url, url="http://tessera.test", admin_name="admin")
    db = Database(load_config(tmp_path / "server").db_url)
    try:
        yield db, url
    finally:
        await db.close()
        await asyncio.to_thread(drop_pg, url)


async def outside(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows as another connection sees them: only what was committed."""
    connection = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await connection.fetch(sql, *args)]
    finally:
        await connection.close()


async def test_merged_blocks_share_few_commits_and_the_chain_verifies(pg: tuple[Database, str]) -> None:
    db, url = pg
    commits_before = db.commits

    async def block(i: int) -> None:
        async with db.write(merged=True) as session:
            await session.execute(RATE, {"principal": f"p{i}", "window": 1})
            await audit.append(session, day=1, actor="test", action="test.merged", obj=str(i))

    await asyncio.gather(*(block(i) for i in range(40)))
    assert sorted(r[0] for r in await outside(url, "SELECT object FROM audit_log WHERE action = 'test.merged'")) == sorted(
        str(i) for i in range(40)
    )
    assert 1 <= db.commits - commits_before <= 4  # grouped: one commit carries many blocks
    async with db.read() as session:
        await audit.verify_chain(session)


async def test_one_keys_counts_in_one_merged_statement_are_consecutive(pg: tuple[Database, str]) -> None:
    db, url = pg

    async def count() -> int:
        async with db.write(merged=True) as session:
            return int((await session.execute(RATE, {"principal": "same", "window": 9})).scalar_one())

    assert sorted(await asyncio.gather(*(count() for _ in range(12)))) == list(range(1, 13))
    assert await outside(url, "SELECT count FROM rate_limits WHERE principal = 'same'") == [(12,)]


async def test_of_inserts_of_one_key_merged_together_the_first_wins(pg: tuple[Database, str]) -> None:
    db, url = pg

    async def insert() -> bytes | None:
        async with db.write(merged=True) as session:
            return (await session.execute(NONCE, {"digest": b"\x07" * 32, "expires": 1})).scalar_one_or_none()

    results = await asyncio.gather(*(insert() for _ in range(5)))
    assert results == [b"\x07" * 32] + [None] * 4  # the first queued, as if they had run in order
    assert await outside(url, "SELECT count(*) FROM nonces") == [(1,)]


async def test_a_failed_statement_fails_every_block_of_its_batch_and_the_next_batch_starts_clean(
    pg: tuple[Database, str],
) -> None:
    db, url = pg

    async def block(i: int, *, bad: bool = False) -> None:
        async with db.write(merged=True) as session:
            await session.execute(RATE, {"principal": f"lost{i}", "window": 1})
            await audit.append(session, day=1, actor="test", action="test.lost", obj=str(i))
            if bad:  # a wrap for a case that does not exist: the foreign key refuses the merged insert
                await session.execute(queries.WRAP_INSERT, [{"case_id": b"\x00" * 16, "recipient": b"r" * 32, "sealed": b""}])

    results = await asyncio.gather(*(block(i, bad=i == 3) for i in range(6)), return_exceptions=True)
    assert all(isinstance(r, asyncpg.ForeignKeyViolationError) for r in results), results
    assert await outside(url, "SELECT count(*) FROM audit_log WHERE action = 'test.lost'") == [(0,)]
    assert await outside(url, "SELECT count(*) FROM rate_limits WHERE principal LIKE 'lost%'") == [(0,)]
    await block(99)  # the next batch appends from the committed head
    assert await outside(url, "SELECT object FROM audit_log WHERE action = 'test.lost'") == [("99",)]
    async with db.read() as session:
        await audit.verify_chain(session)


async def test_a_merged_block_runs_merged_statements_only(pg: tuple[Database, str]) -> None:
    db, _ = pg
    with pytest.raises(TypeError, match="no merged form"):
        async with db.write(merged=True) as session:
            await session.execute(select(CaseRow))
    with pytest.raises(TypeError, match="without an ORM session"):
        async with db.write(merged=True) as session:
            session.add(AccountRow(account="x", role="helper", sign_key=b"\x01" * 32, box_key=b"\x02" * 32))


async def test_merged_lookups_answer_as_sqlalchemy_does(pg: tuple[Database, str]) -> None:
    db, _ = pg
    case_id = new_case_id()
    async with db.write() as session:
        session.add(AccountRow(account="amy", role="helper", sign_key=b"\x02" * 32, box_key=b"\x03" * 32, revoked=True))
        session.add(
            CaseRow(
                case_id=case_id,
                state="open",
                day=5,
                epoch=1,
                receipt=b"\x04" * 32,
                envelope="{}",
                reply_sign_key=b"\x05" * 32,
                reply_box_key=b"\x06" * 32,
            )
        )
        await session.execute(RATE, {"principal": "amy", "window": 3})
        await session.execute(NONCE, {"digest": b"\x08" * 32, "expires": 1})
    lookups = [
        (queries.ACCOUNT_FOR_AUTH, {"name": "amy"}),
        (queries.ACCOUNT_FOR_AUTH, {"name": "nobody"}),
        (queries.CASE_REPLY_KEY, {"case_id": case_id}),
        (queries.CASE_RECEIPT, {"case_id": case_id}),
        (queries.CASE_RECEIPT, {"case_id": new_case_id()}),
        (queries.CHAIN_READ, {"name": "audit"}),
        (queries.NONCE_SEEN, {"digest": b"\x08" * 32}),
        (queries.RATE_READ, {"principal": "amy", "window": 3}),
        (queries.RATE_READ, {"principal": "amy", "window": 4}),
    ]
    async with db.read() as session:  # all at once: merged with each other where they are one statement
        merged = await asyncio.gather(*(session.execute(statement, params) for statement, params in lookups))
    for (statement, params), result in zip(lookups, merged, strict=True):
        async with db._sessions() as core_session:  # SQLAlchemy's own execution, for comparison
            core = (await core_session.execute(statement, params)).all()
        rows = result.all()
        assert rows == [tuple(row) for row in core], statement
        assert [type(v) for row in rows for v in row] == [type(v) for row in core for v in row]  # revoked: bool
        assert [row._fields for row in rows] == [tuple(row._fields) for row in core]  # rows read by name


async def test_merged_counters_of_two_transactions_on_the_same_keys_do_not_deadlock(pg: tuple[Database, str]) -> None:
    # two batches (two server processes) merging the counters of the same principals, queued in opposite
    # orders: each merged upsert locks its rows in key order, so neither can hold a row the other holds while
    # waiting for one of the other's (in opposite orders PostgreSQL aborts one of them after a second)
    _, url = pg
    form = merge.form_of(RATE)
    assert form is not None
    names = [f"p{i:05}" for i in range(20000)]
    connections = [await asyncpg.connect(url) for _ in range(2)]
    try:
        await connections[0].execute(  # the rows exist: each upsert locks them one by one, in its order
            'INSERT INTO rate_limits (principal, "window", count) SELECT unnest($1::text[]), 1, 0', names
        )

        async def count(connection: Any, order: list[str]) -> None:
            loop = asyncio.get_running_loop()
            calls = [merge.Call(RATE, {"principal": n, "window": 1}, form, loop.create_future()) for n in order]
            async with connection.transaction():
                await merge.run_group(connection, form, calls)
                await asyncio.sleep(0.2)  # a batch holds its rows until it commits

        await asyncio.wait_for(asyncio.gather(count(connections[0], names), count(connections[1], names[::-1])), 60)
    finally:
        for connection in connections:
            await connection.close()
    assert await outside(url, 'SELECT count(*), min(count), max(count) FROM rate_limits WHERE "window" = 1') == [(20000, 2, 2)]


def test_several_hosts_reach_asyncpg_as_one_comma_separated_list() -> None:
    # SQLAlchemy's form for a primary and its standby; asyncpg (like libpq) reads one `host` with a list
    dsn = asyncpg_dsn("postgresql+asyncpg://t:pw@/tessera?host=db1:5432&host=db2:5433&target_session_attrs=read-write")
    assert dsn == "postgresql://t:pw@/tessera?host=db1%3A5432%2Cdb2%3A5433&target_session_attrs=read-write"
    assert asyncpg_dsn("postgresql://t@db1:5432/tessera") == "postgresql://t@db1:5432/tessera"


# request-level, on both engines


@pytest.fixture
def config(server_dir: tuple[Path, str]) -> Config:
    return replace(load_config(server_dir[0]), rate_limit=40)


async def test_one_intake_signed_twice_and_sent_at_once_is_stored_once(world: World) -> None:
    admin, kim, helper = await organisation(world)
    ((path, body),) = await sealed_intake(helper)
    before = len((await admin.api.call("GET", "/v1/audit"))["entries"])
    copies = [signed(world, helper, path, body) for _ in range(4)]  # four requests: four nonces, one intake
    answers = await asyncio.gather(*(world.client.put(path, data=body, headers=h) for h in copies))
    receipts = {json.dumps(await a.json(), sort_keys=True) for a in answers}
    assert [a.status for a in answers] == [200] * 4 and len(receipts) == 1
    assert len((await kim.api.call("GET", "/v1/cases"))["cases"]) == 1
    assert len((await admin.api.call("GET", "/v1/audit"))["entries"]) == before + 1


async def test_requests_racing_past_the_rate_limit_each_get_their_own_count(world: World) -> None:
    _, kim, helper = await organisation(world)
    intakes = await sealed_intake(helper, count=46)
    world.clock.advance(61)  # a fresh minute: only these count
    requests = [(path, body, signed(world, helper, path, body)) for path, body in intakes]
    statuses = await asyncio.gather(*(put(world, p, b, h) for p, b, h in requests))
    assert sorted(statuses) == [200] * 40 + [429] * 6  # none let through twice, none counted twice
    assert len((await kim.api.call("GET", "/v1/cases", query={"limit": 200}))["cases"]) == 40


async def test_an_intake_refused_in_its_write_has_its_nonce_on_disk_before_its_answer(
    world: World, backend: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two intakes under one case id at once: both pass the early check, one is stored, the other is refused in
    # its write (a 409) after its nonce and rate count were written there; its answer waits for their commit
    _, _, helper = await organisation(world)
    ((path, body),) = await sealed_intake(helper)
    ((_, other),) = await sealed_intake(helper, case_id=b64u_decode(path.rsplit("/", 1)[1]))
    commit = MergedBatch.commit

    async def slow_commit(batch: MergedBatch) -> None:  # an answer sent before its commit would come first
        await asyncio.sleep(0.3)
        await commit(batch)

    monkeypatch.setattr(MergedBatch, "commit", slow_commit)
    services = world.client.app[SERVICES]

    async def nonces(digest: bytes) -> int:
        if backend is None:
            connection = sqlite3.connect(services.config.db_url.removeprefix("sqlite:///"))
            try:
                return int(connection.execute("SELECT count(*) FROM nonces WHERE digest = ?", (digest,)).fetchone()[0])
            finally:
                connection.close()
        return int((await outside(backend, "SELECT count(*) FROM nonces WHERE digest = $1", digest))[0][0])

    async def send(data: bytes) -> tuple[int, int]:
        headers = signed(world, helper, path, data)
        status = await put(world, path, data, headers)
        return status, await nonces(nonce_digest(AuthHeaders.parse(headers)))  # looked at as the answer arrives

    assert sorted(await asyncio.gather(send(body), send(other))) == [(200, 1), (409, 1)]
