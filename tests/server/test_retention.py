"""Retention: cases past their state's period are crypto-shredded; the audit entries remain and verify."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select, update

from client.api import ApiError
from keys.audit import verify_entries
from keys.decisions import propose, vote
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope, unwrap_case_key
from keys.wire import from_wire, to_wire
from server.config import Config, load_config
from server.http.keys import SERVICES
from server.services.retention import shred_expired
from server.storage.models import CaseRow, WrapRow
from tests.support.world import World, council_record, submit_intake

from ..disk import on_disk, on_disk_postgres


@pytest.fixture
def config(server_dir: tuple[Path, str]) -> Config:
    return replace(load_config(server_dir[0]), retention={"open": 30, "decided": 0, "closed": 0})


async def test_expired_cases_are_shredded_and_the_audit_log_remains(
    world: World, server_dir: tuple[Path, str], backend: str | None
) -> None:
    kim, _lee, _park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    old = await submit_intake(helper, case_file=b"SHRED-ME-CASE", identity=b"SHRED-ME-ID")
    world.clock.advance(31 * 86400)
    fresh = await submit_intake(helper)
    services = world.client.app[SERVICES]
    assert await shred_expired(services, dry_run=True) == [old.case_id]
    assert await shred_expired(services) == [old.case_id]
    assert await shred_expired(services) == []
    with pytest.raises(ApiError) as caught:
        await kim.api.call("GET", f"/v1/cases/{b64u_encode(old.case_id)}")
    assert caught.value.status == 404
    await kim.api.call("GET", f"/v1/cases/{b64u_encode(fresh.case_id)}")
    entries = (await kim.api.call("GET", "/v1/audit"))["entries"]
    assert [e["action"] for e in entries if e["object"] == b64u_encode(old.case_id)] == ["case.submitted", "case.shredded"]
    verify_entries(entries)
    if backend is None:
        with sqlite3.connect(server_dir[0] / "tessera.db") as db:
            wraps = db.execute("SELECT COUNT(*) FROM case_wraps WHERE case_id = ?", (old.case_id,)).fetchone()[0]
        assert wraps == 0


async def test_a_shredded_case_leaves_no_bytes_in_the_database_files(
    world: World, server_dir: tuple[Path, str], backend: str | None
) -> None:
    # SQLite: older copies of a shredded case's pages stay in the WAL until written over (and, where SQLite
    # does not zero deleted rows, in free pages). PostgreSQL: a deleted row stays in its table file until its
    # space is reused, also after a plain VACUUM where no live row moves over it. Either way a seized disk
    # and, later, a member's key would still open the case
    if backend is not None and await on_disk_postgres(backend) is None:
        pytest.skip("the PostgreSQL server's data directory cannot be read from here")
    await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    old = await submit_intake(helper, case_file=b"SHRED-ME-CASE" * 200, identity=b"SHRED-ME-ID")
    for _ in range(6):  # rows that stay beside the shredded ones, in the same pages
        await submit_intake(helper, case_file=b"KEEP" * 200)
    services = world.client.app[SERVICES]
    async with services.db.read() as session:
        envelope, receipt = (
            await session.execute(select(CaseRow.envelope, CaseRow.receipt).where(CaseRow.case_id == old.case_id))
        ).one()
        wraps = list((await session.execute(select(WrapRow.sealed).where(WrapRow.case_id == old.case_id))).scalars())
    traces = [envelope.encode()[len(envelope) // 2 :][:64], receipt, *wraps]

    async def found() -> list[int]:
        data = on_disk(server_dir[0]) if backend is None else await on_disk_postgres(backend)
        assert data is not None
        return [i for i, trace in enumerate(traces) if trace in data]

    assert await found() == list(range(len(traces)))  # the probe sees them before
    async with services.db.write() as session:  # the others are decided: only the open one expires
        await session.execute(update(CaseRow).where(CaseRow.case_id != old.case_id).values(state="decided"))
    world.clock.advance(31 * 86400)
    if backend is None:
        assert await shred_expired(services) == [old.case_id]
    else:  # a transaction begun before the shred and ending after it: PostgreSQL keeps the rows for it meanwhile
        older = await asyncpg.connect(backend)
        try:
            transaction = older.transaction()
            await transaction.start()
            await older.fetchval("SELECT pg_current_xact_id()")
            ending = asyncio.get_running_loop().call_later(1.0, lambda: asyncio.ensure_future(transaction.commit()))
            assert await shred_expired(services) == [old.case_id]  # its rewrite waited for that transaction
            ending.cancel()
        finally:
            await older.close()
    assert await found() == []


async def test_a_close_decision_closes_a_case_and_the_closed_retention_applies(
    world: World, server_dir: tuple[Path, str], backend: str | None
) -> None:
    """Issue 26 item 7. Against the old code nothing ever moved a case to `closed` (`close` was no action), so the
    `[retention] closed` period never applied."""
    kim, lee, _park = await world.council(["kim", "lee", "park"], threshold=2)
    helper = await world.enrol("hana", "helper")
    envelope = await submit_intake(helper)
    case = b64u_encode(envelope.case_id)
    record, seq, head = await council_record(kim.api)
    stored = from_wire(IntakeEnvelope, (await kim.api.call("GET", f"/v1/cases/{case}"))["envelope"])
    case_key = unwrap_case_key(kim.keys, envelope.case_id, stored.wraps[0])
    made = dict(case_id=envelope.case_id, case_key=case_key, epoch=record.epoch, needed=2, head_seq=seq, head_hash=head)
    approve = propose(action="approve", note="500 USD", keys=kim.keys, **made)  # type: ignore[arg-type]
    close = propose(action="close", note="help given", keys=kim.keys, **made)  # type: ignore[arg-type]
    for proposal in (approve, close):
        await kim.api.call("POST", f"/v1/cases/{case}/proposals", body=to_wire(proposal))
    for member in (kim, lee):
        ballot = vote(proposal=close, approve=True, head_seq=seq, head_hash=head, keys=member.keys)
        await member.api.call("POST", f"/v1/proposals/{b64u_encode(close.proposal_id)}/votes", body=to_wire(ballot))
    assert (await kim.api.call("GET", f"/v1/cases/{case}"))["state"] == "closed"
    listed = await kim.api.call("GET", "/v1/cases", query={"state": "closed"})
    assert [c["case_id"] for c in listed["cases"]] == [case]
    late = vote(proposal=approve, approve=True, head_seq=seq, head_hash=head, keys=lee.keys)
    with pytest.raises(ApiError) as refused:  # an open proposal on a closed case takes no more votes
        await lee.api.call("POST", f"/v1/proposals/{b64u_encode(approve.proposal_id)}/votes", body=to_wire(late))
    assert refused.value.status == 409
    services = world.client.app[SERVICES]
    services.config = replace(services.config, retention={"open": 0, "decided": 0, "closed": 30})
    assert await shred_expired(services) == []
    world.clock.advance(31 * 86400)
    assert await shred_expired(services) == [envelope.case_id]
