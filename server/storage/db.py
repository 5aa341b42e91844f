"""Engines and transactions.

SQLite (the embedded default) runs in WAL mode with `synchronous=FULL`, so a committed transaction
survives the process being killed and power loss. Statements run synchronously on the event loop's
thread (as sqlite3 users do): they take microseconds from the page cache, and the alternative, a thread
hop per statement through aiosqlite, costs four times more than the statement. Writes use group commit:
each write block is a savepoint of one shared transaction, which commits (one fsync for all its blocks)
in a worker thread while the event loop serves the next requests; a block returns once its commit is on
disk (`Batch`; SQLite's pieces live in storage/sqlite.py). The hot statements (authentication, intake,
the audit chain) run on the driver's cursor (`RawStatement`). PostgreSQL runs through asyncpg: intakes in a
group commit of their own whose statements are merged across requests (`MergedBatch`, storage/pg.py and
storage/merge.py), every other write block in a transaction of its own, and the hot lookups of reads merged
likewise. Writes are serialised: in-process by a lock, across processes on SQLite by a lock file held from a
batch's BEGIN to its COMMIT (`WriterLock`), on PostgreSQL by locking the audit chain's head row, which every
state change appends to (a merged batch holds it from its BEGIN to its COMMIT). So several server processes
on one database behave as one.
A request's own bookkeeping (its nonce) joins the first write block it makes (`FIRST_WRITE`), so a process
waits for the lock only once its request is checked, never before. After each commit the `Checkpointer`
copies the WAL into the database file in a thread of its own, outside the write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from server.storage import queries
from server.storage.merge import Form, Lane
from server.storage.merged import Link, MergedWriter
from server.storage.models import Base
from server.storage.pg import Connections, PgSession, rewrite_tables
from server.storage.sqlite import (
    Batch,
    Checkpointer,
    SyncSession,
    WriterLock,
    begin_immediate,
    sqlite_pragmas,
    sqlite_writer,
)
from server.storage.sqlite import in_thread as in_thread  # the storage API's, used by services too

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


def asyncpg_dsn(url: str) -> str:
    """The URL for asyncpg's own connections. Several hosts (a primary and its standbys, tried in turn:
    `?host=a:5432&host=b:5432&target_session_attrs=read-write`, SQLAlchemy's form) become asyncpg's (and
    libpq's) one comma-separated `host`."""
    parsed = make_url(url).set(drivername="postgresql")
    hosts = parsed.query.get("host")
    if isinstance(hosts, tuple):
        parsed = parsed.update_query_dict({"host": ",".join(hosts)})
    return parsed.render_as_string(hide_password=False)


DbSession = AsyncSession | SyncSession | PgSession
HOT_CONNECTIONS = 12  # asyncpg connections per process for the lanes of reads and the merged batches


class Database:
    """The engine and the two kinds of transaction services use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._sync_engine: Engine | None = None
        self._write_engine: Engine | None = None
        self._writers: WriterLock | None = None
        self.checkpointer: Checkpointer | None = None
        self._async_engine: AsyncEngine | None = None
        self._batch: Batch | None = None
        self._merged: MergedWriter | None = None
        self._connections: Connections | None = None
        self._lanes: dict[int, Lane] = {}
        self._reader: Any = None
        self.commits = self.committed_writes = 0  # group commits and the write blocks in them (metrics)
        self._committers: set[asyncio.Future[None]] = set()
        if self.is_sqlite:
            sqlite_url = str(make_url(url).set(drivername="sqlite"))
            path = str(make_url(url).database)
            lock_path = f"{path}-writer"
            self._writers = WriterLock(lock_path)
            self.checkpointer = Checkpointer(path, lock_path)
            self._sync_engine = create_engine(sqlite_url)
            event.listen(self._sync_engine, "connect", sqlite_pragmas)
            self._write_engine = create_engine(sqlite_url, pool_size=1, max_overflow=0)
            event.listen(self._write_engine, "connect", sqlite_pragmas)
            event.listen(self._write_engine, "connect", sqlite_writer)
            event.listen(self._write_engine, "begin", begin_immediate)
        else:
            self._async_engine = create_async_engine(async_url(url), pool_size=5, max_overflow=10, pool_pre_ping=True)
            self._sessions = async_sessionmaker(self._async_engine, expire_on_commit=False)
            # read blocks without BEGIN and ROLLBACK: under READ COMMITTED each statement takes its own snapshot
            # in a transaction too, so autocommit reads see the same and save two round trips
            reads = self._async_engine.execution_options(isolation_level="AUTOCOMMIT")
            self._read_sessions = async_sessionmaker(reads, expire_on_commit=False)
            self._connections = Connections(asyncpg_dsn(url), HOT_CONNECTIONS)
            self._merged = MergedWriter(self._connections, self._counted)
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
            pg = PgSession(sessions=self._read_sessions, connections=self._connections, lanes=self._lane)
            try:
                yield pg
            finally:
                await pg.close()

    def _lane(self, form: Form) -> Lane:
        lane = self._lanes.get(id(form))
        if lane is None:
            assert self._connections is not None
            lane = self._lanes[id(form)] = Lane(self._connections.acquire, self._connections.release)
        return lane

    def write(
        self, *, lock_audit: bool = True, offload: bool = False, durable: bool = True, merged: bool = False
    ) -> AbstractAsyncContextManager[DbSession]:
        """One write transaction: committed when the block ends, rolled back on any error.

        With `lock_audit` (every state change, which appends to the audit log) it is serialised with
        all other state changes of all processes; bookkeeping (nonces, rate counters) passes False.
        With `offload` (SQLite), bulk statements run in a worker thread (many-MiB writes).
        On SQLite the block is one savepoint of a group commit (see `Batch`); with `durable` (the
        default) the block returns only once that commit is on disk. Bookkeeping passes False: its
        rows are committed with the next durable block or within BOOKKEEPING_DELAY, and always before
        any state change made after them.
        With `merged` (the intake), on PostgreSQL the block joins a `MergedBatch`: it runs beside the
        other blocks of the batch, only statements with a merged form (storage/merge.py), and a failing
        block keeps the writes it made (see storage/pg.py for what such a block must be); on SQLite it is
        a block like any other.
        """
        if self._write_engine is not None:
            return self._batched_write(lock_audit=lock_audit, offload=offload, durable=durable)
        if merged:
            assert self._merged is not None
            return self._merged.write(durable=durable, first=_first_write())
        return self._pg_write(lock_audit=lock_audit, durable=durable)

    @asynccontextmanager
    async def _pg_write(self, *, lock_audit: bool, durable: bool) -> AsyncIterator[DbSession]:
        """A write block in a transaction of its own. Its request's first write (nonce, rate count) comes
        before the audit head's lock: every transaction takes its locks in that order (merged batches lock
        the head last, at their commit), so none can wait for another that waits for it. Without `durable`
        (bookkeeping) its commit does not wait for the WAL flush, as on SQLite it joins the next commit:
        PostgreSQL flushes it within wal_writer_delay, and always before any commit made after it."""
        first = _first_write()
        async with self._sessions() as asession, asession.begin():
            if not durable:
                await asession.execute(text("SET LOCAL synchronous_commit TO OFF"))
            if first is not None:
                await first(asession)
            if lock_audit:
                await lock_chain(asession, "audit")
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
                    self._batch = Batch(self._write_engine, self._writers)
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

    async def _commit_batch(self, batch: Batch) -> None:
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
                assert self.checkpointer is not None
                self.checkpointer.poke()
            finally:
                batch.close()

    def _counted(self, writes: int) -> None:
        self.commits += 1
        self.committed_writes += writes

    async def purge_wal(self, deleted: Deleted | None = None) -> None:
        """Leave no readable copy of deleted rows in the database files (after a shred).

        SQLite: copy the WAL into the database file and empty it, so no older copy of a deleted page stays
        on disk there (deleted rows are zeroed in place: secure_delete); logged when a long reader kept it
        from finishing. PostgreSQL: the tables `deleted` names are rewritten without those rows
        (storage/pg.py `rewrite_tables`)."""
        if self.checkpointer is not None and not await in_thread(self.checkpointer.truncate):
            log.warning(
                "a long read kept the WAL from being emptied; older copies of deleted pages stay in it until written over"
            )
        if self._connections is not None and deleted is not None and deleted.tables:
            await rewrite_tables(self._connections, [Base.metadata.tables[name].name for name in deleted.tables], deleted.after)

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
        if self._merged is not None:
            await self._merged.close()
        if self._committers:
            await asyncio.wait(list(self._committers))
        if self._connections is not None:
            await self._connections.close()
        if self._reader is not None:
            self._reader.close()
        if self._writers is not None:
            self._writers.close()
        if self.checkpointer is not None:
            await in_thread(self.checkpointer.close)  # waits for a checkpoint under way
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


async def append_link(
    session: DbSession, chain: str, insert: Any, row: dict[str, Any], link: Callable[[bytes, int], bytes]
) -> None:
    """Append an entry to a hash chain: `row` (without `seq` and `hash`) is inserted by `insert` at the
    chain's next sequence number, hashed by `link(previous hash, seq)`, and the head moves to it, all in
    the caller's transaction. In a merged PostgreSQL batch this happens when the batch commits (for all its
    entries at once, storage/pg.py); elsewhere at once, under the head's lock."""
    if isinstance(session, PgSession) and session.links is not None:
        if chain != "audit" or insert is not queries.AUDIT_INSERT:
            raise TypeError("a merged write block appends to the audit chain only")
        session.links.append(Link(chain, insert, row, link))
        return
    head = await lock_chain(session, chain)
    seq = head.seq + 1
    digest = link(head.head, seq)
    await session.execute(insert, {**row, "seq": seq, "hash": digest})
    await advance_chain(session, head, seq, digest)


