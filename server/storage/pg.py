"""PostgreSQL's side of storage/db.py: the connections kept for the hot paths, the session services get, and
the merged group commit that carries intakes.

Why: every state change appends to the audit chain, whose head is one row. With a transaction per request
each one held that row's lock from its first statement through its commit and WAL flush, so the requests of
all processes committed one at a time (about 150 intakes a second), and each request made fourteen round
trips besides (storage/merge.py). A `MergedBatch` is one transaction for the write blocks of many requests
(group commit): it locks the head row once, its blocks run side by side with their statements merged
across blocks (storage/merge.py), their chain entries are hashed and inserted when it commits, and one
WAL flush makes them all durable. A block returns once that commit is on disk. Batches of several processes
take turns on the head row, as SQLite's take turns on their lock file, so writes never wait on each other's
rows in the middle of a batch.

Blocks in a merged batch are not savepoints (a savepoint is a round trip each way, and they would have to
run one at a time): a block that fails keeps the writes it made. Only blocks written for that may join (the
intake: its request's nonce and rate count, which a refusal records anyway, come first, and nothing can fail
after its first write of the case); every other state change runs in a transaction of its own
(storage/db.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.storage import queries
from server.storage.merge import Form, Lane, form_of
from server.storage.raw import PgStatement

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


@dataclass(slots=True)
class Link:
    """A chain entry waiting for its batch's commit: its row without `seq` and `hash`, and how to hash it
    once its place in the chain is known (`link(previous hash, seq) -> hash`, given by the service)."""

    chain: str
    insert: Any
    row: dict[str, Any]
    link: Callable[[bytes, int], bytes]


_AUDIT_APPEND = Form("write", queries.MERGED_AUDIT_APPEND, ())


class MergedBatch:
    """One PostgreSQL transaction carrying the merged write blocks of many requests (group commit).

    The blocks waiting when it begins join it, and it is sealed as their first statements run, so they move
    through their statements together, one merged statement per step; blocks arriving later begin the next
    batch, which runs beside this one. Once the blocks inside have ended, `commit` locks the audit chain's
    head row, hashes the batch's entries from it, inserts them and moves the head in one statement, and
    commits: one WAL flush for every block. Only that last step holds the head (batches of all processes
    and every other state change take turns on it), so batches overlap everywhere else.

    Locks are taken in one order by every transaction: nonces, rate counters, cases, key wraps (each merged
    statement in key order), then the audit head; so no two batches, here or in other processes, can wait
    for each other. A failed statement loses the transaction: every block of the batch fails."""

    def __init__(self, connections: Connections, driver: Any, sealed: Callable[[MergedBatch], None]) -> None:
        self._connections = connections
        self.driver = driver
        self._on_seal = sealed
        self.lane = Lane(self._connection, _keep, self._fail, self._seal)
        self.links: list[Link] = []
        self.active = 0  # blocks inside
        self.writes = 0  # blocks ended without an error
        self.sealed = False
        self.error: BaseException | None = None
        self.idle = asyncio.Event()
        self.idle.set()
        self.started = asyncio.Event()  # its first statements are running: sealed
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.committer: asyncio.Future[None] | None = None

    @classmethod
    async def begin(cls, connections: Connections, sealed: Callable[[MergedBatch], None]) -> MergedBatch:
        """Begin a batch; `sealed` is called once it takes no more blocks."""
        driver = await connections.acquire()
        try:
            await driver.execute("BEGIN")
        except BaseException:
            await connections.release(driver)  # in a transaction: dropped, which ends it
            raise
        return cls(connections, driver, sealed)

    async def _connection(self) -> Any:
        return self.driver

    def _seal(self) -> None:
        if not self.sealed:
            self.sealed = True
            self.started.set()
            self._on_seal(self)

    def seal(self) -> None:
        self._seal()

    def session(self) -> PgSession:
        return PgSession(batch=self)

    async def submit(self, statement: Any, params: Any, form: Form) -> Any:
        if self.error is not None:
            raise self.error
        return await self.lane.submit(statement, params, form)

    def enter(self) -> None:
        self.active += 1
        self.idle.clear()

    def leave(self, *, kept: bool) -> None:
        self.active -= 1
        self.writes += kept
        if self.active == 0:
            self.idle.set()

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc if isinstance(exc, Exception) else RuntimeError("the batch was interrupted")
            self.done.set_exception(self.error)
            self.done.exception()  # retrieved: its writers get it raised, the log says why

    async def commit(self) -> None:
        """Chain the batch's entries and COMMIT; raises (and fails the batch) if either fails."""
        try:
            if self.error is not None:
                raise self.error
            if self.links:
                lock = PgStatement.of(queries.CHAIN_LOCK, {"name": "audit"})
                assert lock is not None
                head = (await lock.run_pg(self.driver, {"name": "audit"})).one()
                seq, digest, rows = head.seq, head.head, []
                for entry in self.links:
                    seq += 1
                    digest = entry.link(digest, seq)
                    rows.append({**entry.row, "seq": seq, "hash": digest})
                values = {"chain": "audit", "new_seq": seq, "new_head": digest}
                values |= {name: [row[name] for row in rows] for name in rows[0]}
                await self.driver.execute(_AUDIT_APPEND.sql, *[values[name] for name in _AUDIT_APPEND.names])
            await self.driver.execute("COMMIT")
        except BaseException as exc:
            self._fail(exc)
            raise
        else:
            self.done.set_result(None)

    async def close(self) -> None:
        """Give the connection back (one still in a transaction, after a failure, is closed, which ends it)."""
        await self._connections.release(self.driver)


async def _keep(_driver: Any) -> None:
    """A batch's lane keeps the batch's connection between turns."""


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
