"""PostgreSQL: the hot statements of many concurrent requests, merged into one statement each.

On PostgreSQL a statement costs a round trip, about 60-80 µs of the server process's CPU and 25-40 µs of the
database's, whatever it does; an intake made fourteen of them, so the round trips, not the work, bounded
throughput (a loop of fourteen-statement transactions from 50 clients, with nothing else to do, reached about
400 a second on this shared machine: a one-off script, not committed). Here a request still runs its
statements one by one, as written in the services, but each waits in a queue (a `Lane`) with those of the
other requests in flight, and the lane runs all waiting executions of one statement as one statement over
arrays (`= ANY($1)`, `unnest`), then hands each request its own rows. Under load the groups grow with the
queue, as group commit's batches do.

Four kinds of statement are merged (queries.py names each merged form after the one it merges):
- a lookup by key (`SELECT ... WHERE key = :key`): the rows of every key at once, each request gets its own;
- an insert that returns its key unless the row exists (`ON CONFLICT DO NOTHING RETURNING key`): one insert;
  of two requests inserting the same key, the first one queued gets the row, as if they had run in order;
- a counter (`count = count + 1 RETURNING count`): one upsert adding each key's number of requests; the
  requests of a key get consecutive counts, in the order they were queued;
- a plain insert (`executemany`): one insert of all rows; a row that exists already is skipped (a row that
  breaks another constraint fails the statement, and with it the merged batch).
Inserts and counters go in key order, so concurrent transactions lock their rows in one order (no
deadlock; storage/pg.py). Written by hand because no maintained driver or library merges the statements of
concurrent callers (asyncpg pipelines only `executemany` of one statement; the DataLoader pattern this
follows has no asyncpg port).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects.postgresql import asyncpg

from server.storage import queries
from server.storage.raw import PgStatement, RawResult

_ASYNCPG = asyncpg.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Form:
    """How one hot statement is merged: its `kind`, the merged statement (compiled once), and the names of
    the parameters that identify a row (`key`; a lookup's merged rows start with them)."""

    kind: str  # "lookup" | "insert" | "count" | "write"
    merged: Any
    key: tuple[str, ...]
    sql: str = field(init=False)
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        compiled = self.merged.compile(dialect=_ASYNCPG)
        object.__setattr__(self, "sql", str(compiled))
        object.__setattr__(self, "names", tuple(compiled.positiontup or ()))


FORMS: dict[int, Form] = {
    id(queries.ACCOUNT_FOR_AUTH): Form("lookup", queries.MERGED_ACCOUNTS, ("name",)),
    id(queries.CASE_REPLY_KEY): Form("lookup", queries.MERGED_REPLY_KEYS, ("case_id",)),
    id(queries.CASE_RECEIPT): Form("lookup", queries.MERGED_RECEIPTS, ("case_id",)),
    id(queries.CHAIN_READ): Form("lookup", queries.MERGED_CHAINS, ("name",)),
    id(queries.NONCE_SEEN): Form("lookup", queries.MERGED_NONCES_SEEN, ("digest",)),
    id(queries.RATE_READ): Form("lookup", queries.MERGED_RATES, ("principal", "window")),
    id(queries.NONCE_INSERT["postgresql"]): Form("insert", queries.MERGED_NONCE_INSERT, ("digest",)),
    id(queries.CASE_INSERT_NEW["postgresql"]): Form("insert", queries.MERGED_CASE_INSERT_NEW, ("case_id",)),
    id(queries.RATE_UPSERT["postgresql"]): Form("count", queries.MERGED_RATE_UPSERT, ("principal", "window")),
    id(queries.WRAP_INSERT): Form("write", queries.MERGED_WRAP_INSERT, ()),
    id(queries.TOKEN_SPEND["postgresql"]): Form("insert", queries.MERGED_TOKEN_SPEND, ("nonce",)),
    id(queries.TOKEN_SPENT): Form("lookup", queries.MERGED_TOKEN_SPENT, ("nonce",)),
}


def form_of(statement: Any) -> Form | None:
    return FORMS.get(id(statement))


@dataclass(slots=True, eq=False)
class Call:
    """One request's execution of a hot statement, waiting in a lane."""

    statement: Any
    params: Any
    form: Form
    result: asyncio.Future[RawResult]


async def run_group(driver: Any, form: Form, calls: list[Call]) -> None:
    """Run the calls of one statement as its merged form on `driver` and give each its result. Raises the
    database's error (the caller fails every call of the group with it)."""
    if form.kind == "write":
        rows = [row for call in calls for row in (call.params if isinstance(call.params, list) else [call.params])]
        rows.sort(key=lambda row: tuple(row[name] for name in form.names))  # locks in key order (storage/pg.py)
        if rows:
            await driver.execute(form.sql, *[[row[name] for row in rows] for name in form.names])
        for call in calls:
            _give(call, RawResult([], len(call.params) if isinstance(call.params, list) else 1))
        return
    keys = [tuple(call.params[name] for name in form.key) for call in calls]
    firsts: dict[tuple[Any, ...], Call] = {}
    counts: dict[tuple[Any, ...], int] = {}
    for key, call in zip(keys, calls, strict=True):
        firsts.setdefault(key, call)
        counts[key] = counts.get(key, 0) + 1
    ordered = sorted(firsts.items(), key=lambda item: item[0]) if form.kind != "lookup" else list(firsts.items())
    if form.kind == "count":
        arrays = [[counts[k] if name == "count" else c.params[name] for k, c in ordered] for name in form.names]
    else:
        arrays = [[c.params[name] for _, c in ordered] for name in form.names]
    records = await driver.fetch(form.sql, *arrays)
    width = len(form.key)
    found: dict[tuple[Any, ...], list[Any]] = {}
    for record in records:
        found.setdefault(tuple(record[:width]), []).append(record)
    seen: dict[tuple[Any, ...], int] = {}
    for key, call in zip(keys, calls, strict=True):
        row_type = _row_type(call)
        mine = found.get(key, [])
        if form.kind == "lookup":
            rows = [row_type._make(record[width:]) for record in mine]
        elif form.kind == "insert":
            rows = [row_type._make(mine[0][:width])] if mine and firsts[key] is call else []
        else:  # count: the total after all of this key's requests; each gets its own step towards it
            before = seen.get(key, 0)
            seen[key] = before + 1
            rows = [row_type._make((mine[0][width] - counts[key] + 1 + before,))] if mine else []
        _give(call, RawResult(rows, len(rows)))


async def _one_more_round(lane: Lane) -> bool:
    """After a turn, let the requests it answered have their go first: those that make their next statement
    at once are sent in the next turn without waiting for a new runner to be scheduled (one event-loop
    round fewer on each of their steps)."""
    await asyncio.sleep(0)
    return bool(lane._waiting)


def _row_type(call: Call) -> Any:
    compiled = PgStatement.of(call.statement, call.params)
    assert compiled is not None and compiled.row is not None
    return compiled.row


def _give(call: Call, result: RawResult) -> None:
    if not call.result.done():
        call.result.set_result(result)


class Lane:
    """A queue of calls and the task that runs them: each time it takes every call waiting, groups them
    by statement (in the order they came) and runs each group as one statement. `connect` gives the
    connection for a turn and `release` takes it back (a read lane borrows from the pool; a batch's lane
    runs on the batch's own connection). A failed statement fails the calls of its group, and, through
    `failed`, whatever the lane belongs to. A turn starts once every request made ready meanwhile has had its
    go on the event loop, so requests woken together are merged together."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        release: Callable[[Any], Awaitable[None]],
        failed: Callable[[BaseException], None] | None = None,
        turn: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        self._release = release
        self._failed = failed
        self._turn = turn  # called as each turn begins
        self._waiting: list[Call] = []
        self._runner: asyncio.Task[None] | None = None
        self.statements = 0  # merged statements run (for tests and metrics)

    async def submit(self, statement: Any, params: Any, form: Form) -> RawResult:
        call = Call(statement, params, form, asyncio.get_running_loop().create_future())
        self._waiting.append(call)
        if self._runner is None:
            self._runner = asyncio.ensure_future(self._run())
        return await call.result

    @property
    def idle(self) -> bool:
        return self._runner is None

    async def _run(self) -> None:
        try:
            while self._waiting or await _one_more_round(self):
                calls, self._waiting = self._waiting, []
                await self._run_turn(calls)
        except BaseException as exc:
            for call in self._waiting:
                if not call.result.done():
                    call.result.set_exception(exc)
            self._waiting = []
            raise
        finally:
            self._runner = None

    async def _run_turn(self, calls: list[Call]) -> None:
        if self._turn is not None:
            self._turn()
        groups: dict[int, list[Call]] = {}
        for call in calls:
            groups.setdefault(id(call.form), []).append(call)
        try:
            driver = await self._connect()
        except BaseException as exc:
            for call in calls:
                if not call.result.done():
                    call.result.set_exception(exc)
            raise
        try:
            for group in groups.values():
                try:
                    await run_group(driver, group[0].form, group)
                    self.statements += 1
                except asyncio.CancelledError as exc:
                    driver.terminate()  # a statement cut off midway: the connection is not reused
                    for call in calls:
                        if not call.result.done():
                            call.result.set_exception(RuntimeError("the statement was interrupted"))
                    if self._failed is not None:
                        self._failed(exc)
                    raise
                except BaseException as exc:
                    # in a transaction (a batch's lane) the rest of the turn cannot run: fail it all
                    for call in calls if self._failed is not None else group:
                        if not call.result.done():
                            call.result.set_exception(exc)
                    if self._failed is not None:
                        self._failed(exc)
                    if not isinstance(exc, Exception):
                        raise
                    if self._failed is not None:
                        break
        finally:
            await self._release(driver)
