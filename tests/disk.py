"""What a seized disk holds of a server's SQLite database."""

from __future__ import annotations

from pathlib import Path


def on_disk(data: Path) -> bytes:
    """Every byte of the SQLite database files in the data directory `data`, WAL included."""
    return b"".join(f.read_bytes() for f in (data / "tessera.db", data / "tessera.db-wal") if f.exists())
