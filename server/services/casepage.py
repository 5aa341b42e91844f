"""A council member's page of whole cases (what `GET /v1/cases/{id}` answers, for up to MAX_PAGE cases in one
request): the client opens every case on the device for `cases list`, `decision list` and `tessera todo`, and
one request per case would spend the account's per-minute budget on a few hundred cases.

Each case carries the caller's own key wrap only (none when the caller has none: the client says the case does
not open for them), its decisions as signed, its switched header after a re-key, and how many messages its
threads hold (`messages`: count and the last sequence number; the client opens new ones itself)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import func, select

from keys.decisions import CASE_STATES
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope, KeyWrap
from keys.wire import decode_json, to_wire
from server.errors import BadRequestError
from server.services import headers
from server.services.cases import decisions_of
from server.services.context import Principal, Services
from server.storage.models import CaseRow, MessageRow, WrapRow

MAX_PAGE = 100


async def case_page(
    services: Services, principal: Principal, *, state: str | None, cursor: bytes | None, limit: int
) -> tuple[list[dict[str, Any]], bytes | None]:
    """Up to `limit` cases after `cursor` in case-id order (random ids: the order says nothing about time)."""
    principal.require("council")
    if state is not None and state not in CASE_STATES:
        raise BadRequestError(f"state must be one of {', '.join(CASE_STATES)}")
    limit = max(1, min(limit, MAX_PAGE))
    query = select(CaseRow).order_by(CaseRow.case_id).limit(limit + 1)
    if state is not None:
        query = query.where(CaseRow.state == state)
    if cursor is not None:
        query = query.where(CaseRow.case_id > cursor)
    async with services.db.read() as session:
        rows = list((await session.execute(query)).scalars().all())
        page = rows[:limit]
        ids = [r.case_id for r in page]
        box_key = (await services.directory.state(session)).accounts[principal.name].keys.box_key
        wraps = {
            w.case_id: w
            for w in (
                await session.execute(select(WrapRow).where(WrapRow.case_id.in_(ids), WrapRow.recipient == box_key))
            ).scalars()
        }
        counts = {
            r.case_id: (int(r._mapping["count"]), int(r._mapping["last"]))
            for r in (
                await session.execute(
                    select(MessageRow.case_id, func.count().label("count"), func.max(MessageRow.seq).label("last"))
                    .where(MessageRow.case_id.in_(ids))
                    .group_by(MessageRow.case_id)
                )
            ).all()
        }
        out = []
        for case in page:
            envelope = decode_json(IntakeEnvelope, case.envelope.encode())
            wrap = wraps.get(case.case_id)
            mine = (KeyWrap(recipient=wrap.recipient, sealed=wrap.sealed),) if wrap is not None else ()
            current = await headers.case_header(session, case, envelope)
            switched = await headers.switched_wire(session, current.switched) if current.switched is not None else None
            count, last = counts.get(case.case_id, (0, 0))
            out.append(
                {
                    "case_id": b64u_encode(case.case_id),
                    "state": case.state,
                    "day": case.day,
                    "epoch": case.epoch,
                    "envelope": to_wire(replace(envelope, wraps=mine)),
                    "switched": switched,
                    "decisions": await decisions_of(session, case.case_id),
                    "messages": {"count": count, "last_seq": last},
                }
            )
    return out, (page[-1].case_id if len(rows) > limit else None)
