"""Case threads: `case` (council and the case's helper, through the reply key) and `council` (members only).
The server checks that a message is sealed to exactly the readers its thread has."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from keys.encoding import b64u_encode
from keys.messages import SealedMessage
from keys.wire import decode_json, encode_json, to_wire
from server.errors import BadRequestError, ConflictError, ForbiddenError
from server.services import audit
from server.services.cases import council_record, load_case
from server.services.context import Principal, Services
from server.storage.models import MessageRow


async def post_message(services: Services, principal: Principal, case_id: bytes, message: SealedMessage) -> int:
    if message.case_id != case_id:
        raise BadRequestError("the message is for another case")
    if principal.role == "case" and message.thread != "case":
        raise ForbiddenError("a helper writes on the case thread only")
    async with services.db.write() as session:
        case = await load_case(session, principal, case_id)
        record = await council_record(services, session)
        readers = {m.box_key for m in record.members}
        if message.thread == "case":
            readers.add(case.reply_box_key)
        if {w.recipient for w in message.wraps} != readers:
            raise BadRequestError(
                f"a {message.thread}-thread message must be sealed to exactly its readers: the current council"
                + (" and the case's reply key" if message.thread == "case" else "")
            )
        if (await session.execute(select(MessageRow.seq).where(MessageRow.message_id == message.message_id))).first():
            raise ConflictError("a message with this id exists")
        row = MessageRow(
            message_id=message.message_id,
            case_id=case_id,
            thread=message.thread,
            day=services.today(),
            body=encode_json(message).decode(),
        )
        session.add(row)
        await session.flush()
        actor = principal.name if principal.role != "case" else "helper"  # a reply key names no account
        await audit.append(
            session,
            day=services.today(),
            actor=actor,
            action="message.posted",
            obj=b64u_encode(case_id),
            detail={"thread": message.thread},
        )
        return row.seq


async def list_messages(services: Services, principal: Principal, case_id: bytes, after: int) -> list[dict[str, Any]]:
    async with services.db.read() as session:
        await load_case(session, principal, case_id)
        query = select(MessageRow).where(MessageRow.case_id == case_id, MessageRow.seq > after).order_by(MessageRow.seq)
        if principal.role == "case":
            query = query.where(MessageRow.thread == "case")
        rows = (await session.execute(query)).scalars().all()
    return [{"seq": r.seq, "day": r.day, "message": to_wire(decode_json(SealedMessage, r.body.encode()))} for r in rows]
