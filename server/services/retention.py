"""Retention by crypto-shredding: a case past its state's retention period loses its ciphertext, key
wraps, identity header, messages, decisions and reveal requests (one DELETE that cascades); the audit
entries remain, with one more that says it was shredded and why. On SQLite the deleted rows are zeroed
where they lay (secure_delete) and the WAL, which still holds older copies of their pages, is emptied; on
PostgreSQL the tables the shred deleted from are rewritten without them (Database.purge_wal)."""

from __future__ import annotations

from sqlalchemy import delete, select

from keys.encoding import b64u_encode
from server.services import audit
from server.services.context import Services
from server.storage.db import Deleted, deleted_rows
from server.storage.models import CaseRow


async def expired_cases(services: Services) -> list[tuple[bytes, str, int]]:
    """(case id, state, day) of every case past its state's retention period."""
    today = services.today()
    found: list[tuple[bytes, str, int]] = []
    async with services.db.read() as session:
        for state, days in services.config.retention.items():
            if days <= 0:
                continue
            rows = (
                await session.execute(
                    select(CaseRow.case_id, CaseRow.day).where(CaseRow.state == state, CaseRow.day + days < today)
                )
            ).all()
            found += [(r.case_id, state, r.day) for r in rows]
    return found


async def shred_expired(services: Services, *, dry_run: bool = False) -> list[bytes]:
    """Crypto-shred every expired case; returns their ids."""
    shredded = []
    deleted: Deleted | None = None
    for case_id, state, day in await expired_cases(services):
        if dry_run:
            shredded.append(case_id)
            continue
        async with services.db.write() as session:
            result = await session.execute(delete(CaseRow).where(CaseRow.case_id == case_id, CaseRow.state == state))
            if result.rowcount:  # type: ignore[attr-defined]
                await audit.append(
                    session,
                    day=services.today(),
                    actor="retention",
                    action="case.shredded",
                    obj=b64u_encode(case_id),
                    detail={"state": state, "retention_days": services.config.retention[state], "intake_day": day},
                )
                shredded.append(case_id)
                deleted = await deleted_rows(session, deleted)
    if shredded:
        await services.db.purge_wal(deleted)
    return shredded
