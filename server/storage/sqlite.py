"""SQLite's side of storage/db.py: the connection settings, a synchronous session over the driver that
runs the hot statements raw, the two pieces of group commit, the writer lock shared by server
processes and the batch (one transaction whose savepoints are the write blocks), and the checkpointer
that copies committed pages from the WAL into the database file beside the writers."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Engine, Result
from sqlalchemy.orm import Session

from server.storage.raw import RawStatement

T = TypeVar("T")
log = logging.getLogger("tessera.server")

# Past this much WAL the checkpointer makes the next writer start the WAL again from its beginning (see
# Checkpointer); past the second, a writer checkpoints itself (SQLite's automatic checkpoint, kept as a
# backstop should the checkpointer fall behind or fail).
WAL_RESTART_BYTES = 64 << 20
WAL_BACKSTOP_BYTES = 256 << 20


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # 16 KiB pages for a new database (ignored for an existing one), a measured compromise: attachment
    # uploads (1 MiB chunks) run 1.2x faster than with SQLite's 4 KiB pages, intakes 0.85x as fast;
    # 64 KiB pages would give 1.35x and 0.65x (python -m bench.attachments, python -m bench.intake)
    cursor.execute("PRAGMA page_size=16384")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Savepoint journals in memory: by default SQLite spills a savepoint's journal (the original of every
    # 16 KiB page a write block changes) to a temporary file past 64 KiB, and a batch of intakes made about
    # ten such writes per intake to a new file in /var/tmp (strace). In memory, the intake statements cost
    # 20-40% less CPU each (timed per statement under python -m bench.intake with a probe not kept).
    cursor.execute("PRAGMA temp_store=MEMORY")
    # Deleted and overwritten rows are zeroed in place: otherwise a shredded case's ciphertext and key wraps
    # stay in free pages until reused, for anyone who seizes the disk (and, later, a member's key). Older
    # copies of those pages in the WAL go with Checkpointer.truncate.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


@functools.lru_cache(maxsize=512)
def _is_orm(statement: Any) -> bool:
    """True for a select of mapped entities (its rows must come back as ORM objects). Cached per statement
    object: `column_descriptions` costs 50 µs, and the hot paths reuse the statements of queries.py."""
    descriptions: list[dict[str, Any]] = getattr(statement, "column_descriptions", None) or []
    return any(isinstance(d.get("expr"), type) for d in descriptions)


def sqlite_writer(dbapi_connection: Any, _record: Any) -> None:
    # The writer's connection: the driver's own transaction handling off, so a batch's BEGIN IMMEDIATE,
    # savepoints and COMMIT are exactly the statements SQLAlchemy emits (the pysqlite recipe).
    dbapi_connection.isolation_level = None
    # checkpoints are the Checkpointer's; a writer makes one only past the backstop
    page_size = dbapi_connection.execute("PRAGMA page_size").fetchone()[0]
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_BYTES // page_size}")


def begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` in a worker thread; if the caller is cancelled meanwhile, still wait for `fn` to end
    (the connection it uses must not be closed or reused under it)."""
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


class SyncSession:
    """The part of AsyncSession the services use, over a synchronous Session (SQLite)."""

    def __init__(
        self, session: Session | None = None, *, engine: Engine | None = None, offload: bool = False, reader: Any = None
    ) -> None:
        # a read block gets `engine` and makes its Session only when a statement needs one (about 15 µs
        # that the raw statements of the hot paths do without)
        self._own = session
        self._engine = engine
        self._connection: Connection | None = None
        self._driver: Any = reader  # reads: the database's shared driver connection (no pool checkout)
        self.offload = offload

    @property
    def _session(self) -> Session:
        if self._own is None:
            self._own = Session(self._engine, expire_on_commit=False)
        return self._own

    @property
    def info(self) -> dict[Any, Any]:
        return self._session.info

    def close(self) -> None:
        """End a read block's Session, if it made one (a write block's belongs to its batch)."""
        if self._own is not None and self._engine is not None:
            self._own.close()

    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self._session.connection()
        return self._connection

    async def execute(self, statement: Any, params: Any = None) -> Result[Any]:
        raw = RawStatement.of(statement, params)
        if raw is not None and not self.offload:
            if self._driver is None:
                self._driver = self.connection().connection.driver_connection
            return raw.run(self._driver, params)  # type: ignore[return-value]
        if self.offload and isinstance(params, list):
            # a bulk write of many MiB (attachment chunks) runs in a worker thread so the event loop keeps
            # receiving the next request meanwhile; the write lock keeps every other writer out
            return await in_thread(self.connection().execute, statement, params)
        if getattr(statement, "is_dml", False) or not _is_orm(statement):
            # Core statements skip the ORM's execution layer (a third of the cost on the hot paths)
            return self.connection().execute(statement, params)
        return self._session.execute(statement, params)

    async def get(self, entity: type[T], ident: Any) -> T | None:
        return self._session.get(entity, ident)

    async def flush(self) -> None:
        self._session.flush()

    def add(self, instance: object) -> None:
        self._session.add(instance)

    def add_all(self, instances: Iterable[object]) -> None:
        self._session.add_all(instances)


