"""`tessera report` end to end: the real command (in a thread, as a member runs it) against a real server in
this process, with a council made by its key ceremony, intakes sealed by a helper and a decision adopted
by the members' own votes. The figures, the unreadable case, the files written, and that nothing decrypted
lands on disk."""

from __future__ import annotations

import asyncio
import datetime
import json
from pathlib import Path

import pytest

from keys.encoding import b64u_encode, canonical_json
from tests.e2e.conftest import cli
from tests.server.conftest import client, clock, config, server_dir, world
from tests.support.processes import Cli
from tests.support.world import World, submit_intake

__all__ = ["backend", "cli", "client", "clock", "config", "server_dir", "world"]

MARKER = "NARRATIVE-7f3a91"  # free text in every case file: it must never be written in clear


@pytest.fixture
def backend() -> None:
    """SQLite only: the report reads what any backend serves."""
    return None


def medical(treatment: str, amount: int) -> bytes:
    fields = {
        "region": "Jilin",
        "urgency": "high",
        "narrative": MARKER,
        "treatment": treatment,
        "condition": MARKER,
        "amount_usd": amount,
    }
    return canonical_json({"kind": "medical", "schema": 1, "fields": fields})


def food(route: str, month: str, kg: int, shelters: int) -> bytes:
    fields = {"route": route, "month": month, "rice_kg": kg, "shelters": shelters, "notes": MARKER}
    return canonical_json({"kind": "food-distribution", "schema": 1, "fields": fields})


@pytest.mark.slow
async def test_report_command_against_a_real_server(world: World, cli: Cli, tmp_path: Path) -> None:
    url = str(world.client.make_url("")).rstrip("/")

    async def run(who: str, *argv: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(cli.run, who, "--server", url, *argv)

    async def ok(who: str, *argv: str) -> str:
        code, out, err = await run(who, *argv)
        assert code == 0, err
        return out

    members = ("kim", "lee", "park")
    for name in (*members, "hana"):
        invite = await world.invite(name, "helper" if name == "hana" else "council")
        await ok(name, "join", invite.encode(), "--name", name)
    admin = await world.admin()
    await admin.api.call("POST", "/v1/ceremonies", body={"v": 1, "threshold": 2, "members": list(members)})
    for _ in range(6):
        if all(["done" in await ok(m, "council", "ceremony", "step", "--yes", "--accept-unverified") for m in members]):
            break
    helper = await world.enrol("dong", "helper")

    assert "Case files read: 0. Case files that could not be read: 0." in await ok("kim", "report")
    month = datetime.datetime.fromtimestamp(world.clock(), datetime.UTC).strftime("%Y-%m")
    await submit_intake(helper, case_file=food("RN-01", month, 2400, 5))
    await submit_intake(helper, case_file=food("RR-02", month, 2600, 4))
    approved = await submit_intake(helper, case_file=medical("emergency-operation", 1000))
    await submit_intake(helper, case_file=medical("emergency-operation", 2000))
    await submit_intake(helper, case_file=medical("medicine", 500))
    broken = await submit_intake(
        helper, case_file=canonical_json({"kind": "medical", "schema": 1, "fields": {"amount_usd": "lots"}})
    )
    proposal = (await ok("kim", "decision", "propose", b64u_encode(approved.case_id), "--action", "approve")).strip()
    await ok("kim", "decision", "vote", proposal, "--yes")
    assert "adopted" in await ok("lee", "decision", "vote", proposal, "--yes")

    out = tmp_path / "meeting"
    text = await ok("park", "report", "--out", str(out))
    assert "Case files read: 5. Case files that could not be read: 1." in text
    assert f"{month}  2,400  2,600      –     5,000      5,000          100                 9" in text
    assert b64u_encode(broken.case_id) in text and "its case file does not fit its form" in text
    assert MARKER not in text
    tables = json.loads(await ok("park", "report", "--json"))
    medical_row = next(row for row in tables["aid"] if row[0] == "medical")
    # 3 cases, 2 waiting (<3), 1 approved (<3), 0 declined; $3,500 requested; the approved case's $1,000 withheld
    assert medical_row == ["medical", "3", "<3", "<3", "0", "3500", "withheld", "0"]
    for name in ("report.html", "rice.png", "rice.svg", "aid.png", "aid.svg", "rice.csv", "aid.csv", "not_read.csv"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "rice.png").read_bytes().startswith(b"\x89PNG")

    # nothing decrypted was written anywhere: not in the report, the members' homes or the server's files
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert MARKER.encode() not in path.read_bytes(), path

    code, _, err = await run("hana", "report")
    assert code == 2 and "only council members" in err
    code, _, err = await run("kim", "report", "--from", "2027-13")
    assert code == 2 and "is not a month" in err
    code, _, err = await run("kim", "report", "--min-count", "2")
    assert code == 2 and "counts under 3 are always hidden" in err
