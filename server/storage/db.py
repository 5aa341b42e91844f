"""Engines and transactions.

SQLite (the embedded default) runs in WAL mode with `synchronous=FULL`, so a committed transaction
survives the process being killed and power loss. Writes are serialised: in-process by a lock (SQLite
allows one writer), across processes on PostgreSQL by locking the audit chain's head row, which every
state change appends to. So two server processes on one PostgreSQL behave as one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from server.storage.models import ChainHead


def async_url(url: str) -> str:
    """Map a plain database URL to its async driver (sqlite -> aiosqlite, postgresql -> asyncpg)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://...")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    """The engine and the two kinds of transaction services use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self, *, lock_audit: bool = True) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block ends, rolled back on any error.

        With `lock_audit` (every state change, which appends to the audit log) it is serialised with
        all other state changes of all processes; bookkeeping (nonces, rate counters) passes False.
        """
        # SQLite has one writer: serialise in-process. PostgreSQL serialises on the locked head row.
        guard = self._write_lock if self.is_sqlite else contextlib.nullcontext()
        async with guard, self._sessions() as session, session.begin():
            if lock_audit:
                await lock_chain(session, "audit")
            yield session

    async def close(self) -> None:
        await self.engine.dispose()


async def lock_chain(session: AsyncSession, name: str) -> ChainHead:
    """Lock a chain's head row for this transaction (FOR UPDATE on PostgreSQL; SQLite is single-writer)."""
    row = (await session.execute(select(ChainHead).where(ChainHead.name == name).with_for_update())).scalar_one_or_none()
    if row is None:
        raise LookupError(f"chain {name!r} is missing: run `tessera-server init` or `migrate` first")
    return row


async def read_chain(session: AsyncSession, name: str) -> ChainHead:
    """A chain's head row, without locking it."""
    row = (await session.execute(select(ChainHead).where(ChainHead.name == name))).scalar_one_or_none()
    if row is None:
        raise LookupError(f"chain {name!r} is missing: run `tessera-server init` or `migrate` first")
    return row
