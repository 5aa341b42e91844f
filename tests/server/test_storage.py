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

from .conftest import World


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
