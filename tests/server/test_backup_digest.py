"""Backup table digests: a table file of 4 GiB or more (attachment chunks) is hashed in segments, since
one hashed part is framed with a 4-byte length. The sizes are made small here to exercise it."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from pathlib import Path

import pytest

from keys.encoding import b64u_encode
from keys.errors import EncodingError
from keys.hashing import kdf32_pieces
from server.app import load_server_keys
from server.config import load_config
from server.main import initialise
from server.services import backup
from server.services.backup import BackupError
from server.storage.db import Database

DATA = os.urandom(1000)


def blocks(size: int, data: bytes = DATA) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_tables_under_the_limit_keep_the_single_part_digest() -> None:
    assert backup._table_digest(blocks(64), len(DATA)) == b64u_encode(kdf32_pieces(backup.TAG_TABLE, [DATA], len(DATA)))


def test_segmented_digest_ignores_block_boundaries_and_sees_every_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    single = backup._table_digest(blocks(64), len(DATA))
    monkeypatch.setattr(backup, "SEGMENTED_FROM", 100)
    monkeypatch.setattr(backup, "SEGMENT", 96)
    segmented = backup._table_digest(blocks(1000), len(DATA))
    assert segmented != single
    assert {backup._table_digest(blocks(size), len(DATA)) for size in (1, 7, 96, 97, 333)} == {segmented}
    changed = DATA[:500] + bytes([DATA[500] ^ 1]) + DATA[501:]
    assert backup._table_digest(blocks(64, changed), len(DATA)) != segmented
    with pytest.raises(EncodingError, match="got fewer"):
        backup._table_digest(blocks(64, DATA[:-1]), len(DATA))
    with pytest.raises(EncodingError, match="got more"):
        backup._table_digest(blocks(64, DATA + b"x"), len(DATA))


def test_a_backup_with_segmented_tables_restores_and_a_changed_byte_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup, "SEGMENTED_FROM", 256)  # every table of a quarter KiB or more
    monkeypatch.setattr(backup, "SEGMENT", 100)
    initialise(tmp_path / "srv", db_url=None, url="http://tessera.test", admin_name="admin")
    config = load_config(tmp_path / "srv")
    keys = load_server_keys(config.key_path)
    archive = tmp_path / "backup.tgz"

    async def make_backup() -> dict[str, int]:
        db = Database(config.db_url)
        try:
            return (await backup.create_backup(db, keys, archive, day=20000)).rows
        finally:
            await db.close()

    async def restore_into(path: Path) -> dict[str, int]:
        db = Database(f"sqlite:///{path}")
        try:
            return (await backup.restore_backup(db, keys, archive)).rows
        finally:
            await db.close()

    written = asyncio.run(make_backup())
    assert asyncio.run(restore_into(tmp_path / "fresh.db")) == written
    with tarfile.open(archive, "r:gz") as original:
        members = [(m, original.extractfile(m).read() if m.isfile() else b"") for m in original.getmembers()]  # type: ignore[union-attr]
    sizes = {m.name: len(data) for m, data in members}
    big = max((name for name in sizes if name.startswith("tables/")), key=sizes.__getitem__)
    assert sizes[big] >= 3 * 100  # several segments
    with tarfile.open(archive, "w:gz") as out:  # the same archive, one byte of that table changed
        for member, data in members:
            if member.name == big:
                data = data[:150] + bytes([data[150] ^ 1]) + data[151:]  # in the second segment
            out.addfile(member, io.BytesIO(data) if member.isfile() else None)
    with pytest.raises(BackupError, match=f"table {big.removeprefix('tables/').removesuffix('.jsonl')} .*damaged"):
        asyncio.run(restore_into(tmp_path / "fresh2.db"))
