"""Reveal requests and approvals. The server checks and logs; it can never combine partials (blinded)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope
from keys.errors import TesseraError
from keys.reveal import PartialDecryption, RevealRequest, check_request, prepare_request, verify_partial
from keys.wire import decode_json, encode_json
from server.errors import BadRequestError, ConflictError, NotFoundError
from server.services import audit, headers
from server.services.cases import council_record, decode_json_obj, member_index
from server.services.context import DAY, Principal, Services
from server.storage.models import CaseRow, PartialRow, RevealRow

MAX_EXPIRY = 30 * DAY


async def file_request(services: Services, principal: Principal, request: RevealRequest) -> None:
    principal.require("council")
    now = services.now()
    if request.requester != principal.sign_key:
        raise BadRequestError("a reveal request must be signed with your own key")
    if request.expiry > now + MAX_EXPIRY:
        raise BadRequestError("a reveal request may be valid for at most 30 days")
    async with services.db.read() as session:
        record = await council_record(services, session)
        member_index(record, principal)
        case = await session.get(CaseRow, request.case_id)
        if case is None:
            raise NotFoundError("no such case")
        current = await headers.case_header(session, case, decode_json(IntakeEnvelope, case.envelope.encode()))
        if (await headers.attestation_record(services, session, current.epoch)).kid != record.kid:
            raise ConflictError(
                "this case's identity is still sealed to the previous council key: the council re-key must switch it "
                "first (`tessera council rekey status`)"
            )
        header = current.header
    try:
        check_request(request, record=record, header=header, now=now)
    except TesseraError as exc:
        raise BadRequestError(f"reveal request rejected: {exc}") from exc
    async with services.db.write() as session:
        if await session.get(RevealRow, request.request_id) is not None:
            raise ConflictError("a request with this id exists")
        session.add(
            RevealRow(
                request_id=request.request_id,
                case_id=request.case_id,
                requester=principal.name,
                expiry=request.expiry,
                day=services.today(),
                body=encode_json(request).decode(),
            )
        )
        await audit.append(
            session,
            day=services.today(),
            actor=principal.name,
            action="reveal.requested",
            obj=b64u_encode(request.case_id),
            detail={"request_id": b64u_encode(request.request_id)},
        )


async def pending(services: Services, principal: Principal) -> list[dict[str, Any]]:
    """Unexpired requests of the current epoch this member has not approved yet."""
    principal.require("council")
    now = services.now()
    async with services.db.read() as session:
        record = await council_record(services, session)
        index = member_index(record, principal)
        rows = (
            (await session.execute(select(RevealRow).where(RevealRow.expiry > now).order_by(RevealRow.request_id)))
            .scalars()
            .all()
        )
        out = []
        for row in rows:
            request = decode_json(RevealRequest, row.body.encode())
            if request.epoch != record.epoch:
                continue
            done = await session.get(PartialRow, (row.request_id, index))
            count = len(
                (await session.execute(select(PartialRow.member_index).where(PartialRow.request_id == row.request_id))).all()
            )
            if done is None:
                out.append(
                    {
                        "request": decode_json_obj(row.body),  # served as stored, not encoded again
                        "requester": row.requester,
                        "approvals": count,
                        "threshold": record.threshold,
                    }
                )
    return out


async def get_request(services: Services, principal: Principal, request_id: bytes) -> dict[str, Any]:
    """The request and its partials: for the requester only (the partials are useless to anyone else)."""
    principal.require("council")
    async with services.db.read() as session:
        row = await session.get(RevealRow, request_id)
        if row is None or row.requester != principal.name:
            raise NotFoundError("no such request")
        partials = (
            (
                await session.execute(
                    select(PartialRow).where(PartialRow.request_id == request_id).order_by(PartialRow.member_index)
                )
            )
            .scalars()
            .all()
        )
        record = await council_record(services, session)
    return {
        "request": decode_json_obj(row.body),  # what was signed, as stored
        "threshold": record.threshold,
        "partials": [decode_json_obj(p.body) for p in partials],
    }


async def post_partial(services: Services, principal: Principal, request_id: bytes, partial: PartialDecryption) -> int:
    """Verify a member's partial on arrival; a bad one is refused and its author named in the audit log."""
    principal.require("council")
    if partial.request_id != request_id:
        raise BadRequestError("the partial is for another request")
    async with services.db.read() as session:
        record = await council_record(services, session)
        index = member_index(record, principal)
        row = await session.get(RevealRow, request_id)
        if row is None:
            raise NotFoundError("no such request")
        request = decode_json(RevealRequest, row.body.encode())
    if partial.index != index:
        raise BadRequestError("the partial must carry your own member index")
    if request.expiry <= services.now() or request.epoch != record.epoch:
        raise ConflictError("this request has expired or belongs to an earlier council epoch")
    try:
        verify_partial(prepare_request(request, record), partial)
    except TesseraError as exc:
        async with services.db.write() as session:
            await audit.append(
                session,
                day=services.today(),
                actor=principal.name,
                action="reveal.partial_rejected",
                obj=b64u_encode(request.case_id),
                detail={"request_id": b64u_encode(request_id), "reason": str(exc)},
            )
        raise BadRequestError(f"partial decryption rejected: {exc}") from exc
    async with services.db.write() as session:
        existing = await session.get(PartialRow, (request_id, index))
        if existing is not None:
            if existing.body != encode_json(partial).decode():
                raise ConflictError("you approved this request already")
        else:
            session.add(
                PartialRow(request_id=request_id, member_index=index, account=principal.name, body=encode_json(partial).decode())
            )
            await session.flush()  # the count below includes this approval (it said "0 of 2" after the first)
            await audit.append(
                session,
                day=services.today(),
                actor=principal.name,
                action="reveal.approved",
                obj=b64u_encode(request.case_id),
                detail={"request_id": b64u_encode(request_id)},
            )
        count = len((await session.execute(select(PartialRow.member_index).where(PartialRow.request_id == request_id))).all())
    return count
