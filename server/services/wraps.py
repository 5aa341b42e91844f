"""Case-key wraps for members who join the council: a current member's client re-wraps, in batches, the
case keys it can open to the newcomers' X25519 keys. The server never sees a case key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keys.encoding import b64u_encode
from keys.envelope import CASE_KEY_WRAP_SIZE
from server.errors import BadRequestError
from server.services import audit
from server.services.cases import council_record
from server.services.context import Principal, Services
from server.storage.models import CaseRow, WrapRow

MAX_BATCH = 1000


async def my_wraps(services: Services, principal: Principal, *, after: bytes | None, limit: int) -> list[dict[str, Any]]:
    """A page of the caller's own wraps, in case-id order, each with the current members who have none."""
    principal.require("council")
    async with services.db.read() as session:
        box_key = (await services.directory.state(session)).accounts[principal.name].keys.box_key
        members = [m.box_key for m in (await council_record(services, session)).members]
        query = select(WrapRow.case_id, WrapRow.sealed).where(WrapRow.recipient == box_key).order_by(WrapRow.case_id)
        if after is not None:
            query = query.where(WrapRow.case_id > after)
        rows = (await session.execute(query.limit(max(1, min(limit, MAX_BATCH))))).all()
        have: dict[bytes, set[bytes]] = {}
        if rows:
            present = select(WrapRow.case_id, WrapRow.recipient).where(WrapRow.case_id.in_([r.case_id for r in rows]))
            for row in (await session.execute(present)).all():
                have.setdefault(row.case_id, set()).add(row.recipient)
    return [
        {
            "case_id": b64u_encode(r.case_id),
            "sealed": b64u_encode(r.sealed),
            "missing": [b64u_encode(m) for m in members if m not in have.get(r.case_id, set())],
        }
        for r in rows
    ]


async def add_wraps(services: Services, principal: Principal, wraps: Sequence[tuple[bytes, bytes, bytes]]) -> int:
    """Store wraps (case id, recipient, sealed) for current council members; existing ones are kept. Returns
    how many were new."""
    principal.require("council")
    if len(wraps) > MAX_BATCH:
        raise BadRequestError(f"at most {MAX_BATCH} wraps a request")
    async with services.db.write() as session:
        record = await council_record(services, session)
        if record.member_by_sign_key(principal.sign_key) is None:
            raise BadRequestError("you are not a member of the current council epoch")
        members = {m.box_key for m in record.members}
        for _case_id, recipient, sealed in wraps:
            if recipient not in members:
                raise BadRequestError("a wrap must be addressed to a member of the current council")
            if len(sealed) != CASE_KEY_WRAP_SIZE:
                raise BadRequestError("a wrap has the wrong size")
        ids = list({case_id for case_id, _, _ in wraps})
        existing = (
            {r.case_id for r in (await session.execute(select(CaseRow.case_id).where(CaseRow.case_id.in_(ids)))).all()}
            if ids
            else set()
        )
        present = set()
        if ids:
            query = select(WrapRow.case_id, WrapRow.recipient).where(WrapRow.case_id.in_(ids))
            present = {(r.case_id, r.recipient) for r in (await session.execute(query)).all()}
        rows = [{"case_id": c, "recipient": r, "sealed": w} for c, r, w in wraps if c in existing and (c, r) not in present]
        added = len({(row["case_id"], row["recipient"]) for row in rows})
        if rows:  # one statement; a wrap that exists already is kept as it is
            insert = sqlite_insert if services.db.is_sqlite else pg_insert
            await session.execute(insert(WrapRow).on_conflict_do_nothing(), rows)
        if added:
            await audit.append(session, day=services.today(), actor=principal.name, action="wraps.added", detail={"count": added})
    return added
