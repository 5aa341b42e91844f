"""The last step both ceremonies share (the DKG and the membership change): members sign the new epoch
record's directory entry through the mailbox, each for the position it saw (the next sequence number and the
head before it: protocol doc §7), and once enough have signed for the directory's current next position, the
server appends it. A member whose signature is for an older position signs again at its next step.
The rule for "enough" is the caller's; the checks and the publishing are here."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select

from keys.accounts import verify_signature
from keys.council import EpochRecord, EpochSignature
from keys.directory import entry_message, payload_for
from keys.encoding import b64u_decode, canonical_json
from keys.hashing import TAG_LOG_SIG
from keys.wire import from_wire
from server.errors import BadRequestError
from server.services import audit
from server.services.context import Services
from server.services.directory import append_entry
from server.storage.models import CeremonyMessageRow, CeremonyRow, WrapRow


def _position(body: Any) -> tuple[int, bytes, int]:
    seq, prev, day = body.get("seq"), body.get("prev"), body.get("day")
    if not isinstance(seq, int) or not isinstance(prev, str) or not isinstance(day, int):
        raise BadRequestError("an epoch signature names the directory position it was made for (seq, prev, day)")
    return seq, b64u_decode(prev, length=32, what="prev"), day


def check_signature(sid: bytes, signer: bytes, body: Any) -> tuple[EpochRecord, EpochSignature]:
    """The record must come from this ceremony and carry a valid signature by `signer` for the position it
    names; raises TesseraError (bad shape or signature) or BadRequestError."""
    if not isinstance(body, dict):
        raise BadRequestError("an epoch signature is an object")
    record = from_wire(EpochRecord, body.get("record"))
    signature = from_wire(EpochSignature, body.get("signature"))
    if record.origin != sid or signature.signer != signer:
        raise BadRequestError("the epoch record is not from this ceremony, or not signed by you")
    seq, prev, day = _position(body)
    payload = canonical_json(payload_for("council-epoch", record=record))
    message = entry_message("council-epoch", payload, seq=seq, prev=prev, day=day)
    verify_signature(signature.signer, TAG_LOG_SIG, message, signature.signature)
    return record, signature


async def signed_records(
    session: Any, ceremony_id: bytes, seq: int, prev: bytes, today: int
) -> list[tuple[EpochRecord, list[EpochSignature], tuple[int, bytes, int]]]:
    """Every distinct record signed in this ceremony for the directory's next position (seq, prev), dated within
    a day of `today`, with its signatures (checked when posted) and the position they signed (with their day)."""
    query = select(CeremonyMessageRow).where(
        CeremonyMessageRow.ceremony_id == ceremony_id, CeremonyMessageRow.kind == "epoch-signature"
    )
    groups: dict[tuple[bytes, int], tuple[EpochRecord, list[EpochSignature], tuple[int, bytes, int]]] = {}
    for m in (await session.execute(query)).scalars().all():
        body = json.loads(m.body)
        at = _position(body)
        if at[:2] != (seq, prev) or abs(at[2] - today) > 1:
            continue
        record = from_wire(EpochRecord, body["record"])
        group = groups.setdefault((record.digest(), at[2]), (record, [], at))
        group[1].append(from_wire(EpochSignature, body["signature"]))
    return list(groups.values())


async def publish(
    services: Services,
    session: Any,
    row: CeremonyRow,
    record: EpochRecord,
    signatures: list[EpochSignature],
    at: tuple[int, bytes, int],
    detail: dict[str, Any] | None = None,
) -> None:
    """Append the record to the key directory (which checks the signing rule again), delete the case-key
    wraps of members who are not in it (a membership change or a re-key; none before the first council),
    close the ceremony, delete its mailbox and audit it. The caller empties the WAL after the commit."""
    staying = [m.box_key for m in record.members]
    removed = await session.execute(delete(WrapRow).where(WrapRow.recipient.not_in(staying)))
    entry, _ = await append_entry(
        session,
        kind="council-epoch",
        payload=payload_for("council-epoch", record=record),
        day=services.today(),
        signatures=signatures,
        at=at,
    )
    row.state = "done"
    # the mailbox goes with the ceremony: its share boxes would open for whoever later holds a member's key
    await session.execute(delete(CeremonyMessageRow).where(CeremonyMessageRow.ceremony_id == row.ceremony_id))
    await audit.append(
        session,
        day=services.today(),
        actor="council",
        action="council.epoch",
        obj=f"epoch {record.epoch}",
        detail={
            "directory_seq": entry.seq,
            "threshold": record.threshold,
            "members": len(record.members),
            "wraps_deleted": removed.rowcount,
            **(detail or {}),
        },
    )
