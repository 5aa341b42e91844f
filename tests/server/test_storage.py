"""Schema migrations equal the models; the audit chain verifies and a tampered one stops start-up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text, update

from server.app import check_database
from server.config import load_config
from server.errors import ConfigError
from server.http.keys import SERVICES
from server.services import audit
from server.storage.db import Database
from server.storage.models import AuditRow, Base
from tests.support.world import World


def test_migrated_schema_equals_the_models(server_dir: tuple[Path, str]) -> None:
    config = load_config(server_dir[0])

    async def diff() -> list[object]:
        db = Database(config.db_url)
        try:
            return await db.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
        finally:
            await db.close()

    assert asyncio.run(diff()) == []


async def test_audit_chain_verifies_and_tampering_stops_start_up(world: World) -> None:
    await world.council(["kim", "lee", "park"], threshold=2)
    db = world.client.app[SERVICES].db  # the server's own: a second writer in this loop would wait on it
    async with db.read() as session:
        count = await audit.verify_chain(session)
    assert count > 10
    await check_database(db)
    async with db.write(lock_audit=False) as session:
        await session.execute(update(AuditRow).where(AuditRow.seq == 3).values(actor="someone-else"))
    with pytest.raises(ConfigError, match="audit entry 3 was altered"):
        await check_database(db)
    async with db.write(lock_audit=False) as session:
        await session.execute(text("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)"))
    with pytest.raises(ConfigError, match="refusing to start"):
        await check_database(db)


async def test_an_entry_added_past_the_head_stops_start_up(world: World) -> None:
    db = world.client.app[SERVICES].db
    async with db.read() as session:
        count = await audit.verify_chain(session)
    async with db.write(lock_audit=False) as session:  # a well-formed entry, but no commit moved the head to it
        session.add(AuditRow(seq=count + 1, hash=b"\x00" * 32, day=1, actor="x", action="x", object="", detail="{}"))
    with pytest.raises(ConfigError, match="entries were removed or added"):
        await check_database(db)


async def test_the_chain_verifies_while_other_processes_append_to_it(world: World, backend: str | None) -> None:
    # a server starting beside running ones verifies the log while they append: it read the log first and
    # the head last, saw a head that had moved on, and refused to start (seen with `run --workers 2`)
    if backend is None:
        pytest.skip("SQLite's statements run without waiting: in one process no append can come between them")
    db = world.client.app[SERVICES].db
    other = Database(db.url)  # a second process's writes
    appending = True

    async def append() -> int:
        count = 0
        while appending:
            async with other.write() as session:
                await audit.append(session, day=1, actor="test", action="test.meanwhile", obj=str(count))
            count += 1
        return count

    writer = asyncio.create_task(append())
    try:
        for _ in range(40):
            async with db.read() as session:
                await audit.verify_chain(session)
    finally:
        appending = False
        appended = await writer
        await other.close()
    assert appended > 0


def test_sqlite_runs_in_wal_with_full_sync(server_dir: tuple[Path, str], backend: str | None) -> None:
    if backend is not None:
        pytest.skip("SQLite only")
    config = load_config(server_dir[0])

    async def pragmas() -> tuple[str, int]:
        db = Database(config.db_url)
        try:
            async with db.read() as session:
                mode = (await session.execute(text("PRAGMA journal_mode"))).scalar_one()
                sync = (await session.execute(text("PRAGMA synchronous"))).scalar_one()
            return mode, sync
        finally:
            await db.close()

    assert asyncio.run(pragmas()) == ("wal", 2)  # 2 = FULL
