"""PostgreSQL: the group commit that carries intakes (the write blocks made with `Database.write(merged=True)`).

A `MergedBatch` is one transaction for the write blocks of many requests: its blocks run side by side with
their statements merged across blocks (storage/merge.py), and when they have ended it locks the audit chain's
head row, hashes and inserts their chain entries, and commits: one WAL flush makes them all durable, and a
block returns once it is on disk. Only that last step holds the head row, so the batches of all processes run
beside each other and take turns there. Why: with a transaction per request, every state change held that
row from its first statement through its commit and WAL flush, so the requests of all processes committed
one at a time (about 150 intakes a second here), each after some fourteen round trips.

Blocks in a merged batch are not savepoints (a savepoint is a round trip each way, and they would have to
run one at a time): a block that fails keeps the writes it made. Only blocks written for that may join (the
intake: its request's nonce and rate count, which a refusal records anyway, come first, and nothing can fail
after its write of the case); every other state change runs in a transaction of its own (storage/db.py).
`MergedWriter` is a process's side: which batch a block joins, when the next begins, and the commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from server.storage import queries
from server.storage.merge import Form, Lane
from server.storage.pg import Connections, PgSession
from server.storage.raw import PgStatement

if TYPE_CHECKING:
    from server.storage.db import FirstWrite

log = logging.getLogger("tessera.server")
SEAL_WAIT = 0.01  # seconds a batch no block joined stays open (it holds a connection and a transaction)
MERGED_IN_FLIGHT = 2  # batches of a process not yet committed: one commits while the next runs; a third
# waits, and its blocks gather meanwhile, so batches grow when commits take long instead of queueing more


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

    Its blocks move in step, each writing its request's nonce, rate counter, case and key wraps in that
    order, so a batch locks such rows in that order (each merged statement in key order), then the audit
    head; every other write transaction locks its nonce and counter before the head (storage/db.py) and no
    row a batch has locked after. So no two transactions, here or in other processes, can wait for each
    other. A failed statement loses the transaction: every block of the batch fails."""

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




class MergedWriter:
    """A process's merged batches: the one blocks join, the next one begun as it seals, their commits."""

    def __init__(self, connections: Connections, counted: Callable[[int], None]) -> None:
        self._connections = connections
        self.counted = counted  # called with the number of blocks of each commit (metrics, tests)
        self._merged: MergedBatch | None = None
        self._beginning: asyncio.Future[None] | None = None
        self._unfinished: list[MergedBatch] = []
        self._committers: set[asyncio.Future[None]] = set()

    @asynccontextmanager
    async def write(self, *, durable: bool, first: FirstWrite | None) -> AsyncIterator[PgSession]:
        """A write block in a `MergedBatch`: the open one, or the next one. The request's first write (its
        nonce and rate count) runs first and is kept whatever the block does after, so it is never made
        again. A block that ends without an error and is `durable` returns once the batch has committed; a
        failing block waits for that commit too (its request's nonce must be on disk before the refusal is
        answered), then raises."""
        batch = await self._open()
        batch.enter()
        try:
            session = batch.session()
            if first is not None:
                try:
                    await first(session)
                finally:
                    first.done = True
            yield session
        except BaseException:
            batch.leave(kept=False)
            await asyncio.wait([batch.done])
            raise
        batch.leave(kept=True)
        if durable:
            await asyncio.shield(batch.done)

    async def _open(self) -> MergedBatch:
        """The batch this block joins: the open one, or the next, begun once for all blocks waiting for it
        (a connection and BEGIN: batches lock nothing until their statements do)."""
        while True:
            batch = self._merged
            if batch is not None and not batch.sealed and batch.error is None:
                return batch
            if self._beginning is None:
                self._beginning = asyncio.ensure_future(self._begin())
            await asyncio.shield(self._beginning)

    async def _begin(self) -> None:
        try:
            while len(self._unfinished) >= MERGED_IN_FLIGHT:
                await asyncio.wait([self._unfinished[0].done])
                self._unfinished = [b for b in self._unfinished if not b.done.done()]
            batch = self._merged = await MergedBatch.begin(self._connections, self._sealed)
            self._unfinished.append(batch)
        finally:
            self._beginning = None
        batch.committer = asyncio.ensure_future(self._commit(batch))
        self._committers.add(batch.committer)
        batch.committer.add_done_callback(self._committers.discard)

    def _sealed(self, batch: MergedBatch) -> None:
        """A batch with blocks in it takes no more: begin the next one now, so that the blocks arriving meanwhile
        find it begun (one round trip less on their way). One sealed empty begins none."""
        if self._beginning is None and self._merged is batch and batch.active:
            self._beginning = asyncio.ensure_future(self._begin())
            self._beginning.add_done_callback(_retrieved)  # a failure is raised to the blocks that wait for it

    async def _commit(self, batch: MergedBatch) -> None:
        """Commit a merged batch once the blocks inside have ended. The blocks that waited for it join at
        once and it is sealed as their first statements run; should none come (they were cancelled meanwhile)
        it is sealed after SEAL_WAIT, and commits empty (it holds a connection and a transaction)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(batch.started.wait(), SEAL_WAIT)
        batch.seal()
        await batch.idle.wait()
        try:
            await batch.commit()
        except BaseException as exc:
            log.error("group commit of %d writes failed: %r", batch.writes, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self.counted(batch.writes)
        finally:
            await batch.close()

    async def close(self) -> None:
        """Wait for the batch being begun and every commit under way."""
        if self._beginning is not None:
            await asyncio.wait([self._beginning])
        if self._committers:
            await asyncio.wait(list(self._committers))


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
