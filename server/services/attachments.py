"""Attachments: a case's helper (through the case's reply key) registers a sealed descriptor, then uploads
the sealed chunks in order, in parts; the server stores each part in one transaction and answers how far
it got, so an interrupted upload resumes from the first chunk it lacks. It checks sizes and order only:
the chunks are secretstream messages it cannot open, and the descriptor (name, type, key) is sealed.
Council members and the case's helper read the chunks back as a stream. The helper's signed list of the case's
attachments (keys/attachments.py `AttachmentList`) is checked against the case's reply key and kept, the latest
serial only, exactly as signed; readers check it again themselves."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, insert, select, update

from keys.attachments import ATTACHMENT_ID_SIZE, DESCRIPTOR_SIZE, AttachmentList, Layout, verify_attachment_list
from keys.encoding import b64u_encode
from keys.errors import EncodingError, ProofError
from keys.hashing import digest
from keys.receipts import AttachmentReceipt, sign_attachment_receipt
from keys.wire import encode_json, to_wire
from server.errors import BadRequestError, ConflictError, NotFoundError
from server.services import audit
from server.services.cases import load_case
from server.services.context import Principal, Services
from server.storage.db import DbSession
from server.storage.models import AttachmentChunkRow, AttachmentListRow, AttachmentRow

MAX_PER_CASE = 200
MAX_PART_CHUNKS = 16  # one upload request carries at most 16 sealed chunks (16 MiB and a little)


def layout_for(padded: int, services: Services) -> Layout:
    try:
        layout = Layout(padded)
    except EncodingError as exc:
        raise BadRequestError(str(exc)) from exc
    if layout.padded > services.config.max_attachment:
        raise BadRequestError(
            f"the attachment is larger than this server accepts ({services.config.max_attachment} bytes after padding)"
        )
    return layout


def describe(row: AttachmentRow, receipt: AttachmentReceipt | None = None) -> dict[str, Any]:
    """The upload's state; once complete, with the server's signed receipt (`receipt`) the helper's device needs
    before it drops its sealed copy."""
    layout = Layout(row.padded)
    described = {
        "attachment_id": b64u_encode(row.attachment_id),
        "descriptor": b64u_encode(row.descriptor),
        "padded_size": row.padded,
        "chunks": layout.count,
        "chunk_size": layout.chunk_sealed,
        "received": row.received,
        "complete": row.complete,
        "day": row.day,
    }
    if receipt is not None:
        described["signed_receipt"] = to_wire(receipt)
    return described


async def _receipt(
    session: DbSession, services: Services, row: AttachmentRow, last: bytes | None = None
) -> AttachmentReceipt | None:
    """The signed receipt of a complete upload (`last`: its last sealed chunk, when at hand; else read back)."""
    if not row.complete:
        return None
    count = Layout(row.padded).count
    if last is None:
        query = select(AttachmentChunkRow.data).where(
            AttachmentChunkRow.attachment_id == row.attachment_id, AttachmentChunkRow.seq == count - 1
        )
        stored = (await session.execute(query)).scalar_one_or_none()
        if stored is None:
            return None  # shredded meanwhile
        last = bytes(stored)
    return sign_attachment_receipt(
        case_id=row.case_id, attachment_id=row.attachment_id, chunks=count, last_chunk=digest(last), server=services.server_keys
    )


async def _load(session: DbSession, principal: Principal, case_id: bytes, attachment_id: bytes) -> AttachmentRow:
    await load_case(session, principal, case_id)
    row = await session.get(AttachmentRow, attachment_id)
    if row is None or row.case_id != case_id:
        raise NotFoundError("no such attachment on this case")
    return row


async def create(
    services: Services, principal: Principal, case_id: bytes, attachment_id: bytes, descriptor: bytes, padded: int
) -> tuple[dict[str, Any], bool]:
    """Register an attachment; returns (its state, created). The same registration again is answered
    with the current state (so a client that lost the answer can go on); a different one is a 409."""
    principal.require("case")
    if len(attachment_id) != ATTACHMENT_ID_SIZE:
        raise BadRequestError("attachment_id: expected 16 bytes")
    if len(descriptor) != DESCRIPTOR_SIZE:
        raise BadRequestError(f"descriptor: expected {DESCRIPTOR_SIZE} bytes (a sealed attachment descriptor)")
    layout_for(padded, services)
    async with services.db.write() as session:
        await load_case(session, principal, case_id)
        existing = await session.get(AttachmentRow, attachment_id)
        if existing is not None:
            if existing.case_id != case_id or existing.descriptor != descriptor or existing.padded != padded:
                raise ConflictError("an attachment with this id exists and differs")
            return describe(existing, await _receipt(session, services, existing)), False
        count = (
            await session.execute(select(func.count()).select_from(AttachmentRow).where(AttachmentRow.case_id == case_id))
        ).scalar_one()
        if count >= MAX_PER_CASE:
            raise ConflictError(f"a case holds at most {MAX_PER_CASE} attachments")
        row = AttachmentRow(
            attachment_id=attachment_id,
            case_id=case_id,
            descriptor=descriptor,
            padded=padded,
            received=0,
            complete=False,
            day=services.today(),
        )
        session.add(row)
        await session.flush()
        await audit.append(
            session,
            day=services.today(),
            actor="helper",  # a reply key names no account
            action="attachment.started",
            obj=b64u_encode(attachment_id),
            detail={"case": b64u_encode(case_id), "padded_size": padded},
        )
        return describe(row), True


async def put_chunks(
    services: Services, principal: Principal, case_id: bytes, attachment_id: bytes, first: int, body: bytes | bytearray
) -> dict[str, Any]:
    """Store sealed chunks `first`, `first`+1, ... from one part; `first` must be the next chunk the server lacks."""
    principal.require("case")
    async with services.db.write(offload=True) as session:
        row = await _load(session, principal, case_id, attachment_id)
        layout = Layout(row.padded)
        if row.complete:
            raise ConflictError("this attachment is complete; nothing more can be added to it")
        if first != row.received:
            raise ConflictError(f"the server holds chunks 0..{row.received - 1}; continue from chunk {row.received}")
        if not body or len(body) % layout.chunk_sealed:
            raise BadRequestError(f"a part is a whole number of sealed chunks of {layout.chunk_sealed} bytes")
        count = len(body) // layout.chunk_sealed
        if count > MAX_PART_CHUNKS or first + count > layout.count:
            raise BadRequestError(f"too many chunks: the attachment has {layout.count}, a part carries at most {MAX_PART_CHUNKS}")
        view = memoryview(body)
        await session.execute(
            insert(AttachmentChunkRow),
            [
                {
                    "attachment_id": attachment_id,
                    "seq": first + i,
                    "data": view[i * layout.chunk_sealed : (i + 1) * layout.chunk_sealed],  # no copy
                }
                for i in range(count)
            ],
        )
        received = first + count
        complete = received == layout.count
        await session.execute(
            update(AttachmentRow).where(AttachmentRow.attachment_id == attachment_id).values(received=received, complete=complete)
        )
        await audit.append(
            session,
            day=services.today(),
            actor="helper",
            action="attachment.added" if complete else "attachment.part",
            obj=b64u_encode(attachment_id),
            detail={"case": b64u_encode(case_id), "chunks": [first, received]},
        )
        row.received, row.complete = received, complete
        last = bytes(view[(count - 1) * layout.chunk_sealed :]) if complete else None
        return describe(row, await _receipt(session, services, row, last))


async def status(services: Services, principal: Principal, case_id: bytes, attachment_id: bytes) -> dict[str, Any]:
    async with services.db.read() as session:
        row = await _load(session, principal, case_id, attachment_id)
        return describe(row, await _receipt(session, services, row))


async def list_for_case(services: Services, principal: Principal, case_id: bytes) -> tuple[list[dict[str, Any]], Any]:
    """The case's attachments, and the latest list of them its helper signed (None if there is none)."""
    async with services.db.read() as session:
        await load_case(session, principal, case_id)
        rows = (
            (await session.execute(select(AttachmentRow).where(AttachmentRow.case_id == case_id).order_by(AttachmentRow.day)))
            .scalars()
            .all()
        )
        listing = await session.get(AttachmentListRow, case_id)
    return [describe(r) for r in rows], (json.loads(listing.body) if listing is not None else None)


