"""Seizure test: run the whole story with a distinct marker in every field of every form and message,
then search everything a seized server would hand over (database files with the WAL, a backup, the
server's log, its stdout and stderr) for every marker, in plain text and in common encodings. None may
be found. Also: no row links a helper account to a case, and no IP address is stored anywhere."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import tarfile
from pathlib import Path

from client.forms import KINDS
from keys.encoding import b64u_encode
from tests.support.processes import (
    Cli,
    build_organisation,
    environment,
    free_port,
    init_server,
    reveal,
    running_server,
    server_cli,
)

SECRET_KINDS = ("medical", "relocation", "schooling")


def marker(n: int) -> str:
    return f"MARKER{n:03d}Zq"


def _holds(value: object, ids: list[bytes]) -> bool:
    """A column holds one of the ids: as the raw bytes, or base64url inside a text column."""
    if isinstance(value, bytes):
        return any(i in value for i in ids)
    return isinstance(value, str) and any(b64u_encode(i) in value for i in ids)


def _names_helper(value: object, name: str, keys: tuple[bytes, bytes]) -> bool:
    """A column names the helper: her keys as bytes or base64url, or her account name as a word of its own. A name
    inside a run of base64 letters is chance (a ciphertext's base64 spells "hana" now and then: CI saw it once),
    so only a name between characters base64url never uses counts."""
    if isinstance(value, bytes):
        return any(k in value for k in keys)
    if not isinstance(value, str):
        return False
    if any(b64u_encode(k) in value for k in keys):
        return True
    return re.search(rf"(?<![A-Za-z0-9_-]){re.escape(name)}(?![A-Za-z0-9_-])", value) is not None


def encodings(text: str) -> list[bytes]:
    raw = text.encode()
    forms = [raw, text.encode("utf-16-le"), text.encode("utf-16-be"), raw.hex().encode(), raw.hex().upper().encode()]
    for offset in range(3):  # base64 of the marker at any alignment inside a longer string
        padded = b"x" * offset + raw
        encoded = base64.b64encode(padded)[4 if offset else 0 :][:12]
        forms += [encoded, base64.urlsafe_b64encode(padded)[4 if offset else 0 :][:12]]
    return forms


def fill(kind: str, counter: list[int], used: list[str]) -> str:
    lines = [f'kind = "{kind}"', "schema = 1"]
    for section in ("identity", "case"):
        lines.append(f"[{section}]")
        for f in KINDS[kind][1]:
            if f.section != section:
                continue
            if f.kind in ("text",):
                counter[0] += 1
                value = f"{marker(counter[0])} 김영희 {marker(counter[0])}"
                used.append(marker(counter[0]))
                lines.append(f'{f.name} = "{value}"')
            elif f.kind == "date":
                lines.append(f'{f.name} = "1990-01-01"')
            elif f.kind == "month":
                lines.append(f'{f.name} = "2026-10"')
            elif f.kind == "choice":
                lines.append(f'{f.name} = "{f.choices[0]}"')
            elif f.kind == "int":
                lines.append(f"{f.name} = 7")
            elif f.kind == "bool":
                lines.append(f"{f.name} = true")
    return "\n".join(lines) + "\n"


def test_a_seized_server_reveals_no_marker(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "srv"
    port = free_port()
    invite = init_server(data, f"http://127.0.0.1:{port}")
    counter, used = [0], []
    with running_server(data, port, env=environment()):
        build_organisation(cli, invite)
        cases = []
        for kind in SECRET_KINDS:
            form = tmp_path / f"{kind}.toml"
            form.write_text(fill(kind, counter, used))
            cases.append(cli.ok("hana", "intake", "submit", "--kind", kind, "--form", str(form)).strip().splitlines()[-1])
        for case in cases:
            counter[0] += 1
            purpose = marker(counter[0])
            used.append(purpose)
            identity = reveal(cli, case, "kim", ("lee", "park"), purpose)["identity"]
            assert any(m in json.dumps(identity, ensure_ascii=False) for m in used)  # the council can read it
            for who, flag in (("kim", []), ("hana", []), ("lee", ["--council-only"])):
                counter[0] += 1
                used.append(marker(counter[0]))
                cli.ok(who, "messages", "send", case, "--text", f"note {marker(counter[0])}", *flag)
            counter[0] += 1
            used.append(marker(counter[0]))
            proposal = cli.ok("kim", "decision", "propose", case, "--action", "approve", "--note", marker(counter[0])).strip()
            for seal in ("--case-file", "--identity"):  # an attachment whose name and content carry markers
                counter[0] += 1
                used.append(marker(counter[0]))
                attachment = tmp_path / f"{marker(counter[0])}.txt"
                attachment.write_text(f"scan of papers {marker(counter[0])} " * 1000)
                cli.ok("hana", "attach", case, str(attachment), seal)
            cli.ok("kim", "decision", "vote", proposal, "--yes")
            cli.ok("park", "decision", "vote", proposal, "--yes")
        assert "hash chain intact" in cli.ok("admin", "audit", "verify")
        backup = tmp_path / "backup.tar.gz"
        assert server_cli("backup", "--data", str(data), "--out", str(backup), env=environment()).returncode == 0
        # the database files as they are on disk, WAL included, while the server runs
        seized = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file() and p.name.startswith("tessera.db")}
    assert any(name.endswith("-wal") for name in seized) or "tessera.db" in seized
    with tarfile.open(backup) as tar:
        seized["backup"] = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())  # type: ignore[union-attr]
    seized["backup.tar.gz"] = backup.read_bytes()
    seized["server log"] = next(tmp_path.glob("srv.*.log")).read_bytes()
    assert len(used) >= 20
    for name, blob in seized.items():
        for m in used:
            for form in encodings(m):
                assert form not in blob, f"{m} found in {name} as {form!r}"
        assert "김영희".encode() not in blob and "김영희".encode("utf-16-le") not in blob, name

    # no helper-to-case link and no address, in any row of any table
    db = sqlite3.connect(data / "tessera.db")
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        table_rows = [row for t in tables for row in db.execute(f'SELECT * FROM "{t}"')]
        hana_key = db.execute("SELECT sign_key, box_key FROM accounts WHERE account = 'hana'").fetchone()
        case_ids = [r[0] for r in db.execute("SELECT case_id FROM cases")]
    finally:
        db.close()
    rows = [repr(row) for row in table_rows]
    for row in table_rows:
        if any(_holds(value, case_ids) for value in row):
            linked = any(_names_helper(value, "hana", hana_key) for value in row)
            assert not linked, f"a row links the helper to a case: {repr(row)[:200]}"
    everything = "\n".join(rows)
    assert not re.search(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", everything), "an IP address is stored"
    assert "Mozilla" not in everything and "Python/" not in everything, "a user agent is stored"
