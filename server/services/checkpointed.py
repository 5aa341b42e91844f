"""The two hash chains as the server serves them: a page of entries with its checkpoint, signed with the server
key and naming the last entry of the page (or the head when the page is empty), so that a write landing in between
cannot make the entries and the checkpoint disagree. The key directory also carries the witnesses' cosignatures
up to that entry."""

from __future__ import annotations

from typing import Any

from keys.checkpoints import sign_checkpoint
from keys.wire import to_wire
from server.services import audit, witnesses
from server.services.context import Principal, Services
from server.services.directory import load_entries
from server.storage.db import read_chain

AUDIT_PAGE = 1000
AUDIT_PAGE_MAX = 5000


async def directory(services: Services, after: int) -> dict[str, Any]:
    """Key-directory entries after `after` (-1: from the first) with the checkpoint and cosignatures."""
    async with services.db.read() as session:
        entries = await load_entries(session, after)
        head = await read_chain(session, "directory")
        cosignatures = await witnesses.latest(session)
    seq, digest = (entries[-1].seq, entries[-1].hash()) if entries else (head.seq, head.head)
    checkpoint = sign_checkpoint(seq, digest, services.today(), services.server_keys)
    return {
        "entries": [to_wire(e) for e in entries],
        "checkpoint": to_wire(checkpoint),
        "cosignatures": [to_wire(c) for c in cosignatures if c.seq <= seq],
    }


async def audit_page(services: Services, principal: Principal, after: int, limit: int) -> dict[str, Any]:
    """Audit entries after `after`, at most `limit` (1..AUDIT_PAGE_MAX), with the checkpoint; for administrators and
    council members."""
    principal.require("admin", "council")
    limit = max(1, min(limit, AUDIT_PAGE_MAX))
    async with services.db.read() as session:
        rows = await audit.entries_after(session, after, limit)
        head = await read_chain(session, "audit")
    seq, digest = (rows[-1].seq, rows[-1].hash) if rows else (head.seq, head.head)
    checkpoint = sign_checkpoint(seq, digest, services.today(), services.server_keys, chain="audit")
    return {"entries": [audit.row_json(r) for r in rows], "checkpoint": to_wire(checkpoint)}
