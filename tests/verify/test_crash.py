"""Crash durability: kill -9 the server while 50 clients submit intakes and post votes; restart; every
acknowledged write is there and verifies, the audit chain verifies, nothing half-written is visible.
On PostgreSQL, also restart the database mid-load: the server recovers by itself and loses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import aiohttp
import pytest

from client.api import ApiError, ServerUnreachableError
from keys.audit import verify_entries
from keys.checkpoints import Checkpoint, verify_audit_checkpoint
from keys.decisions import Proposal, majority, propose, vote
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope, open_case_file, unwrap_case_key
from keys.invites import Invite
from keys.wire import from_wire, to_wire
from tests.support.org import Org, build_org
from tests.support.processes import BIN, environment, free_port, server_cli, wait_healthy

CLIENTS = 50


def start(data: Path, port: int, log: Path) -> subprocess.Popen[str]:
    with log.open("a") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [str(BIN / "tessera-server"), "run", "--data", str(data), "--listen", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**environment(), "TESSERA_RATE_LIMIT": "1000000"},
        )
    wait_healthy(port, process, log)
    return process


async def load(
    org: Org, acked_cases: list[bytes], acked_votes: list[tuple[str, bytes]], proposals: list[Proposal], stop: asyncio.Event
) -> int:
    errors = 0

    async def helper_worker(n: int) -> None:
        nonlocal errors
        helper = org.helpers[n % len(org.helpers)]
        while not stop.is_set():
            envelope = org.seal(helper)
            try:
                await helper.api.call("PUT", f"/v1/cases/{b64u_encode(envelope.case_id)}", body=to_wire(envelope))
                acked_cases.append(envelope.case_id)
            except (TimeoutError, ApiError, ServerUnreachableError, aiohttp.ClientError):
                errors += 1
                await asyncio.sleep(0.05)

    async def voter(member_index: int) -> None:
        nonlocal errors
        member = org.council[member_index]
        for proposal in proposals:
            if stop.is_set():
                return
            ballot = vote(proposal=proposal, approve=False, head_seq=org.state.seq, head_hash=org.state.head, keys=member.keys)
            try:
                await member.api.call("POST", f"/v1/proposals/{b64u_encode(proposal.proposal_id)}/votes", body=to_wire(ballot))
                acked_votes.append((member.name, proposal.proposal_id))
            except (TimeoutError, ApiError, ServerUnreachableError, aiohttp.ClientError):
                errors += 1
            await asyncio.sleep(0.02)

    await asyncio.gather(*(helper_worker(i) for i in range(CLIENTS - 3)), *(voter(i) for i in range(3)))
    return errors


async def check_everything(org: Org, acked_cases: list[bytes], acked_votes: list[tuple[str, bytes]]) -> None:
    member = org.council[0]
    listed: set[str] = set()
    cursor = None
    while True:
        page = await member.api.call("GET", "/v1/cases", query={"cursor": cursor, "limit": 200})
        listed |= {c["case_id"] for c in page["cases"]}
        cursor = page["next_cursor"]
        if cursor is None:
            break
    missing = [c for c in acked_cases if b64u_encode(c) not in listed]
    assert not missing, f"{len(missing)} acknowledged intakes lost"
    for case_id in acked_cases[:: max(1, len(acked_cases) // 40)]:  # open a sample end to end
        raw = await member.api.call("GET", f"/v1/cases/{b64u_encode(case_id)}")
        envelope = from_wire(IntakeEnvelope, raw["envelope"])
        open_case_file(envelope, unwrap_case_key(member.keys, case_id, envelope.wraps[0]))
    entries: list[dict[str, object]] = []
    after = 0
    while True:
        answer = await member.api.call("GET", "/v1/audit", query={"after": after, "limit": 5000})
        if not answer["entries"]:
            break
        entries += answer["entries"]
        after = answer["entries"][-1]["seq"]
    _seq, head = verify_entries(entries)
    checkpoint = from_wire(Checkpoint, answer["checkpoint"])
    assert org.state.server_key is not None
    verify_audit_checkpoint(checkpoint, org.state.server_key, head)
    voted = {(e["actor"], json.dumps(e["detail"], sort_keys=True)) for e in entries if e["action"] == "decision.voted"}
    for name, proposal_id in acked_votes:
        assert any(actor == name and b64u_encode(proposal_id) in detail for actor, detail in voted), (
            "an acknowledged vote was lost"
        )
    submitted = sum(1 for e in entries if e["action"] == "case.submitted")
    assert submitted == len(listed), "a case without its audit entry, or the other way round (half-written)"


async def _scenario(tmp_path: Path, db_url: str | None, disrupt: str) -> None:
    data = tmp_path / "srv"
    port = free_port()
    args = ["init", "--data", str(data), "--url", f"http://127.0.0.1:{port}", "--json"] + (["--db", db_url] if db_url else [])
    init = server_cli(*args, env=environment())
    assert init.returncode == 0, init.stderr
    invite = Invite.decode(json.loads(init.stdout.strip().splitlines()[-1])["invite"])
    log = tmp_path / "server.log"
    process = start(data, port, log)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            org = await build_org(f"http://127.0.0.1:{port}", session, invite, helpers=CLIENTS - 3)
            proposals = []
            for _ in range(15):  # cases to vote on
                envelope = org.seal(org.helpers[0])
                await org.helpers[0].api.call("PUT", f"/v1/cases/{b64u_encode(envelope.case_id)}", body=to_wire(envelope))
                case_key = unwrap_case_key(org.council[0].keys, envelope.case_id, envelope.wraps[0])
                proposal = propose(
                    case_id=envelope.case_id,
                    case_key=case_key,
                    action="decline",
                    note="n",
                    epoch=org.record.epoch,
                    needed=majority(len(org.record.members)),
                    head_seq=org.state.seq,
                    head_hash=org.state.head,
                    keys=org.council[0].keys,
                )
                await org.council[0].api.call(
                    "POST", f"/v1/cases/{b64u_encode(envelope.case_id)}/proposals", body=to_wire(proposal)
                )
                proposals.append(proposal)
            acked_cases: list[bytes] = []
            acked_votes: list[tuple[str, bytes]] = []
            stop = asyncio.Event()
            task = asyncio.create_task(load(org, acked_cases, acked_votes, proposals, stop))
            await asyncio.sleep(1.5)
            if disrupt == "kill":
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                await asyncio.sleep(0.5)
                process = start(data, port, log)  # restart: the server verifies its chains on start
            else:
                subprocess.run(
                    ["pg_ctlcluster", "--skip-systemctl-redirect", _cluster(), "main", "restart"], check=True, capture_output=True
                )
            await asyncio.sleep(2.0)
            stop.set()
            await task
            assert acked_cases, "no intake was acknowledged before the disruption"
            await check_everything(org, acked_cases, acked_votes)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def _cluster() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def test_kill_minus_nine_on_sqlite(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path, None, "kill"))


def test_kill_minus_nine_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    asyncio.run(_scenario(tmp_path, pg_url, "kill"))


@pytest.mark.skipif(
    not os.path.isdir("/etc/postgresql") or os.geteuid() != 0, reason="needs a local PostgreSQL cluster this user may restart"
)
def test_database_restart_mid_load_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    asyncio.run(_scenario(tmp_path, pg_url, "restart-db"))
