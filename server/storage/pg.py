"""PostgreSQL's side of storage/db.py: the asyncpg connections kept for the hot paths, the session services
get (its hot statements merged across requests, storage/merge.py), and the rewrite of tables after a shred.
The group commit that carries intakes is storage/merged.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.storage.merge import Form, Lane, form_of
from server.storage.raw import PgStatement

if TYPE_CHECKING:
    from server.storage.merged import Link, MergedBatch

T = TypeVar("T")
log = logging.getLogger("tessera.server")
REWRITE_LOCK_WAIT = 5  # seconds a table's rewrite after a shred waits for its lock (a backup holds it for minutes)
REWRITE_HORIZON_WAIT = 60  # seconds it waits for transactions older than the shred to end
# Is anything that began before transaction $1 still running (anywhere on the server: PostgreSQL keeps the
# rows deleted since for it), or a snapshot in this database, a replication slot or a standby's feedback older?
_OLDER_THAN = """
SELECT age(pg_snapshot_xmin(pg_current_snapshot())::text::xid) >= age($1::text::xid)
    OR EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND backend_xmin IS NOT NULL AND age(backend_xmin) >= age($1::text::xid))
    OR EXISTS (SELECT 1 FROM pg_replication_slots WHERE xmin IS NOT NULL AND age(xmin) >= age($1::text::xid))
    OR EXISTS (SELECT 1 FROM pg_stat_replication WHERE backend_xmin IS NOT NULL AND age(backend_xmin) >= age($1::text::xid))
"""


class Connections:
    """asyncpg connections kept open for the hot statements, at most `size`. asyncpg's own pool resets every
    connection it takes back, a round trip each time; these hold no state between uses (a batch ends its
    transaction before it gives its connection back), and a broken one is dropped."""

    def __init__(self, dsn: str, size: int) -> None:
        self._dsn = dsn
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(size)
        self._all: set[Any] = set()

    async def acquire(self) -> Any:
        await self._slots.acquire()
        try:
            while self._idle:
                connection = self._idle.pop()
                if not connection.is_closed():
                    return connection
                self._all.discard(connection)
            import asyncpg

            connection = await asyncpg.connect(self._dsn)
            self._all.add(connection)
            return connection
        except BaseException:
            self._slots.release()
            raise

    async def release(self, connection: Any) -> None:
        try:
            if connection.is_closed() or connection.is_in_transaction():
                self._all.discard(connection)
                connection.terminate()
            else:
                self._idle.append(connection)
        finally:
            self._slots.release()

    async def close(self) -> None:
        for connection in list(self._all):
            try:
                await asyncio.wait_for(connection.close(), 5)
            except Exception:
                connection.terminate()
        self._all.clear()
        self._idle.clear()


class PgSession:
    """The part of AsyncSession the services use, on PostgreSQL.

    In a read block, lookups by key go to a lane of their own statement, merged with those of other requests
    (storage/merge.py); other hot statements run on a kept connection; the rest through SQLAlchemy (its
    session made only when needed). In a merged write block, every statement goes to the batch's lane;
    a statement that has no merged form is refused (a programming error: that block must not be merged)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        connections: Connections | None = None,
        lanes: Callable[[Form], Lane] | None = None,
        batch: MergedBatch | None = None,
    ) -> None:
        self._own: AsyncSession | None = None
        self._sessions = sessions
        self._connections = connections
        self._lanes = lanes
        self._batch = batch
        self._driver: Any = None
        self.info: dict[Any, Any] = {}
        self.links: list[Link] | None = batch.links if batch is not None else None

    @property
    def _session(self) -> AsyncSession:
        if self._batch is not None:
            raise TypeError("a merged write block runs only the statements of storage/merge.py, without an ORM session")
        if self._own is None:
            assert self._sessions is not None
            self._own = self._sessions()
        return self._own

    async def close(self) -> None:
        """End a read block: its connection and its SQLAlchemy session, if it took them."""
        try:
            if self._own is not None:
                await self._own.close()
        finally:
            if self._driver is not None:
                driver, self._driver = self._driver, None
                assert self._connections is not None
                await self._connections.release(driver)

    async def execute(self, statement: Any, params: Any = None) -> Result[Any]:
        form = form_of(statement)
        if self._batch is not None:
            if form is None:
                raise TypeError(f"no merged form for this statement, so it cannot run in a merged write block: {statement}")
            return await self._batch.submit(statement, params, form)  # type: ignore[no-any-return]
        if form is not None and form.kind == "lookup" and self._lanes is not None:
            return await self._lanes(form).submit(statement, params, form)  # type: ignore[return-value]
        raw = PgStatement.of(statement, params)
        if raw is not None:
            if self._driver is None:
                assert self._connections is not None
                self._driver = await self._connections.acquire()
            return await raw.run_pg(self._driver, params)  # type: ignore[return-value]
        result: Result[Any] = await self._session.execute(statement, params)
        return result

    async def get(self, entity: type[T], ident: Any) -> T | None:
        return await self._session.get(entity, ident)

    async def flush(self) -> None:
        await self._session.flush()

    def add(self, instance: object) -> None:
        self._session.add(instance)

    def add_all(self, instances: Iterable[object]) -> None:
        self._session.add_all(instances)


async def rewrite_tables(connections: Connections, tables: Sequence[str], after: str) -> None:
    """Rewrite `tables` without the rows deleted up to transaction `after` (VACUUM FULL), so their bytes
    leave the table files: PostgreSQL keeps a deleted row in its file until the space is reused, and a plain
    VACUUM frees it but leaves its bytes where no live row moves over them. The old file is emptied when
    the rewrite commits. A row stays (copied into the new file) while any transaction that began before it
    was deleted still runs, so the rewrite first waits up to REWRITE_HORIZON_WAIT for them; each rewrite
    holds its table's lock, waiting at most REWRITE_LOCK_WAIT for it. Either wait running out is logged
    with what to run later. WAL segments are PostgreSQL's to recycle (docs/operations.md)."""
    driver = await connections.acquire()
    try:
        deadline = time.monotonic() + REWRITE_HORIZON_WAIT
        while await driver.fetchval(_OLDER_THAN, after):
            if time.monotonic() > deadline:
                log.warning(
                    "a transaction older than the shred still runs (a backup?): the shredded rows stay in the table "
                    "files until rewritten; run VACUUM FULL %s once it has ended",
                    ", ".join(tables),
                )
                break
            await asyncio.sleep(0.1)
        await driver.execute(f"SET lock_timeout = '{REWRITE_LOCK_WAIT}s'")
        for name in tables:
            if '"' in name:
                raise ValueError(f"unexpected table name {name!r}")
            try:
                await driver.execute(f'VACUUM (FULL) "{name}"')  # a table name of ours (storage/db.py)
            except Exception as exc:
                log.warning("could not rewrite %s without its deleted rows (%s): run VACUUM FULL %s", name, exc, name)
        await driver.execute("RESET lock_timeout")
    finally:
        await connections.release(driver)
