"""A logical dump of every table (rows as JSON lines, binary as base64), and loading one back.

It works the same on SQLite and PostgreSQL (so a backup can also move an organisation from one to the
other), reads inside one snapshot, and knows nothing of what the bytes mean: they are ciphertext.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, LargeBinary, delete, func, insert, select, text

from server.storage.models import Base, DirectoryRow

BATCH = 1000
BATCH_BYTES = 32 << 20  # and at most this much JSON per insert (rows of attachment chunks are 1 MiB)


def tables() -> list[Any]:
    """Tables in dependency order (parents first)."""
    return list(Base.metadata.sorted_tables)


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def dump_rows(conn: Connection, table: Any) -> Iterator[str]:
    """Every row of `table` as one JSON line, in primary-key order."""
    order = list(table.primary_key.columns)
    # streamed (a server-side cursor on PostgreSQL): a table of attachment chunks can be gigabytes
    query = select(table).order_by(*order).execution_options(stream_results=True, yield_per=16)
    for row in conn.execute(query).mappings():
        yield json.dumps({k: _encode(v) for k, v in row.items()}, sort_keys=True, separators=(",", ":"))


def begin_snapshot(conn: Connection) -> None:
    """Make the following reads one consistent snapshot."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN")  # deferred: the snapshot is taken at the first read
    else:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def is_empty(conn: Connection) -> bool:
    return conn.execute(select(func.count()).select_from(DirectoryRow)).scalar_one() == 0


def load_rows(conn: Connection, table: Any, lines: Iterator[str], on_batch: Callable[[int], None] | None = None) -> int:
    """Insert rows from JSON lines; returns how many."""
    binary = {c.name for c in table.columns if isinstance(c.type, LargeBinary)}
    batch: list[dict[str, Any]] = []
    count = pending = 0
    for line in lines:
        row = json.loads(line)
        for name in binary:
            if isinstance(row.get(name), dict):
                row[name] = base64.b64decode(row[name]["b64"])
        batch.append(row)
        pending += len(line)
        if len(batch) >= BATCH or pending >= BATCH_BYTES:
            conn.execute(insert(table), batch)
            count += len(batch)
            batch.clear()
            pending = 0
            if on_batch:
                on_batch(count)
    if batch:
        conn.execute(insert(table), batch)
        count += len(batch)
    return count


def clear_table(conn: Connection, table: Any) -> None:
    conn.execute(delete(table))


def fix_sequences(conn: Connection) -> None:
    """After inserting explicit ids on PostgreSQL, move each serial sequence past the largest id."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables():
        for column in table.primary_key.columns:
            if column.autoincrement is True:
                # names come from our own metadata, never from input
                sequence = f"pg_get_serial_sequence('{table.name}', '{column.name}')"
                largest = f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1"  # noqa: S608
                sql = f"SELECT setval({sequence}, {largest}, false)"
                conn.execute(text(sql))
