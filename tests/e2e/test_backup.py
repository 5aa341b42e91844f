"""Backup -> restore -> `tessera audit verify`, on SQLite and on PostgreSQL; damaged and foreign archives
are refused; the backup holds ciphertext only; an older schema revision with data upgrades."""

from __future__ import annotations

import gzip
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.forms import MEDICAL
from tests.support.processes import Cli, build_organisation, environment, free_port, init_server, running_server, server_cli
from tests.support.world import drop_pg, pg_available


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[tuple[str | None, str | None]]:
    """(URL for the original, URL for the restored copy); None means SQLite in the data directory."""
    if request.param == "sqlite":
        yield None, None
        return
    first, second = pg_available(), pg_available()
    if first is None or second is None:
        pytest.skip("no PostgreSQL server answers (set TESSERA_TEST_PG_URL)")
    yield first, second
    drop_pg(first)
    drop_pg(second)


def _copy_data_dir(source: Path, target: Path, db_url: str | None) -> None:
    """What an operator restores onto a new machine: the configuration and server.key (kept apart)."""
    target.mkdir(mode=0o700)
    shutil.copy2(source / "server.key", target / "server.key")
    config = (source / "tessera-server.toml").read_text()
    old = next(line for line in config.splitlines() if line.startswith("db_url"))
    new_url = db_url or f"sqlite:///{(target / 'tessera.db').resolve()}"
    (target / "tessera-server.toml").write_text(config.replace(old, f'db_url = "{new_url}"'))


def test_backup_restore_audit_verify(cli: Cli, tmp_path: Path, database: tuple[str | None, str | None]) -> None:
    original_db, restored_db = database
    data = tmp_path / "srv"
    port = free_port()
    args = ["init", "--data", str(data), "--url", f"http://127.0.0.1:{port}", "--json"] + (
        ["--db", original_db] if original_db else []
    )
    init = server_cli(*args, env=environment())
    assert init.returncode == 0, init.stderr
    invite = json.loads(init.stdout.strip().splitlines()[-1])["invite"]
    archive = tmp_path / "backup.tar.gz"
    bill = tmp_path / "bill.txt"
    bill.write_bytes(b"hospital bill, 800 USD, " * 100_000)  # 2.4 MiB: three chunks
    with running_server(data, port, env=environment()):
        case = build_organisation(cli, invite, helper_form=MEDICAL, form_dir=tmp_path)
        assert case is not None
        attachment = cli.ok("hana", "attach", case, str(bill), "--case-file").strip().splitlines()[-1]
        result = server_cli("backup", "--data", str(data), "--out", str(archive), env=environment())  # online, while serving
        assert result.returncode == 0, result.stderr
    # ciphertext only: no field of the form appears in the archive, in any table
    with tarfile.open(archive) as tar:
        content = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())  # type: ignore[union-attr]
    for marker in ("박서준", "shelter C", "broken leg", "emergency-operation", "hospital bill", "bill.txt"):
        assert marker.encode() not in content, marker

    restored = tmp_path / "restored"
    _copy_data_dir(data, restored, restored_db)
    result = server_cli("restore", "--data", str(restored), str(archive), env=environment())
    assert result.returncode == 0, result.stderr
    assert "audit chain and key directory verify" in result.stdout
    again = server_cli("restore", "--data", str(restored), str(archive), env=environment())
    assert again.returncode == 2 and "fresh database" in again.stderr
    new_port = free_port()
    with running_server(restored, new_port, env=environment()):
        server = f"http://127.0.0.1:{new_port}"
        assert "hash chain intact" in cli.ok("admin", "--server", server, "audit", "verify")
        assert case in cli.ok("kim", "--server", server, "cases", "list")
        assert "broken leg" in cli.ok("kim", "--server", server, "cases", "show", case)
        # attachments are in the backup: the restored server streams the same sealed chunks back
        back = tmp_path / "bill-restored.txt"
        cli.ok("kim", "--server", server, "cases", "fetch-attachment", case, attachment, "--out", str(back))
        assert back.read_bytes() == bill.read_bytes()


def test_damaged_and_foreign_archives_are_refused(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "srv"
    port = free_port()
    invite = init_server(data, f"http://127.0.0.1:{port}")
    with running_server(data, port, env=environment()):
        build_organisation(cli, invite)
    archive = tmp_path / "backup.tar.gz"
    assert server_cli("backup", "--data", str(data), "--out", str(archive), env=environment()).returncode == 0

    # damaged: one row changed inside a table file (re-packed, so the archive itself still opens)
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as tar, tarfile.open(damaged, "w:gz") as out:
        for member in tar.getmembers():
            blob = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "tables/audit_log.jsonl":
                blob = blob.replace(b'"actor":"kim"', b'"actor":"eve"', 1)
            member.size = len(blob)
            out.addfile(member, __import__("io").BytesIO(blob))
    target = tmp_path / "t1"
    _copy_data_dir(data, target, None)
    result = server_cli("restore", "--data", str(target), str(damaged), env=environment())
    assert result.returncode == 2 and "damaged" in result.stderr and "Traceback" not in result.stderr
    # truncated: the gzip stream is cut
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: len(archive.read_bytes()) // 2])
    result = server_cli("restore", "--data", str(target), str(truncated), env=environment())
    assert result.returncode == 2 and "damaged" in result.stderr
    not_gzip = tmp_path / "x.tar.gz"
    not_gzip.write_bytes(gzip.compress(b"hello"))
    result = server_cli("restore", "--data", str(target), str(not_gzip), env=environment())
    assert result.returncode == 2
    # foreign: another organisation's server key
    other = tmp_path / "other"
    assert server_cli("init", "--data", str(other), env=environment()).returncode == 0
    fresh = tmp_path / "t2"
    _copy_data_dir(other, fresh, None)
    result = server_cli("restore", "--data", str(fresh), str(archive), env=environment())
    assert result.returncode == 2 and "another organisation" in result.stderr
