"""The hash-chained audit log: every state change appends an entry in the same transaction.

`h_n = KDF32(audit; h_{n−1}, u64 seq, u64 day, actor, action, object, detail)`. Entries carry a day, never
an exact time. An intake's entry names no account (no helper-to-case link): its actor is the role.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from keys.audit import GENESIS, entry_hash
from keys.encoding import b64u_encode, canonical_json
from server.storage import queries
from server.storage.db import DbSession, append_link, read_chain
from server.storage.models import AuditRow


class AuditChainError(Exception):
    """The audit log does not verify: an entry was altered, removed or inserted."""


async def append(
    session: DbSession, *, day: int, actor: str, action: str, obj: str = "", detail: Mapping[str, Any] | None = None
) -> None:
    """Append one entry in the caller's write transaction (Database.write): it commits with the change it
    records, or not at all. On PostgreSQL it takes its place in the chain when the group commit carrying it
    commits (storage/pg.py); on SQLite at once."""
    text = canonical_json(dict(detail or {})).decode()

    def link(previous: bytes, seq: int) -> bytes:
        return entry_hash(previous, seq, day, actor, action, obj, text)

    row = {"day": day, "actor": actor, "action": action, "object": obj, "detail": text}
    await append_link(session, "audit", queries.AUDIT_INSERT, row, link)


def row_json(row: AuditRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "hash": b64u_encode(row.hash),
        "day": row.day,
        "actor": row.actor,
        "action": row.action,
        "object": row.object,
        "detail": json.loads(row.detail),
    }


async def entries_after(session: DbSession, after: int, limit: int) -> Sequence[AuditRow]:
    query = select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq).limit(limit)
    return (await session.execute(query)).scalars().all()


def verify_rows(rows: Sequence[AuditRow], prev: bytes = GENESIS, start: int = 0) -> bytes:
    """Recompute the chain over consecutive rows; returns the last hash. Raises AuditChainError."""
    for row in rows:
        if row.seq != start + 1:
            raise AuditChainError(f"audit entry {start + 1} is missing")
        expected = entry_hash(prev, row.seq, row.day, row.actor, row.action, row.object, row.detail)
        if not hmac.compare_digest(expected, row.hash):
            raise AuditChainError(f"audit entry {row.seq} was altered")
        prev, start = row.hash, row.seq
    return prev


async def verify_chain(session: DbSession, batch: int = 5000) -> int:
    """Verify the whole audit log against its stored head; returns the number of entries verified.

    The head is read first and the log verified up to it: an entry is committed with the head that points at
    it, so those entries are all there to read, however many are appended meanwhile (other server processes
    keep writing while one starts; reading the log first and the head last saw a head that had moved on and
    refused to start). Entries past the head are checked against the head read again; past a head that did
    not move, they were added. Raises AuditChainError."""
    prev, seq = GENESIS, 0
    last = -1
    while True:
        head = await read_chain(session, "audit")
        if head.seq < seq or head.seq == last:
            raise AuditChainError("the audit head does not match the log (entries were removed or added)")
        while seq < head.seq:
            query = (
                select(AuditRow)
                .where(AuditRow.seq > seq, AuditRow.seq <= head.seq)
                .order_by(AuditRow.seq)
                .limit(batch)
            )
            rows = (await session.execute(query)).scalars().all()
            if not rows:
                raise AuditChainError(f"audit entry {seq + 1} is missing")
            prev = verify_rows(rows, prev, seq)
            seq = rows[-1].seq
        if not hmac.compare_digest(head.head, prev):
            raise AuditChainError("the audit head does not match the log (entries were removed or added)")
        if not await entries_after(session, seq, 1):
            return seq
        last = head.seq  # entries past this head: appended since it was read, or added
