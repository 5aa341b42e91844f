"""Engines and transactions.

SQLite (the embedded default) runs in WAL mode with `synchronous=FULL`, so a committed transaction
survives the process being killed and power loss. Statements run synchronously on the event loop's
thread (as sqlite3 users do): they take microseconds from the page cache, and the alternative, a thread
hop per statement through aiosqlite, costs four times more than the statement. Writes use group commit:
each write block is a savepoint of one shared transaction, which commits (one fsync for all its blocks)
in a worker thread while the event loop serves the next requests; a block returns once its commit is on
disk (`_Batch`). The hot statements (authentication, intake, the audit chain) run on the driver's cursor
(`RawStatement`). PostgreSQL runs through asyncpg, one transaction per block. Writes are serialised:
in-process by a lock, across processes on SQLite by a lock file held from a batch's BEGIN to its COMMIT
(`_WriterLock`), on PostgreSQL by locking the audit chain's head row, which every state change appends
to. So several server processes on one database behave as one. A request's own bookkeeping (its nonce)
joins the first write block it makes (`FIRST_WRITE`), so a process waits for the lock only once its
request is checked, never before.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, Result, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from server.storage import queries
from server.storage.raw import RawStatement

T = TypeVar("T")
BOOKKEEPING_DELAY = 0.01  # seconds a batch of bookkeeping alone waits before its commit
log = logging.getLogger("tessera.server")


class FirstWrite(Protocol):
    """Work that must share the first write block of the request being served (its nonce and rate count,
    server/services/auth.py). Run at the start of that block, inside its transaction; `done` is set once the
    block is kept, so a block that rolls back leaves it to the next one (or to the request's end)."""

    done: bool

    async def __call__(self, session: DbSession) -> None: ...


FIRST_WRITE: ContextVar[FirstWrite | None] = ContextVar("tessera_first_write", default=None)


def _first_write() -> FirstWrite | None:
    pending = FIRST_WRITE.get()
    return pending if pending is not None and not pending.done else None


def async_url(url: str) -> str:
    """Map a plain database URL to its async driver (sqlite -> aiosqlite, postgresql -> asyncpg)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://...")


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
    # 20-40% less CPU each (python -m bench.intake, timed per statement).
    cursor.execute("PRAGMA temp_store=MEMORY")
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


class _WriterLock:
    """SQLite's writers across processes: an exclusive flock on `DB-writer` beside the database, held by a
    batch from its BEGIN to its COMMIT. A process that must wait does so in a worker thread and wakes as
    soon as the other one commits (SQLite's own busy handler would block the event loop and poll)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None

    async def acquire(self) -> None:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        try:
            await in_thread(fcntl.flock, self._fd, fcntl.LOCK_EX)
        except asyncio.CancelledError:
            self.release()  # in_thread waited for the flock to be granted
            raise

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Batch:
    """One SQLite transaction shared by the write blocks made while the previous one commits (group commit).

    The reference pipeline commits (and fsyncs) once per request on the event loop's thread; here each
    write block is a savepoint of the open batch (an error rolls back that block only), and the batch
    commits in a worker thread, one fsync for all of them, while the event loop goes on serving.
    Savepoints are plain statements on the driver's connection: SQLAlchemy's nested transactions cost
    more than the statements of an intake (python -m bench.intake).
    """

    def __init__(self, engine: Engine, writers: _WriterLock) -> None:
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


DbSession = AsyncSession | SyncSession


class Database:
    """The engine and the two kinds of transaction services use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._sync_engine: Engine | None = None
        self._write_engine: Engine | None = None
        self._writers: _WriterLock | None = None
        self._async_engine: AsyncEngine | None = None
        self._batch: _Batch | None = None
        self._reader: Any = None
        self.commits = self.committed_writes = 0  # group commits and the write blocks in them (SQLite: metrics)
        self._committers: set[asyncio.Future[None]] = set()
        if self.is_sqlite:
            sqlite_url = str(make_url(url).set(drivername="sqlite"))
            self._writers = _WriterLock(f"{make_url(url).database}-writer")
            self._sync_engine = create_engine(sqlite_url)
            event.listen(self._sync_engine, "connect", sqlite_pragmas)
            self._write_engine = create_engine(sqlite_url, pool_size=1, max_overflow=0)
            event.listen(self._write_engine, "connect", sqlite_pragmas)
            event.listen(self._write_engine, "connect", sqlite_writer)
            event.listen(self._write_engine, "begin", begin_immediate)
        else:
            self._async_engine = create_async_engine(async_url(url), pool_size=10, max_overflow=10, pool_pre_ping=True)
            self._sessions = async_sessionmaker(self._async_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[DbSession]:
        if self._sync_engine is not None:
            if self._reader is None:
                # raw statements of read blocks share one connection: each SELECT is its own transaction
                # in the driver's default mode, as on a pooled connection, without the checkout
                self._reader = self._sync_engine.raw_connection()
            wrapped = SyncSession(engine=self._sync_engine, reader=self._reader)
            try:
                yield wrapped
            finally:
                wrapped.close()
        else:
            async with self._sessions() as asession:
                yield asession

    def write(
        self, *, lock_audit: bool = True, offload: bool = False, durable: bool = True
    ) -> AbstractAsyncContextManager[DbSession]:
        """One write transaction: committed when the block ends, rolled back on any error.

        With `lock_audit` (every state change, which appends to the audit log) it is serialised with
        all other state changes of all processes; bookkeeping (nonces, rate counters) passes False.
        With `offload` (SQLite), bulk statements run in a worker thread (many-MiB writes).
        On SQLite the block is one savepoint of a group commit (see `_Batch`); with `durable` (the
        default) the block returns only once that commit is on disk. Bookkeeping passes False: its
        rows are committed with the next durable block or within BOOKKEEPING_DELAY, and always before
        any state change made after them.
        """
        if self._write_engine is not None:
            return self._batched_write(lock_audit=lock_audit, offload=offload, durable=durable)
        return self._pg_write(lock_audit=lock_audit)

    @asynccontextmanager
    async def _pg_write(self, *, lock_audit: bool) -> AsyncIterator[DbSession]:
        first = _first_write()
        async with self._sessions() as asession, asession.begin():
            if lock_audit:
                await lock_chain(asession, "audit")
            if first is not None:
                await first(asession)
            yield asession
        if first is not None:
            first.done = True

    @asynccontextmanager
    async def _batched_write(self, *, lock_audit: bool, offload: bool, durable: bool) -> AsyncIterator[DbSession]:
        async with self._write_lock:
            if self._batch is None:
                assert self._write_engine is not None and self._writers is not None
                await self._writers.acquire()
                try:
                    self._batch = _Batch(self._write_engine, self._writers)
                except BaseException:
                    self._writers.release()
                    raise
            batch = self._batch
            head = batch.session.info.get(("chain", "audit"))
            saved = (head.seq, head.head) if head is not None else None
            batch.savepoint()
            batch.wrapped.offload = offload
            first = _first_write()
            try:
                if lock_audit:
                    await lock_chain(batch.wrapped, "audit")
                if first is not None:
                    await first(batch.wrapped)
                yield batch.wrapped
                batch.release()
                if first is not None:
                    first.done = True
            except BaseException as exc:
                if not batch.roll_back():
                    log.error("a write block failed and SQLite rolled back the group commit of %d writes", batch.writes)
                    self._batch = None
                    batch.fail(exc)
                    batch.close()
                    raise
                if batch.writes == 0:  # nothing of the batch to keep: end it (it holds SQLite's write lock)
                    self._batch = None
                    batch.close()
                elif head is not None and saved is not None:
                    head.seq, head.head = saved  # the chain head as it was before this block
                else:
                    batch.session.info.pop(("chain", "audit"), None)
                raise
            if durable:
                batch.urgent.set()
            if batch.committer is None:
                batch.committer = asyncio.ensure_future(self._commit_batch(batch))
                self._committers.add(batch.committer)
                batch.committer.add_done_callback(self._committers.discard)
        if durable:
            await asyncio.shield(batch.done)

    async def _commit_batch(self, batch: _Batch) -> None:
        """Commit the open batch: queued behind the writers already waiting for the lock (they join it),
        and holding the lock while the commit (and its fsync) runs in a worker thread; writers arriving
        meanwhile wait and form the next batch. A failed commit fails every durable write in the batch.

        A batch of bookkeeping only (the nonces and rate counters of reads) waits up to BOOKKEEPING_DELAY
        for more, so a client's next request does not wait for the fsync of the last one's nonce."""
        if not batch.urgent.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batch.urgent.wait(), BOOKKEEPING_DELAY)
        async with self._write_lock:
            if self._batch is not batch:
                return  # failed and dropped meanwhile
            self._batch = None
            try:
                await in_thread(batch.session.commit)
            except BaseException as exc:
                log.error("group commit of %d writes failed: %r", batch.writes, exc)
                batch.fail(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                self.commits += 1
                self.committed_writes += batch.writes
                batch.done.set_result(None)
            finally:
                batch.close()

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` with a synchronous connection (schema inspection, Alembic)."""
        if self._sync_engine is not None:
            with self._sync_engine.connect() as conn:
                return fn(conn)
        assert self._async_engine is not None
        async with self._async_engine.connect() as aconn:
            return await aconn.run_sync(fn)

    async def close(self) -> None:
        if self._batch is not None:
            self._batch.urgent.set()
        if self._committers:
            await asyncio.wait(list(self._committers))
        if self._reader is not None:
            self._reader.close()
        if self._writers is not None:
            self._writers.close()
        if self._write_engine is not None:
            self._write_engine.dispose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        if self._async_engine is not None:
            await self._async_engine.dispose()


@dataclass(slots=True)
class Head:
    """A hash chain's head: its last sequence number and hash."""

    name: str
    seq: int
    head: bytes


async def lock_chain(session: DbSession, name: str) -> Head:
    """Lock a chain's head row for this transaction (FOR UPDATE on PostgreSQL; SQLite is single-writer).

    Remembered on the session, so a second lock in the same transaction costs nothing.
    """
    cached = session.info.get(("chain", name))
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    row = (await session.execute(queries.CHAIN_LOCK, {"name": name})).one_or_none()
    if row is None:
        raise LookupError(f"chain {name!r} is missing: run `tessera-server init` or `migrate` first")
    head = Head(name, row.seq, row.head)
    session.info[("chain", name)] = head
    return head


async def advance_chain(session: DbSession, head: Head, seq: int, digest: bytes) -> None:
    """Move a locked chain's head (in the same transaction as the entry it points to)."""
    await session.execute(queries.CHAIN_ADVANCE, {"chain": head.name, "new_seq": seq, "new_head": digest})
    head.seq, head.head = seq, digest


async def read_chain(session: DbSession, name: str) -> Head:
    """A chain's head, without locking it."""
    row = (await session.execute(queries.CHAIN_READ, {"name": name})).one_or_none()
    if row is None:
        raise LookupError(f"chain {name!r} is missing: run `tessera-server init` or `migrate` first")
    return Head(name, row.seq, row.head)