async def put_list(services: Services, principal: Principal, case_id: bytes, listing: AttachmentList) -> dict[str, Any]:
    """Keep the helper's signed list if it is later than the one held (the same one again is fine, an earlier
    one is ignored: the answer names the serial held). Only the case's helper posts it; it must be signed with
    the case's reply key."""
    principal.require("case")
    if listing.case_id != case_id:
        raise BadRequestError("the attachment list is for another case")
    body = encode_json(listing).decode()
    async with services.db.write() as session:
        case = await load_case(session, principal, case_id)
        try:
            verify_attachment_list(listing, case_id=case_id, reply_sign_key=case.reply_sign_key)
        except ProofError as exc:
            raise BadRequestError(f"attachment list rejected: {exc}") from exc
        held = await session.get(AttachmentListRow, case_id)
        if held is None:
            session.add(AttachmentListRow(case_id=case_id, serial=listing.serial, body=body))
        elif listing.serial > held.serial:
            held.serial, held.body = listing.serial, body
        elif listing.serial == held.serial and held.body != body:
            raise ConflictError(f"an attachment list with serial {listing.serial} exists and differs")
        else:
            return {"serial": held.serial}
        await audit.append(
            session,
            day=services.today(),
            actor="helper",  # a reply key names no account
            action="case.attachments_listed",
            obj=b64u_encode(case_id),
            detail={"serial": listing.serial, "count": len(listing.attachment_ids)},
        )
    return {"serial": listing.serial}


async def open_download(
    services: Services, principal: Principal, case_id: bytes, attachment_id: bytes, first: int
) -> tuple[Layout, int]:
    """Check a download may start at chunk `first`; returns the layout and the number of chunks to send."""
    async with services.db.read() as session:
        row = await _load(session, principal, case_id, attachment_id)
    if not row.complete:
        raise ConflictError(f"the upload is not finished ({row.received} of {Layout(row.padded).count} chunks)")
    layout = Layout(row.padded)
    if not 0 <= first < layout.count:
        raise BadRequestError(f"from: expected a chunk number from 0 to {layout.count - 1}")
    return layout, layout.count - first


async def chunks(services: Services, attachment_id: bytes, first: int, count: int) -> AsyncIterator[bytes]:
    """The stored chunks, one short read each (no transaction stays open while the client reads)."""
    query = select(AttachmentChunkRow.data).where(AttachmentChunkRow.attachment_id == attachment_id)
    for seq in range(first, first + count):
        async with services.db.read() as session:
            data = (await session.execute(query.where(AttachmentChunkRow.seq == seq))).scalar_one_or_none()
        if data is None:  # shredded while being read
            raise NotFoundError("the attachment was deleted while it was being read")
        yield bytes(data)
