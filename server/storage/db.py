"""Engines and transactions.

SQLite (the embedded default) runs in WAL mode with `synchronous=FULL`, so a committed transaction
survives the process being killed and power loss. SQLite statements run synchronously on the event
loop's thread (as sqlite3 users do): they take microseconds from the page cache, and the alternative,
a thread hop per statement through aiosqlite, costs four times more than the statement. PostgreSQL runs
through asyncpg. Writes are serialised: in-process by a lock (SQLite allows one writer), across
processes on PostgreSQL by locking the audit chain's head row, which every state change appends to.
So two server processes on one PostgreSQL behave as one; SQLite is for one server process.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, Result, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from server.storage import queries

T = TypeVar("T")


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
    cursor.close()


@functools.lru_cache(maxsize=512)
def _is_orm(statement: Any) -> bool:
    """True for a select of mapped entities (its rows must come back as ORM objects). Cached per statement
    object: `column_descriptions` costs 50 µs, and the hot paths reuse the statements of queries.py."""
    descriptions: list[dict[str, Any]] = getattr(statement, "column_descriptions", None) or []
    return any(isinstance(d.get("expr"), type) for d in descriptions)


def _set_synchronous(conn: Connection, level: str) -> None:
    # On the DBAPI connection itself: pysqlite runs a PRAGMA outside any transaction, and SQLAlchemy's
    # transaction state is left untouched (no extra commit).
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA synchronous={level}")


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

    def __init__(self, session: Session, *, offload: bool = False) -> None:
        self._session = session
        self.info = session.info
        self.offload = offload

    async def execute(self, statement: Any, params: Any = None) -> Result[Any]:
        if self.offload and isinstance(params, list):
            # a bulk write of many MiB (attachment chunks) runs in a worker thread so the event loop keeps
            # receiving the next request meanwhile; the write lock keeps every other writer out
            connection = self._session.connection()
            return await in_thread(connection.execute, statement, params)
        if getattr(statement, "is_dml", False) or not _is_orm(statement):
            # Core statements skip the ORM's execution layer (a third of the cost on the hot paths)
            return self._session.connection().execute(statement, params)
        return self._session.execute(statement, params)

    async def get(self, entity: type[T], ident: Any) -> T | None:
        return self._session.get(entity, ident)

    async def flush(self) -> None:
        self._session.flush()

    def add(self, instance: object) -> None:
        self._session.add(instance)

    def add_all(self, instances: Iterable[object]) -> None:
        self._session.add_all(instances)


DbSession = AsyncSession | SyncSession


class Database:
    """The engine and the two kinds of transaction services use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._sync_engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        if self.is_sqlite:
            self._sync_engine = create_engine(str(make_url(url).set(drivername="sqlite")))
            event.listen(self._sync_engine, "connect", sqlite_pragmas)
        else:
            self._async_engine = create_async_engine(async_url(url), pool_size=10, max_overflow=10, pool_pre_ping=True)
            self._sessions = async_sessionmaker(self._async_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[DbSession]:
        if self._sync_engine is not None:
            with Session(self._sync_engine, expire_on_commit=False) as session:
                yield SyncSession(session)
        else:
            async with self._sessions() as asession:
                yield asession

    @asynccontextmanager
    async def write(self, *, lock_audit: bool = True, offload: bool = False) -> AsyncIterator[DbSession]:
        """One write transaction: committed when the block ends, rolled back on any error.

        With `lock_audit` (every state change, which appends to the audit log) it is serialised with
        all other state changes of all processes; bookkeeping (nonces, rate counters) passes False.
        With `offload` (SQLite), bulk statements and the commit run in a worker thread (many-MiB writes).
        """
        if self._sync_engine is not None:
            async with self._write_lock:
                with self._sync_engine.connect() as conn:
                    if not lock_audit:
                        # Bookkeeping commits need not survive power loss (WAL with synchronous=NORMAL
                        # still survives the process being killed): skip their fsync.
                        _set_synchronous(conn, "NORMAL")
                    try:
                        with Session(bind=conn, expire_on_commit=False) as session:
                            session.begin()
                            wrapped = SyncSession(session, offload=offload)
                            try:
                                if lock_audit:
                                    await lock_chain(wrapped, "audit")
                                yield wrapped
                            except BaseException:
                                session.rollback()
                                raise
                            if offload:
                                await in_thread(session.commit)
                            else:
                                session.commit()
                    finally:
                        if not lock_audit:
                            _set_synchronous(conn, "FULL")
        else:
            async with self._sessions() as asession, asession.begin():
                if lock_audit:
                    await lock_chain(asession, "audit")
                yield asession

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` with a synchronous connection (schema inspection, Alembic)."""
        if self._sync_engine is not None:
            with self._sync_engine.connect() as conn:
                return fn(conn)
        assert self._async_engine is not None
        async with self._async_engine.connect() as aconn:
            return await aconn.run_sync(fn)

    async def close(self) -> None:
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
