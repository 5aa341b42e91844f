"""The hot statements on the driver's own connection (SQLite's cursor, asyncpg's connection): compiled once
by SQLAlchemy, run without its execution layer, which costs several times the statement itself (an intake
runs ten of them: python -m bench.intake). On asyncpg each is prepared once per connection (its statement
cache), so PostgreSQL plans it once."""

from __future__ import annotations

from collections import namedtuple
from typing import Any, ClassVar, Self

from sqlalchemy import Boolean, Integer, LargeBinary, String
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.exc import MultipleResultsFound, NoResultFound

from server.storage import queries

_SQLITE = sqlite.dialect()
_ASYNCPG = asyncpg.dialect()  # type: ignore[no-untyped-call]
_PLAIN = (Integer, String, LargeBinary)  # types the sqlite3 driver binds and returns as SQLAlchemy would


class RawStatement:
    """One of queries.SQLITE_RAW, compiled for the keys of its parameters. Only plain column types are
    allowed, so the values bound and returned are the ones SQLAlchemy would give (booleans are turned
    back into bool)."""

    _cache: ClassVar[dict[tuple[int, tuple[str, ...]], Any]] = {}
    _hot: ClassVar[frozenset[int]] = frozenset(id(statement) for statement in queries.SQLITE_RAW)
    _dialect: ClassVar[Any] = _SQLITE

    def __init__(self, statement: Any, keys: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=self._dialect, column_keys=list(keys))
        self.sql = str(compiled)
        self.names = tuple(compiled.positiontup or ())
        self.constants: dict[str, Any] = {}
        for name in self.names:
            bind = compiled.binds[name]
            if not isinstance(bind.type, _PLAIN):
                raise TypeError(f"{name}: {bind.type!r} is not a plain type")
            if name not in keys:
                if bind.callable is not None or bind.value is None:
                    raise ValueError(f"{self.sql}: no value for {name}")
                self.constants[name] = bind.value
        columns = compiled._result_columns  # (key, name, objects, type) of each result column
        for column in columns:
            if not isinstance(column[3], (*_PLAIN, Boolean)):
                raise TypeError(f"{column[0]}: {column[3]!r} is not a plain type")
        self.booleans = tuple(i for i, column in enumerate(columns) if isinstance(column[3], Boolean))
        self.row: Any = namedtuple("Row", [column[0] for column in columns], rename=True) if columns else None

    @classmethod
    def of(cls, statement: Any, params: Any) -> Self | None:
        """The compiled form of `statement` for these parameters' keys, or None if it is not a hot one."""
        if id(statement) not in cls._hot:
            return None
        first = params[0] if isinstance(params, list) else params or {}
        key = (id(statement), tuple(first))
        raw: Self | None = cls._cache.get(key)
        if raw is None:
            raw = cls._cache[key] = cls(statement, key[1])
        return raw

    def run(self, driver: Any, params: Any) -> RawResult:
        if isinstance(params, list):
            cursor = driver.executemany(self.sql, [self._values(p) for p in params])
            return RawResult([], cursor.rowcount)
        cursor = driver.execute(self.sql, self._values(params or {}))
        if self.row is None:
            return RawResult([], cursor.rowcount)
        rows = cursor.fetchall()
        if self.booleans:
            rows = [tuple(bool(v) if i in self.booleans and v is not None else v for i, v in enumerate(r)) for r in rows]
        return RawResult([self.row._make(r) for r in rows], cursor.rowcount)

    def _values(self, params: dict[str, Any]) -> tuple[Any, ...]:
        if self.constants:
            params = {**self.constants, **params}
        return tuple([params[name] for name in self.names])


class PgStatement(RawStatement):
    """One of queries.PG_RAW, compiled for asyncpg (`$n` placeholders with casts) and run on asyncpg's
    connection. asyncpg returns bool for booleans itself."""

    _cache: ClassVar[dict[tuple[int, tuple[str, ...]], Any]] = {}
    _hot: ClassVar[frozenset[int]] = frozenset(id(statement) for statement in queries.PG_RAW)
    _dialect: ClassVar[Any] = _ASYNCPG

    async def run_pg(self, driver: Any, params: Any) -> RawResult:
        if isinstance(params, list):
            await driver.executemany(self.sql, [self._values(p) for p in params])  # pipelined: one round trip
            return RawResult([], len(params))
        values = self._values(params or {})
        if self.row is None:
            status = await driver.execute(self.sql, *values)
            return RawResult([], _rowcount(status))
        rows = await driver.fetch(self.sql, *values)
        return RawResult([self.row._make(r) for r in rows], len(rows))


def _rowcount(status: str) -> int:
    """The row count of a command tag ("INSERT 0 1", "UPDATE 3", "DELETE 0")."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else -1


class RawResult:
    """The part of SQLAlchemy's Result the hot paths use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        row = self.one_or_none()
        if row is None:
            raise NoResultFound("No row was found when one was required")
        return row

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]
