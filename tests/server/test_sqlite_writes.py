"""The SQLite write path: group commit (each write block a savepoint of a shared transaction, committed
in one fsync) and the hot statements run on the driver's cursor (storage/db.py)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from server.config import load_config
from server.main import initialise
from server.services import audit
from server.storage import queries, sqlite
from server.storage.db import Database
from server.storage.models import AccountRow
from server.storage.raw import RawStatement
from server.storage.sqlite import sqlite_pragmas

RATE = queries.RATE_UPSERT["sqlite"]


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    """A new organisation's database on SQLite (PostgreSQL commits each transaction itself)."""
    await asyncio.to_thread(initialise, tmp_path / "server", db_url=None, url="http://tessera.test", admin_name="admin")
    config = load_config(tmp_path / "server")
    db = Database(config.db_url)
    try:
        yield db, Path(config.db_url.removeprefix("sqlite:///"))
    finally:
        await db.close()


def outside(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows as another connection sees them: only what was committed."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


async def test_a_failing_block_rolls_back_alone_and_its_batch_commits_once(sqlite_db: tuple[Database, Path]) -> None:
    db, path = sqlite_db
    commits_before = db.commits

    async def block(i: int) -> None:
        async with db.write() as session:
            await audit.append(session, day=1, actor="test", action="test.write", obj=str(i))
            await session.execute(RATE, {"principal": f"p{i}", "window": 1})
            if i % 3 == 0:
                raise RuntimeError(f"block {i} fails")

    results = await asyncio.gather(*(block(i) for i in range(30)), return_exceptions=True)
    assert [i for i, r in enumerate(results) if isinstance(r, RuntimeError)] == list(range(0, 30, 3))
    assert all(r is None for i, r in enumerate(results) if i % 3)
    kept = [str(i) for i in range(30) if i % 3]
    assert sorted(r[0] for r in outside(path, "SELECT object FROM audit_log WHERE action = 'test.write'")) == sorted(kept)
    assert sorted(r[0] for r in outside(path, "SELECT principal FROM rate_limits")) == sorted(f"p{i}" for i in kept)
    assert 1 <= db.commits - commits_before < 20  # grouped: not one commit per block
    async with db.read() as session:
        await audit.verify_chain(session)  # the failed blocks' entries left no gap in the chain


async def test_a_durable_block_returns_after_its_commit_bookkeeping_does_not_wait(sqlite_db: tuple[Database, Path]) -> None:
    db, path = sqlite_db
    async with db.write(lock_audit=False, durable=False) as session:
        await session.execute(RATE, {"principal": "bookkeeping", "window": 7})
    assert outside(path, "SELECT count FROM rate_limits WHERE principal = 'bookkeeping'") == []  # not yet
    async with db.write() as session:
        await audit.append(session, day=1, actor="test", action="test.durable")
    # committed together, before the durable block returned
    assert outside(path, "SELECT count FROM rate_limits WHERE principal = 'bookkeeping'") == [(1,)]
    assert outside(path, "SELECT COUNT(*) FROM audit_log WHERE action = 'test.durable'") == [(1,)]


async def test_a_failed_commit_fails_every_durable_block_of_the_batch(
    sqlite_db: tuple[Database, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, path = sqlite_db
    real_commit = Session.commit

    def disk_full(self: Session) -> None:
        monkeypatch.setattr(Session, "commit", real_commit)  # only the first commit fails
        raise OSError("disk full")

    monkeypatch.setattr(Session, "commit", disk_full)

    async def block(i: int) -> None:
        async with db.write() as session:
            await audit.append(session, day=1, actor="test", action="test.lost", obj=str(i))

    results = await asyncio.gather(*(block(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results), results
    assert outside(path, "SELECT COUNT(*) FROM audit_log WHERE action = 'test.lost'") == [(0,)]
    await block(99)  # the next batch starts from the committed head
    assert outside(path, "SELECT object FROM audit_log WHERE action = 'test.lost'") == [("99",)]
    async with db.read() as session:
        await audit.verify_chain(session)


async def test_raw_hot_statements_answer_as_sqlalchemy_does(sqlite_db: tuple[Database, Path]) -> None:
    db, _ = sqlite_db
    async with db.write() as session:  # an ORM row, flushed inside the block's savepoint
        session.add(AccountRow(account="amy", role="helper", sign_key=b"\x02" * 32, box_key=b"\x03" * 32, revoked=True))
    for statement, params in [
        (queries.ACCOUNT_FOR_AUTH, {"name": "amy"}),
        (queries.ACCOUNT_FOR_AUTH, {"name": "nobody"}),
        (queries.CHAIN_READ, {"name": "audit"}),
        (queries.CHAIN_LOCK, {"name": "directory"}),
    ]:
        async with db.read() as session:
            raw = (await session.execute(statement, params)).all()
            core = session.connection().execute(statement, params).all()
        assert raw == [tuple(row) for row in core] and (raw or params["name"] == "nobody")
        assert [type(v) for row in raw for v in row] == [type(v) for row in core for v in row]  # revoked: bool
    async with db.write(lock_audit=False) as session:
        first = (await session.execute(RATE, {"principal": "x", "window": 1})).scalar_one()
        second = (await session.execute(RATE, {"principal": "x", "window": 1})).scalar_one()
        nonce = {"digest": b"\x01" * 32, "expires": 5}
        fresh = (await session.execute(queries.NONCE_INSERT["sqlite"], nonce)).scalar_one_or_none()
        replay = (await session.execute(queries.NONCE_INSERT["sqlite"], nonce)).scalar_one_or_none()
    assert (first, second, fresh, replay) == (1, 2, b"\x01" * 32, None)


def test_only_plain_column_types_run_raw() -> None:
    with pytest.raises(TypeError, match="not a plain type"):
        RawStatement(select(func.current_timestamp()), ())


async def test_a_batch_whose_only_block_fails_lets_go_of_the_write_lock(sqlite_db: tuple[Database, Path]) -> None:
    db, path = sqlite_db
    with pytest.raises(RuntimeError, match="refused"):
        async with db.write() as session:
            await audit.append(session, day=1, actor="test", action="test.refused")
            raise RuntimeError("refused")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # 'database is locked' while a batch still held SQLite's write lock
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert outside(path, "SELECT COUNT(*) FROM audit_log WHERE action = 'test.refused'") == [(0,)]


async def test_savepoint_journals_stay_in_memory(sqlite_db: tuple[Database, Path]) -> None:
    # temp_store=MEMORY (2): a write block's savepoint journal never spills into a temporary file
    db, _ = sqlite_db
    async with db.write() as session:
        writer = (await session.execute(text("PRAGMA temp_store"))).scalar_one()
    async with db.read() as session:
        reader = (await session.execute(text("PRAGMA temp_store"))).scalar_one()
    assert (writer, reader) == (2, 2)


def test_every_connection_zeroes_deleted_rows() -> None:
    # secure_delete is on by default in some SQLite builds (this machine's) and off in others
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("PRAGMA secure_delete=OFF")  # as such a build starts
        sqlite_pragmas(connection, None)
        assert connection.execute("PRAGMA secure_delete").fetchone() == (1,)
    finally:
        connection.close()


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"waited 5 s for {what}")


@pytest.fixture
async def scratch(sqlite_db: tuple[Database, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Database, Path]:
    """The database with a table to write blobs into, and a checkpointer that restarts the WAL past 1 MiB."""
    monkeypatch.setattr(sqlite, "WAL_RESTART_BYTES", 1 << 20)
    db, _path = sqlite_db
    async with db.write(lock_audit=False) as session:
        await session.execute(text("CREATE TABLE scratch (d BLOB)"))
    return sqlite_db


async def test_committed_pages_reach_the_database_file_without_the_writer_checkpointing(
    scratch: tuple[Database, Path],
) -> None:
    # 1 MiB is far below the writers' own automatic checkpoint: only the checkpointer copies it
    db, path = scratch
    assert db.checkpointer is not None
    before = path.stat().st_size
    async with db.write(lock_audit=False) as session:
        await session.execute(text("INSERT INTO scratch VALUES (:d)"), {"d": os.urandom(1 << 20)})
    await _until(lambda: path.stat().st_size >= before + (1 << 20), "the blob in the database file")
    assert db.checkpointer.checkpoints >= 1


async def _write_blob(db: Database) -> None:
    """One durable write of 256 KiB."""
    async with db.write(lock_audit=False) as session:
        await session.execute(text("INSERT INTO scratch VALUES (:d)"), {"d": os.urandom(1 << 18)})


async def test_the_wal_starts_again_while_writes_keep_coming(scratch: tuple[Database, Path]) -> None:
    # Each write begins as soon as the one before commits, before the checkpointer's copy of it ends, so
    # without a RESTART the WAL would only grow (to the 16 MiB written here)
    db, path = scratch
    assert db.checkpointer is not None
    wal = Path(f"{path}-wal")
    largest = 0
    for _ in range(64):
        await _write_blob(db)
        largest = max(largest, wal.stat().st_size)
    assert db.checkpointer.restarts >= 1
    assert largest < 8 << 20, f"the WAL grew to {largest} bytes"
    assert outside(path, "SELECT COUNT(*) FROM scratch") == [(64,)]


async def test_closing_the_database_stops_its_checkpointer(tmp_path: Path) -> None:
    await asyncio.to_thread(initialise, tmp_path / "server", db_url=None, url="http://tessera.test", admin_name="admin")
    db = Database(load_config(tmp_path / "server").db_url)
    before = set(threading.enumerate())
    async with db.write() as session:
        await audit.append(session, day=1, actor="test", action="test.write")
    started = [t for t in threading.enumerate() if t not in before and t.name == "tessera-checkpointer"]
    assert len(started) == 1
    await db.close()
    assert not started[0].is_alive()


async def test_a_long_reader_holds_up_writers_only_briefly(scratch: tuple[Database, Path]) -> None:
    # A reader keeping an old snapshot (a backup does, for minutes) makes each RESTART wait for it while the
    # writers' lock is held: the checkpointer gives up after 200 ms and tries again only once the WAL has grown
    db, path = scratch
    assert db.checkpointer is not None
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM scratch").fetchall()  # the snapshot is taken here
        started = asyncio.get_running_loop().time()
        for _ in range(16):
            await _write_blob(db)
        seconds = asyncio.get_running_loop().time() - started
        assert reader.execute("SELECT COUNT(*) FROM scratch").fetchall() == [(0,)]  # still the old snapshot
    finally:
        reader.close()
    assert seconds < 5, f"16 writes took {seconds:.1f} s"
    assert db.checkpointer.restarts == 0  # every RESTART gave up
    assert outside(path, "SELECT COUNT(*) FROM scratch") == [(16,)]


async def test_the_checkpointer_goes_on_after_a_failure(
    scratch: tuple[Database, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Taking the writers' lock fails once (a full disk, a lost lock file): the RESTART is skipped and logged,
    # and the thread lives on to restart the WAL at the next chance
    db, _path = scratch
    checkpointer = db.checkpointer
    assert checkpointer is not None
    real_held = sqlite.WriterLock.held
    failed: list[bool] = []

    def held_once(self: sqlite.WriterLock) -> Any:
        if not failed:
            failed.append(True)
            raise OSError(28, "No space left on device")
        return real_held(self)

    monkeypatch.setattr(sqlite.WriterLock, "held", held_once)
    for _ in range(24):  # 6 MiB: several times the 1 MiB restart size
        await _write_blob(db)
    await _until(lambda: checkpointer.restarts >= 1, "a RESTART after the failed one")
    assert failed and checkpointer.failures == 1
    assert "checkpoint failed" in caplog.text and "No space left on device" in caplog.text


async def test_a_wal_that_could_not_be_emptied_is_logged(
    sqlite_db: tuple[Database, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # every caller (a shred, a council epoch, a re-key's end) is told the same way when a long reader won
    db, _path = sqlite_db
    assert db.checkpointer is not None
    await db.purge_wal()
    assert "WAL from being emptied" not in caplog.text
    monkeypatch.setattr(db.checkpointer, "truncate", lambda: False)
    await db.purge_wal()
    assert "a long read kept the WAL from being emptied" in caplog.text