class WriterLock:
    """SQLite's writers across processes: an exclusive flock on `DB-writer` beside the database, held by a
    batch from its BEGIN to its COMMIT. A process that must wait does so in a worker thread and wakes as
    soon as the other one commits (SQLite's own busy handler would block the event loop and poll)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    async def acquire(self) -> None:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        try:
            await in_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        except asyncio.CancelledError:
            self.release()  # in_thread waited for the flock to be granted
            raise

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def held(self) -> Any:
        """Hold the lock in this (worker) thread, waiting as long as a batch holds it."""
        fcntl.flock(self._open(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            self.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Checkpointer:
    """Copies committed pages from the WAL into the database file in a thread of its own, after each commit.

    SQLite's automatic checkpoint runs inside the commit that crosses its threshold, in the committing
    thread, while this process holds the write lock: an attachment part (8 MiB) waited for the copy and
    fsync of the parts before it. Here the copy (a PASSIVE checkpoint on a connection of its own) runs while
    the next batch writes; SQLite lets one checkpoint run beside one writer. A PASSIVE checkpoint does not
    let the WAL start again from its beginning while writers keep coming (the next transaction begins before
    the copy ends), so past WAL_RESTART_BYTES the checkpointer takes the writers' lock file (no batch is
    open, in this process or another), copies the rest with a RESTART checkpoint, and the next writer starts
    the WAL from its beginning; the WAL file stays about that size. Several processes may each run one:
    SQLite lets one checkpoint run at a time, and the others' PASSIVE checkpoints return at once."""

    def __init__(self, path: str, lock_path: str) -> None:
        self._path = path
        self._lock_path = lock_path
        self._writers = WriterLock(lock_path)  # the thread's own: flock excludes other descriptions only
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.checkpoints = self.restarts = self.failures = 0  # for tests and metrics

    def poke(self) -> None:
        """A commit has landed: copy it (started on the first call, so a process that never writes runs none)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tessera-checkpointer", daemon=True)
            self._thread.start()
        self._wake.set()

    def close(self) -> None:
        if self._thread is not None:
            self._stop = True
            self._wake.set()
            self._thread.join()
            self._thread = None
        self._writers.close()

    def truncate(self) -> bool:
        """Copy the whole WAL into the database file and empty the WAL (after a shred: older copies of the
        shredded pages stay in the WAL until written over). Run in a worker thread; each attempt holds the
        writers' lock. SQLite refuses at once while another checkpoint runs (this process's checkpointer,
        another process's), so it tries again for up to three seconds; False if it never got through (a long
        reader), and the copies stay until written over."""
        connection = sqlite3.connect(self._path, isolation_level=None)
        lock = WriterLock(self._lock_path)
        try:
            connection.execute("PRAGMA busy_timeout=500")  # for readers of older snapshots
            deadline = time.monotonic() + 3
            while True:
                with lock.held():
                    busy, _frames, _copied = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy or time.monotonic() > deadline:
                    return not busy
                time.sleep(0.02)
        finally:
            lock.close()
            connection.close()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None)
        try:
            # A RESTART waits this long for readers of older snapshots (the server's own reads take milliseconds;
            # a backup's read lasts minutes): then it gives up, retried after another WAL_RESTART_BYTES
            connection.execute("PRAGMA busy_timeout=200")
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            restarted_at = 0  # the WAL's frames when the last RESTART ran, until a writer starts it again
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                try:
                    _busy, frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    if frames < restarted_at:
                        restarted_at = 0  # a writer has started the WAL again
                    if (frames - restarted_at) * page_size > WAL_RESTART_BYTES:
                        with self._writers.held():
                            busy, _frames, _copied = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                        restarted_at = frames
                        self.restarts += not busy
                except Exception:  # any: a dead thread would leave every later checkpoint to the backstop
                    # the writers' backstop checkpoint covers for this one; say why it failed, and go on
                    self.failures += 1
                    log.exception("checkpoint failed")
        finally:
            connection.close()


class Batch:
    """One SQLite transaction shared by the write blocks made while the previous one commits (group commit).

    The reference pipeline commits (and fsyncs) once per request on the event loop's thread; here each
    write block is a savepoint of the open batch (an error rolls back that block only), and the batch
    commits in a worker thread, one fsync for all of them, while the event loop goes on serving.
    Savepoints are plain statements on the driver's connection: SQLAlchemy's nested transactions cost
    more than the statements of an intake (python -m bench.intake).
    """

    def __init__(self, engine: Engine, writers: WriterLock) -> None:
        self._writers = writers
        self.session = Session(bind=engine.connect(), expire_on_commit=False)
        self.session.begin()
        self.wrapped = SyncSession(self.session)
        driver = self.wrapped.connection().connection.driver_connection
        assert driver is not None
        self._driver = driver
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.urgent = asyncio.Event()  # set when a durable block joins: commit without delay
        self.committer: asyncio.Future[None] | None = None
        self.writes = 0

    def savepoint(self) -> None:
        self._driver.execute("SAVEPOINT block")

    def release(self) -> None:
        self.session.flush()  # the block's pending ORM rows belong inside its savepoint
        self._driver.execute("RELEASE block")
        self.writes += 1

    def roll_back(self) -> bool:
        """Undo the block; False when SQLite had already rolled back the whole transaction (an I/O error
        or a full disk do that), taking the blocks released before with it."""
        self.session.expunge_all()  # no ORM object may keep the state of the rolled-back block
        if not self._driver.in_transaction:
            return False
        self._driver.execute("ROLLBACK TO block")
        self._driver.execute("RELEASE block")
        return True

    def fail(self, exc: BaseException) -> None:
        self.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("commit interrupted"))
        self.done.exception()  # logged by the caller; waiters (if any) get it raised

    def close(self) -> None:
        connection = self.session.get_bind()
        try:
            self.session.close()
            assert isinstance(connection, Connection)
            connection.close()
        finally:
            self._writers.release()
