"""A case's identity header as it stands: the helper's original inside the envelope, or, after a re-key,
the latest switched header k members attested (rekey.py makes those). Reveals, case reads and the next
re-key all ask here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from keys.attestation import HeaderAttestation
from keys.council import EpochRecord, EpochSignature
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope
from keys.kem import IdentityHeader
from keys.keyswitch import SwitchedHeader
from keys.wire import from_wire, to_wire
from server.errors import ConflictError
from server.services.context import Services
from server.storage.db import DbSession
from server.storage.models import CaseRow, HeaderAttestationRow, SwitchedHeaderRow


@dataclass(frozen=True, slots=True)
class CaseHeader:
    """A case's identity header as it stands: the helper's original, or an attested switched one."""

    header: IdentityHeader | SwitchedHeader
    epoch: int  # the council epoch whose key it is sealed to (the attestation's epoch for a switched one)
    switched: SwitchedHeaderRow | None


async def attestation_record(services: Services, session: DbSession, epoch: int) -> EpochRecord:
    record = (await services.directory.state(session)).council_at(epoch)
    if record is None:
        raise ConflictError(f"the key directory holds no council epoch {epoch}")
    return record


async def _attested_rows(session: DbSession, ids: list[bytes]) -> dict[bytes, SwitchedHeaderRow]:
    """The latest attested switched header of each of these cases that has one."""
    attested: dict[bytes, SwitchedHeaderRow] = {}
    if ids:
        query = select(SwitchedHeaderRow).where(SwitchedHeaderRow.case_id.in_(ids), SwitchedHeaderRow.attestation.is_not(None))
        for row in (await session.execute(query)).scalars().all():
            if row.case_id not in attested or row.epoch > attested[row.case_id].epoch:
                attested[row.case_id] = row
    return attested


async def case_header(session: DbSession, case: CaseRow, envelope: IntakeEnvelope) -> CaseHeader:
    """The header a reveal (or the next re-key) works on."""
    row = (await _attested_rows(session, [case.case_id])).get(case.case_id)
    if row is not None:
        return CaseHeader(switched(row), row.epoch, row)
    if envelope.header is None:  # pragma: no cover - the attested row is deleted only with the case
        raise ConflictError("this case has lost its identity header")
    return CaseHeader(envelope.header, case.epoch, None)


async def current_headers(session: DbSession, cases: Sequence[Any]) -> dict[bytes, tuple[IdentityHeader | SwitchedHeader, Any]]:
    """case_header for a page of cases (rows with case_id and envelope) in three queries; with each header,
    its wire form (`{"header": ...}` or `{"switched": ...}`)."""
    attested = await _attested_rows(session, [c.case_id for c in cases])
    seqs = list({row.attestation for row in attested.values()})
    attestations = {}
    if seqs:
        found = select(HeaderAttestationRow).where(HeaderAttestationRow.seq.in_(seqs))
        attestations = {a.seq: to_wire(_attestation(a)) for a in (await session.execute(found)).scalars().all()}
    out: dict[bytes, tuple[IdentityHeader | SwitchedHeader, Any]] = {}
    for case in cases:
        row = attested.get(case.case_id)
        if row is not None:
            out[case.case_id] = (switched(row), {"switched": _switched_wire(row, attestations[row.attestation])})
            continue
        wire = json.loads(case.envelope)["header"]  # only the header: the rest of the envelope is not needed here
        if wire is None:  # pragma: no cover - the attested row is deleted only with the case
            raise ConflictError("a case has lost its identity header")
        out[case.case_id] = (from_wire(IdentityHeader, wire), {"header": wire})
    return out


def switched(row: SwitchedHeaderRow) -> SwitchedHeader:
    return SwitchedHeader(r=row.r, c=row.c, wrap=row.wrap, origin=row.origin)


async def switched_wire(session: DbSession, row: SwitchedHeaderRow) -> dict[str, Any]:
    """An attested switched header as the API serves it: header, attestation, leaf index and path."""
    attestation = await session.get(HeaderAttestationRow, row.attestation)
    assert attestation is not None  # set in the attesting transaction
    return _switched_wire(row, to_wire(_attestation(attestation)))


def _switched_wire(row: SwitchedHeaderRow, attestation: dict[str, Any]) -> dict[str, Any]:
    assert row.path is not None  # set with the attestation
    return {
        "header": to_wire(switched(row)),
        "attestation": attestation,
        "leaf_index": row.leaf_index,
        "path": [b64u_encode(row.path[i : i + 32]) for i in range(0, len(row.path), 32)],
    }


def _attestation(row: HeaderAttestationRow) -> HeaderAttestation:
    signatures = tuple(from_wire(EpochSignature, s) for s in json.loads(row.signatures))
    return HeaderAttestation(v=1, epoch=row.epoch, root=row.root, size=row.size, signatures=signatures)
