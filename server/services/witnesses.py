"""Council members' cosignatures of the key directory (witnesses, protocol doc §7): the server keeps each
member's latest and serves them with the directory. It checks what it can (the signer is the calling council
member, the head is in its chain, the time is whole hours and not in the future); readers check again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from keys.wire import decode_json, encode_json
from keys.witness import CLOCK_SKEW, Cosignature, witness_of
from server.errors import BadRequestError, ForbiddenError
from server.services import audit
from server.services.context import Principal, Services
from server.storage.models import CosignatureRow

HOUR = 3600


async def cosign(services: Services, principal: Principal, cosignature: Cosignature) -> None:
    principal.require("council")
    async with services.db.write() as session:
        state = await services.directory.state(session)
        if cosignature.signer != principal.sign_key or witness_of(state, cosignature) != principal.name:
            raise ForbiddenError("only a member of the current council cosigns the key directory, with its own key")
        if state.head_at(cosignature.seq) != cosignature.head:
            raise BadRequestError("this head is not in the key directory: your device saw another history")
        if cosignature.time % HOUR or cosignature.time > services.now() + CLOCK_SKEW:
            raise BadRequestError("a cosignature's time is a whole hour, not in the future")
        row = await session.get(CosignatureRow, principal.name)
        if row is not None and row.time > cosignature.time:
            return  # an older one arriving late changes nothing
        if row is None:
            session.add(CosignatureRow(account=principal.name, time=cosignature.time, body=encode_json(cosignature).decode()))
        else:
            row.time, row.body = cosignature.time, encode_json(cosignature).decode()
        await audit.append(
            session, day=services.today(), actor=principal.name, action="directory.cosigned", detail={"seq": cosignature.seq}
        )


async def latest(session: Any) -> list[Cosignature]:
    rows = (await session.execute(select(CosignatureRow).order_by(CosignatureRow.account))).scalars().all()
    return [decode_json(Cosignature, r.body.encode()) for r in rows]
