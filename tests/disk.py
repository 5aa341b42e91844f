"""What a seized disk holds of a server's database: SQLite's files, or PostgreSQL's files of one database."""

from __future__ import annotations

from pathlib import Path

import asyncpg


def on_disk(data: Path) -> bytes:
    """Every byte of the SQLite database files in the data directory `data`, WAL included."""
    return b"".join(f.read_bytes() for f in (data / "tessera.db", data / "tessera.db-wal") if f.exists())


async def on_disk_postgres(url: str) -> bytes | None:
    """Every byte of the files of the PostgreSQL database at `url` (its tables, TOAST tables and indexes, in
    its directory of the server's data directory), after a checkpoint has written out what the server held
    in memory; None if that directory cannot be read from here (a server on another machine, or no right to
    it). The server's WAL (pg_wal), shared by all its databases, is not included."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CHECKPOINT")
        data = await connection.fetchval("SHOW data_directory")
        oid = await connection.fetchval("SELECT oid FROM pg_database WHERE datname = current_database()")
    finally:
        await connection.close()
    directory = Path(data) / "base" / str(oid)
    try:
        return b"".join(f.read_bytes() for f in sorted(directory.iterdir()) if f.is_file())
    except OSError:
        return None
