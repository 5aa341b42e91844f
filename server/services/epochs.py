"""The last step both ceremonies share (the DKG and the membership change): members sign the new epoch
record through the mailbox, and once enough have signed, the server appends it to the key directory.
The rule for "enough" is the caller's; the checks and the publishing are here."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select

from keys.accounts import verify_signature
from keys.council import EpochRecord, EpochSignature
from keys.directory import payload_for, payload_message
from keys.encoding import canonical_json
from keys.hashing import TAG_LOG_SIG
from keys.wire import from_wire
from server.errors import BadRequestError
from server.services import audit
from server.services.context import Services
from server.services.directory import append_entry
from server.storage.models import CeremonyMessageRow, CeremonyRow, WrapRow


def check_signature(sid: bytes, signer: bytes, body: Any) -> tuple[EpochRecord, EpochSignature]:
    """The record must come from this ceremony and carry a valid signature by `signer`; raises
    TesseraError (bad shape or signature) or BadRequestError."""
    record = from_wire(EpochRecord, body.get("record") if isinstance(body, dict) else None)
    signature = from_wire(EpochSignature, body.get("signature"))
    if record.origin != sid or signature.signer != signer:
        raise BadRequestError("the epoch record is not from this ceremony, or not signed by you")
    message = payload_message("council-epoch", canonical_json(payload_for("council-epoch", record=record)))
    verify_signature(signature.signer, TAG_LOG_SIG, message, signature.signature)
    return record, signature


async def signed_records(session: Any, ceremony_id: bytes) -> list[tuple[EpochRecord, list[EpochSignature]]]:
    """Every distinct record signed in this ceremony, with its signatures (checked when posted)."""
    query = select(CeremonyMessageRow).where(
        CeremonyMessageRow.ceremony_id == ceremony_id, CeremonyMessageRow.kind == "epoch-signature"
    )
    by_record: dict[bytes, tuple[EpochRecord, list[EpochSignature]]] = {}
    for m in (await session.execute(query)).scalars().all():
        body = json.loads(m.body)
        record = from_wire(EpochRecord, body["record"])
        by_record.setdefault(record.digest(), (record, []))[1].append(from_wire(EpochSignature, body["signature"]))
    return list(by_record.values())


async def publish(
    services: Services,
    session: Any,
    row: CeremonyRow,
    record: EpochRecord,
    signatures: list[EpochSignature],
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
