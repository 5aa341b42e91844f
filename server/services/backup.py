"""`tessera-server backup` and `restore`: a consistent logical snapshot in a tar archive with a manifest
of per-table digests, signed by the server key. Restore refuses a damaged archive (a digest or the
signature fails) and a foreign one (signed by another organisation's server key), loads the rows into
an empty database, and verifies the audit chain and the key directory before it reports success.

Backups hold exactly what the database holds: ciphertext, public keys, ids, days. The server key is
not in them: keep it (and the configuration) separately (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, text

from keys.accounts import AccountKeys, verify_signature
from keys.encoding import b64u_decode, b64u_encode, canonical_json, u64
from keys.errors import EncodingError, ProofError
from keys.hashing import TAG_BACKUP, kdf32, kdf32_pieces
from server.errors import ConflictError, ServiceError
from server.storage.db import Database
from server.storage.dump import begin_snapshot, clear_table, dump_rows, fix_sequences, is_empty, load_rows, tables
from server.storage.migrate import current_revision, head_revision, upgrade

FORMAT = "tessera-backup"
VERSION = 1
SKIPPED = frozenset({"nonces", "rate_limits", "server_instances"})  # per-process bookkeeping, minutes long
TAG_TABLE = b"backup-table"
TAG_TABLE_SEGMENTS = b"backup-table/segments"
SEGMENT = 1 << 30  # bytes per hashed segment of a table file of SEGMENTED_FROM bytes or more
SEGMENTED_FROM = 1 << 32


class BackupError(ServiceError):
    """The archive cannot be restored."""

    code = "bad_backup"


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    rows: dict[str, int]
    revision: str


BLOCK = 1 << 20


def _table_digest(blocks: Iterable[bytes], size: int) -> str:
    """The digest of one table file, read in blocks (a table of attachment chunks can be gigabytes).

    One hashed part holds less than 4 GiB (its length is framed in 4 bytes), so a table file of 4 GiB or
    more is hashed in segments of SEGMENT bytes and its digest is over their digests; smaller tables keep
    the single-part digest earlier backups carry."""
    if size < SEGMENTED_FROM:
        return b64u_encode(kdf32_pieces(TAG_TABLE, blocks, size))
    stream = iter(blocks)
    carry = b""

    def take(length: int) -> Iterator[bytes]:
        nonlocal carry
        while length:
            if not carry:
                carry = next(stream, b"")
                if not carry:
                    return  # short: kdf32_pieces names the shortfall
            piece, carry = (carry, b"") if len(carry) <= length else (carry[:length], carry[length:])
            length -= len(piece)
            yield piece

    try:
        segments = [
            kdf32_pieces(TAG_TABLE, take(min(SEGMENT, size - start)), min(SEGMENT, size - start))
            for start in range(0, size, SEGMENT)
        ]
    except EncodingError:
        raise EncodingError(f"expected {size} bytes to hash, got fewer") from None
    if carry or next(stream, b""):
        raise EncodingError(f"expected {size} bytes to hash, got more")
    return b64u_encode(kdf32(TAG_TABLE_SEGMENTS, u64(size), *segments))


def _blocks(handle: IO[bytes]) -> Iterator[bytes]:
    while block := handle.read(BLOCK):
        yield block


def _file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return _table_digest(_blocks(handle), path.stat().st_size)


async def create_backup(db: Database, server_keys: AccountKeys, out: Path, *, day: int) -> BackupSummary:
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, Path] = {}

        def dump(conn: Connection) -> tuple[str | None, dict[str, int]]:
            begin_snapshot(conn)
            revision = current_revision(conn)
            counts = {}
            for table in tables():
                if table.name in SKIPPED:
                    continue
                path = Path(tmp) / f"{table.name}.jsonl"
                n = 0
                with path.open("w", encoding="utf-8") as handle:
                    for line in dump_rows(conn, table):
                        handle.write(line + "\n")
                        n += 1
                files[table.name], counts[table.name] = path, n
            conn.rollback()
            return revision, counts

        revision, counts = await db.run_sync(dump)
        if revision is None:
            raise BackupError("the database has no Tessera schema")
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "schema_revision": revision,
            "day": day,
            "server_key": b64u_encode(server_keys.public().sign_key),
            "tables": {name: {"rows": counts[name], "digest": _file_digest(path)} for name, path in files.items()},
        }
        manifest_bytes = canonical_json(manifest)
        signature = server_keys.sign(TAG_BACKUP, manifest_bytes)
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            _add(archive, "manifest.json", manifest_bytes)
            _add(archive, "manifest.sig", b64u_encode(signature).encode())
            for name, path in files.items():
                archive.add(path, arcname=f"tables/{name}.jsonl")
        partial.chmod(0o600)
        partial.replace(out)
    return BackupSummary(out, counts, revision)


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


@contextmanager
def _open_archive(path: Path, server_key: bytes) -> Iterator[tuple[dict[str, Any], Callable[[str], Iterator[str]]]]:
    """Open and check an archive: its manifest's signature, then every table's digest and row count,
    reading each table as a stream. Yields the manifest and a function that streams a table's lines."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            members = {m.name: m for m in archive.getmembers() if m.isfile()}

            def open_member(name: str) -> tuple[IO[bytes], int]:
                member = members.get(name)
                handle = archive.extractfile(member) if member else None
                if handle is None or member is None:
                    raise BackupError(f"the archive has no {name}: it is not a Tessera backup, or it is damaged")
                return handle, member.size

            manifest_bytes, signature = (open_member(n)[0].read() for n in ("manifest.json", "manifest.sig"))
            manifest = json.loads(manifest_bytes)
            if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
                raise BackupError("not a Tessera backup (or one of a newer format)")
            try:
                verify_signature(server_key, TAG_BACKUP, manifest_bytes, b64u_decode(signature.decode().strip()))
            except ProofError:
                if manifest.get("server_key") != b64u_encode(server_key):
                    raise BackupError("this backup belongs to another organisation (another server key)") from None
                raise BackupError("the backup's manifest was altered or damaged (its signature does not verify)") from None
            for name, info in manifest["tables"].items():
                handle, size = open_member(f"tables/{name}.jsonl")
                lines = 0

                def counted(blocks: Iterator[bytes]) -> Iterator[bytes]:
                    nonlocal lines
                    for block in blocks:
                        lines += block.count(b"\n")
                        yield block

                if _table_digest(counted(_blocks(handle)), size) != info["digest"] or lines != info["rows"]:
                    raise BackupError(f"table {name} in the backup is damaged (digest mismatch)")

            def table_lines(name: str) -> Iterator[str]:
                handle, _size = open_member(f"tables/{name}.jsonl")
                for line in handle:
                    yield line.decode("utf-8").rstrip("\n")

            yield manifest, table_lines
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError) as exc:
        raise BackupError(f"cannot read the backup: {exc.__class__.__name__}: damaged or not a Tessera backup") from exc


async def restore_backup(db: Database, server_keys: AccountKeys, archive: Path) -> BackupSummary:
    with _open_archive(archive, server_keys.public().sign_key) as (manifest, table_lines):
        revision = str(manifest["schema_revision"])
        await asyncio.to_thread(upgrade, db.url, revision)  # the schema the rows were dumped from (Alembic runs its own loop)

        def load(conn: Connection) -> dict[str, int]:
            if not is_empty(conn):
                raise ConflictError("this database holds an organisation already; restore into a fresh database")
            counts = {}
            for table in tables():
                if table.name in manifest["tables"]:
                    clear_table(conn, table)  # e.g. the chain heads a fresh schema starts with
                    counts[table.name] = load_rows(conn, table, table_lines(table.name))
            fix_sequences(conn)
            if conn.dialect.name == "sqlite":
                conn.execute(text("PRAGMA foreign_key_check"))
            conn.commit()
            return counts

        counts = await db.run_sync(load)
    await asyncio.to_thread(upgrade, db.url)  # then up to this version's schema
    return BackupSummary(archive, counts, head_revision())