async def together(session: DbSession, *steps: Awaitable[Any]) -> list[Any]:
    """Await reads made in one read block together: on PostgreSQL each waits in a lane of its own
    (storage/merge.py), so they cost one wait instead of one each; on SQLite (whose statements do not wait)
    one after the other. Raises the first error among them."""
    if isinstance(session, SyncSession):
        return [await step for step in steps]
    return list(await asyncio.gather(*steps))


@dataclass(frozen=True, slots=True)
class Deleted:
    """Tables rows were deleted from, and the transaction (its id) that deleted them last."""

    tables: tuple[str, ...]
    after: str


async def deleted_rows(session: DbSession, before: Deleted | None = None) -> Deleted | None:
    """What this transaction has deleted so far (PostgreSQL; None on SQLite, whose deleted rows are zeroed in
    place), joined with `before` (an earlier transaction's). A shred deletes one case row; the rest of the
    case goes by cascade, and PostgreSQL counts those rows too."""
    if isinstance(session, SyncSession):
        return None
    found = await session.execute(text("SELECT relname FROM pg_stat_xact_user_tables WHERE n_tup_del > 0"))
    xid = (await session.execute(text("SELECT pg_current_xact_id()::text"))).scalar_one()
    tables = {str(name) for (name,) in found.all()} | set(before.tables if before is not None else ())
    return Deleted(tuple(sorted(tables)), str(xid))


async def read_chain(session: DbSession, name: str) -> Head:
    """A chain's head, without locking it."""
    row = (await session.execute(queries.CHAIN_READ, {"name": name})).one_or_none()
    if row is None:
        raise LookupError(f"chain {name!r} is missing: run `tessera-server init` or `migrate` first")
    return Head(name, row.seq, row.head)
