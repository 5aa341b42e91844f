"""A full council re-key (issue 5 item 4; protocol doc §2.9). A DKG made a new council key Y2 (epoch f);
every identity header still sealed to the old key Y must now be switched to Y2 without anyone learning it:

1. each of k members of the old council posts, in batches, a key-switch contribution for every case; the
   server verifies each proof on arrival (a bad one refuses the batch) and, once a case has k of them,
   combines them into the switched header (R2, C2) - it learns nothing doing so (the U_i are masked);
2. members of the new council fetch the switched headers with the contributions, check every proof and the
   combination themselves, and sign the Merkle root over all of them; once k agree on the root the server
   stores the attestation, gives each case its inclusion path, and deletes the original headers and the
   contributions in the same transaction.

Both steps resume where they stopped: the server lists only what the caller has not done yet. While the
switch runs, new intakes are sealed to Y2 and the cases still under Y cannot be revealed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update

from keys.attestation import MerkleTree, verify_attestation_signature
from keys.council import EpochRecord, EpochSignature
from keys.encoding import b64u_encode, canonical_json
from keys.errors import TesseraError
from keys.group import Point
from keys.kem import IdentityHeader
from keys.keyswitch import SwitchContribution, SwitchedHeader, combine_verified, switch_context, verify_contribution
from keys.wire import to_wire
from server.errors import BadRequestError, ConflictError, ForbiddenError
from server.services import audit
from server.services.context import Principal, Services
from server.services.headers import current_headers
from server.services.headers import switched as switched_header  # the name `switched` is a local here
from server.storage.db import DbSession, in_thread
from server.storage.models import (
    AttestationSignatureRow,
    CaseRow,
    HeaderAttestationRow,
    RekeyRow,
    SwitchContributionRow,
    SwitchedHeaderRow,
)

MAX_BATCH = 500
RUNNING = "switching"


@dataclass(frozen=True, slots=True)
class Job:
    row: RekeyRow
    old: EpochRecord
    new: EpochRecord
    swctx: bytes


async def start(services: Services, session: DbSession, old: EpochRecord, new: EpochRecord) -> int:
    """Called when a DKG replaced the council key: open the switch of every case sealed before. Returns
    how many cases must be switched (none: nothing to do, the re-key is complete at once)."""
    count = (await session.execute(select(func.count()).select_from(CaseRow).where(CaseRow.epoch < new.epoch))).scalar_one()
    state = RUNNING if count else "done"
    session.add(RekeyRow(new_epoch=new.epoch, old_epoch=old.epoch, state=state, day=services.today()))
    return int(count)


async def running(session: DbSession) -> RekeyRow | None:
    query = select(RekeyRow).where(RekeyRow.state == RUNNING)
    return (await session.execute(query)).scalars().first()


async def refuse_if_running(session: DbSession) -> None:
    if await running(session) is not None:
        raise ConflictError(
            "a council re-key is switching the identity headers; finish it first (`tessera council rekey status`)"
        )


async def _job(services: Services, session: DbSession, *, lock: bool = False) -> Job:
    query = select(RekeyRow).where(RekeyRow.state == RUNNING)
    row = (await session.execute(query.with_for_update() if lock else query)).scalars().first()
    if row is None:
        raise ConflictError("no council re-key is running")
    state = await services.directory.state(session)
    old = state.earlier_councils.get(row.old_epoch)
    new = state.council
    if old is None or new is None or new.epoch != row.new_epoch:
        raise ConflictError("the key directory does not hold the councils of this re-key")
    return Job(row, old, new, switch_context(old, new))


async def status(services: Services, principal: Principal) -> dict[str, Any]:
    principal.require("admin", "council")
    async with services.db.read() as session:
        row = (await session.execute(select(RekeyRow).order_by(RekeyRow.new_epoch.desc()))).scalars().first()
        if row is None:
            return {"state": "none"}
        out: dict[str, Any] = {"state": row.state, "old_epoch": row.old_epoch, "new_epoch": row.new_epoch, "day": row.day}
        if row.state != RUNNING:
            # a finished re-key names its attestation, which an old member verifies before erasing its share
            attested = (
                (await session.execute(select(HeaderAttestationRow).where(HeaderAttestationRow.epoch == row.new_epoch)))
                .scalars()
                .first()
            )
            if attested is not None:
                out["attestation"] = {
                    "v": 1,
                    "epoch": attested.epoch,
                    "root": b64u_encode(attested.root),
                    "size": attested.size,
                    "signatures": json.loads(attested.signatures),
                }
            return out
        total = await _count(session, select(CaseRow.case_id).where(CaseRow.epoch < row.new_epoch))
        switched = await _count(session, select(SwitchedHeaderRow.case_id).where(SwitchedHeaderRow.epoch == row.new_epoch))
        query = select(SwitchContributionRow.member, func.count()).group_by(SwitchContributionRow.member)
        per_member: list[Any] = list((await session.execute(query)).all())
        signed = (
            (await session.execute(select(AttestationSignatureRow).where(AttestationSignatureRow.epoch == row.new_epoch)))
            .scalars()
            .all()
        )
        new = (await services.directory.state(session)).council
    names = {m.sign_key: m.account for m in new.members} if new is not None else {}
    out.update(
        cases=total,
        switched=switched,
        remaining=total - switched,
        contributions={str(r[0]): int(r[1]) for r in per_member},
        attested_by=sorted(names.get(s.signer, "?") for s in signed),
    )
    return out


async def _count(session: DbSession, query: Any) -> int:
    return int((await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one())


def _old_index(job: Job, principal: Principal) -> int:
    member = job.old.member_by_sign_key(principal.sign_key)
    if member is None or member.account != principal.name:
        raise ForbiddenError(f"you are not a member of the old council (epoch {job.old.epoch}) with this device")
    return member.index


def _pending_for(job: Job) -> Any:
    """Cases sealed before the new key that have no switched header under it yet."""
    done = select(SwitchedHeaderRow.case_id).where(SwitchedHeaderRow.epoch == job.row.new_epoch)
    return select(CaseRow).where(CaseRow.epoch < job.row.new_epoch, CaseRow.case_id.not_in(done))


async def headers_to_switch(services: Services, principal: Principal, *, after: bytes | None, limit: int) -> dict[str, Any]:
    """The next cases this old member has not contributed to, with their current headers."""
    principal.require("council")
    limit = max(1, min(limit, MAX_BATCH))
    async with services.db.read() as session:
        job = await _job(services, session)
        index = _old_index(job, principal)
        mine = select(SwitchContributionRow.case_id).where(SwitchContributionRow.member == index)
        query = _pending_for(job).where(CaseRow.case_id.not_in(mine)).order_by(CaseRow.case_id).limit(limit)
        if after is not None:
            query = query.where(CaseRow.case_id > after)
        cases = (await session.execute(query)).scalars().all()
        current = await current_headers(session, cases)
        items = [{"case_id": b64u_encode(case.case_id), **current[case.case_id][1]} for case in cases]
    return {"old_epoch": job.old.epoch, "new_epoch": job.new.epoch, "index": index, "cases": items}


async def contribute(services: Services, principal: Principal, contributions: Sequence[SwitchContribution]) -> dict[str, Any]:
    """Verify and store one old member's contributions; combine every case that now has k.

    The proofs are checked, and the cases that reach k combined, in a worker thread before the write
    transaction; the transaction re-reads what another member may have added meanwhile and recombines
    only those cases."""
    principal.require("council")
    if len(contributions) > MAX_BATCH:
        raise BadRequestError(f"at most {MAX_BATCH} contributions a request")
    ids = [c.case_id for c in contributions]
    if len(set(ids)) != len(ids):
        raise BadRequestError("one contribution per case a request")
    async with services.db.read() as session:
        job = await _job(services, session)
        index = _old_index(job, principal)
        headers = await _headers(session, job, ids)
        others = await _stored(session, list(headers), but=index)
    for c in contributions:
        if c.index != index:
            raise BadRequestError("a contribution must carry your own member index")
    todo = [c for c in contributions if c.case_id in headers]
    ready = await in_thread(_verify_and_combine, job, todo, headers, others)
    async with services.db.write() as session:
        job = await _job(services, session, lock=True)
        headers = await _headers(session, job, [c.case_id for c in todo])  # what changed meanwhile (another member, a shred)
        now = await _stored(session, list(headers), but=None)
        fresh = [c for c in todo if c.case_id in headers and index not in now.get(c.case_id, {})]
        if fresh:
            rows = [{"case_id": c.case_id, "member": index, "body": c.t_point + c.u_point + c.proof} for c in fresh]
            await session.execute(insert(SwitchContributionRow), rows)
        switched = []
        for c in fresh:
            stored = {**now.get(c.case_id, {}), index: c.t_point + c.u_point}
            if stored.keys() - {index} == others.get(c.case_id, {}).keys():
                result = ready.get(c.case_id)  # computed in the thread from the same contributions
            else:
                result = _combine(job, headers[c.case_id], stored)  # another member posted meanwhile
            if result is not None:
                switched.append(_switched_row(c.case_id, job.new.epoch, result))
        if switched:
            await session.execute(insert(SwitchedHeaderRow), switched)
        await audit.append(
            session,
            day=services.today(),
            actor=principal.name,
            action="rekey.contributed",
            obj=f"epoch {job.new.epoch}",
            detail={"member": index, "cases": len(fresh), "switched": len(switched)},
        )
    return {"accepted": len(fresh), "already": len(contributions) - len(fresh), "switched": len(switched)}


async def _headers(session: DbSession, job: Job, ids: Sequence[bytes]) -> dict[bytes, IdentityHeader | SwitchedHeader]:
    """Current headers of those cases that still need switching."""
    if not ids:
        return {}
    rows = (await session.execute(_pending_for(job).where(CaseRow.case_id.in_(list(ids))))).scalars().all()
    return {case_id: header for case_id, (header, _wire) in (await current_headers(session, rows)).items()}


async def _stored(session: DbSession, ids: list[bytes], *, but: int | None) -> dict[bytes, dict[int, bytes]]:
    """Stored contributions (T_i ‖ U_i) of these cases by member, leaving out member `but`."""
    if not ids:
        return {}
    query = select(SwitchContributionRow.case_id, SwitchContributionRow.member, SwitchContributionRow.body).where(
        SwitchContributionRow.case_id.in_(ids)
    )
    out: dict[bytes, dict[int, bytes]] = {}
    rows: Any = await session.execute(query)
    for case_id, member, body in rows:
        if member != but:
            out.setdefault(case_id, {})[member] = body[:64]
    return out


def _verify_and_combine(
    job: Job,
    contributions: Sequence[SwitchContribution],
    headers: dict[bytes, IdentityHeader | SwitchedHeader],
    others: dict[bytes, dict[int, bytes]],
) -> dict[bytes, SwitchedHeader]:
    """Verify every contribution (one bad one refuses the batch); combine the cases that reach k with it."""
    ready = {}
    for c in contributions:
        header = headers[c.case_id]
        try:
            mine = verify_contribution(c, old=job.old, new=job.new, header=header, swctx=job.swctx)
        except TesseraError as exc:
            raise BadRequestError(f"case {b64u_encode(c.case_id)}: {exc}; nothing from this batch was stored") from exc
        stored = others.get(c.case_id, {})
        if len(stored) + 1 >= job.old.threshold:
            points = {member: _points(body) for member, body in stored.items()}
            ready[c.case_id] = combine_verified({**points, c.index: mine}, threshold=job.old.threshold, header=header)
    return ready


def _points(body: bytes) -> tuple[Point, Point]:
    """A stored contribution's (T_i, U_i): verified when it arrived; decoding checks the points again."""
    return Point.decode(body[:32]), Point.decode(body[32:64])


def _combine(job: Job, header: IdentityHeader | SwitchedHeader, stored: dict[int, bytes]) -> SwitchedHeader | None:
    if len(stored) < job.old.threshold:
        return None
    try:
        points = {member: _points(body) for member, body in stored.items()}
        return combine_verified(points, threshold=job.old.threshold, header=header)
    except TesseraError as exc:  # pragma: no cover - verified contributions always combine
        raise ConflictError(f"stored key-switch contributions do not combine: {exc}") from exc


def _switched_row(case_id: bytes, epoch: int, header: SwitchedHeader) -> dict[str, Any]:
    return {"case_id": case_id, "epoch": epoch, "r": header.r, "c": header.c, "wrap": header.wrap, "origin": header.origin}


async def switched_to_attest(services: Services, principal: Principal, *, after: bytes | None, limit: int) -> dict[str, Any]:
    """For a new member: the switched headers in case order, each with the header it came from and the
    contributions it was combined from, to check before signing the root."""
    principal.require("council")
    limit = max(1, min(limit, MAX_BATCH))
    async with services.db.read() as session:
        job = await _job(services, session)
        if job.new.member_by_sign_key(principal.sign_key) is None:
            raise ForbiddenError("only members of the new council attest the switched headers")
        remaining = await _count(session, _pending_for(job))
        query = (
            select(SwitchedHeaderRow, CaseRow)
            .join(CaseRow, CaseRow.case_id == SwitchedHeaderRow.case_id)
            .where(SwitchedHeaderRow.epoch == job.new.epoch)
            .order_by(SwitchedHeaderRow.case_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(SwitchedHeaderRow.case_id > after)
        pairs: list[Any] = list((await session.execute(query)).all())
        cases = [pair[1] for pair in pairs]
        current = await current_headers(session, cases)
        by_case: dict[bytes, list[SwitchContributionRow]] = {}
        if cases:
            parts = select(SwitchContributionRow).where(SwitchContributionRow.case_id.in_([c.case_id for c in cases]))
            for part in (await session.execute(parts)).scalars().all():
                by_case.setdefault(part.case_id, []).append(part)
        items = []
        for pair in pairs:
            switched, case = pair[0], pair[1]
            items.append(
                {
                    "case_id": b64u_encode(case.case_id),
                    "from": current[case.case_id][1],
                    "to": to_wire(switched_header(switched)),
                    "contributions": [to_wire(_contribution(case.case_id, row)) for row in by_case.get(case.case_id, [])],
                }
            )
    return {"old_epoch": job.old.epoch, "new_epoch": job.new.epoch, "remaining": remaining, "cases": items}


def _contribution(case_id: bytes, row: SwitchContributionRow) -> SwitchContribution:
    body = row.body
    return SwitchContribution(v=1, case_id=case_id, index=row.member, t_point=body[:32], u_point=body[32:64], proof=body[64:])


async def attest(
    services: Services, principal: Principal, *, root: bytes, size: int, signature: EpochSignature
) -> dict[str, Any]:
    """A new member's signature over the root of all switched headers. With k on the same root, the
    attestation is stored, every case gets its inclusion path and the original headers are deleted."""
    principal.require("council")
    if signature.signer != principal.sign_key:
        raise BadRequestError("sign the attestation with your own key")
    async with services.db.write() as session:
        job = await _job(services, session, lock=True)
        if job.new.member_by_sign_key(principal.sign_key) is None:
            raise ForbiddenError("only members of the new council attest the switched headers")
        try:
            verify_attestation_signature(job.new, root, size, signature)
        except TesseraError as exc:
            raise BadRequestError(f"attestation rejected: {exc}") from exc
        remaining = await _count(session, _pending_for(job))
        if remaining:
            raise ConflictError(f"{remaining} case(s) are not switched yet: k old members must contribute first")
        columns = select(
            SwitchedHeaderRow.case_id, SwitchedHeaderRow.r, SwitchedHeaderRow.c, SwitchedHeaderRow.wrap, SwitchedHeaderRow.origin
        )
        ordered = columns.where(SwitchedHeaderRow.epoch == job.new.epoch).order_by(SwitchedHeaderRow.case_id)
        result: Any = await session.execute(ordered)
        ids: list[bytes] = []
        leaves: list[bytes] = []
        for case_id, r, c, wrap, origin in result:  # plain tuples: 100,000 ORM objects would be 100 MB
            ids.append(case_id)
            leaves.append(SwitchedHeader(r=r, c=c, wrap=wrap, origin=origin).leaf(case_id))
        tree = await in_thread(MerkleTree, leaves) if leaves else None
        del leaves
        if tree is None or (tree.root, tree.size) != (root, size):
            raise ConflictError("the switched headers differ from the ones you signed (a case was shredded?); attest again")
        await session.execute(  # a member signing again (the set changed) replaces their earlier signature
            delete(AttestationSignatureRow).where(
                AttestationSignatureRow.epoch == job.new.epoch, AttestationSignatureRow.signer == principal.sign_key
            )
        )
        session.add(
            AttestationSignatureRow(
                epoch=job.new.epoch, signer=principal.sign_key, root=root, size=size, signature=signature.signature
            )
        )
        await session.flush()
        agreeing = (
            (
                await session.execute(
                    select(AttestationSignatureRow).where(
                        AttestationSignatureRow.epoch == job.new.epoch, AttestationSignatureRow.root == root
                    )
                )
            )
            .scalars()
            .all()
        )
        await audit.append(
            session, day=services.today(), actor=principal.name, action="rekey.attest-signed", obj=f"epoch {job.new.epoch}"
        )
        if len(agreeing) < job.new.threshold:
            return {"state": RUNNING, "signatures": len(agreeing), "needed": job.new.threshold}
        signatures = [EpochSignature(signer=s.signer, signature=s.signature) for s in agreeing]
        await _finish(services, session, job, tree, ids, signatures)
    await services.db.purge_wal()  # the original headers are deleted: no older copy may stay in the WAL
    return {"state": "done", "signatures": len(agreeing), "needed": job.new.threshold}


async def _finish(
    services: Services,
    session: DbSession,
    job: Job,
    tree: MerkleTree,
    ids: list[bytes],
    signatures: list[EpochSignature],
) -> None:
    """Store the attestation, give every switched header its inclusion path, delete what came before."""
    attestation = HeaderAttestationRow(
        epoch=job.new.epoch,
        root=tree.root,
        size=tree.size,
        signatures=json.dumps([to_wire(s) for s in signatures]),
        day=services.today(),
    )
    session.add(attestation)
    await session.flush()
    table = cast(Table, SwitchedHeaderRow.__table__)  # Core statements: executemany, not the ORM's bulk path
    set_path = (
        update(table)
        .where(table.c.case_id == bindparam("b_case"), table.c.epoch == job.new.epoch)
        .values(attestation=attestation.seq, leaf_index=bindparam("b_index"), path=bindparam("b_path"))
    )
    cases = cast(Table, CaseRow.__table__)
    drop_header = update(cases).where(cases.c.case_id == bindparam("b_case")).values(envelope=bindparam("b_envelope"))
    for start in range(0, len(ids), MAX_BATCH):
        chunk = ids[start : start + MAX_BATCH]
        paths = [
            {"b_case": case_id, "b_index": start + i, "b_path": b"".join(tree.proof(start + i))}
            for i, case_id in enumerate(chunk)
        ]
        await session.execute(set_path, paths)
        # the old headers go: earlier switched ones, and the helper's original inside the envelope
        await session.execute(
            delete(SwitchedHeaderRow).where(SwitchedHeaderRow.case_id.in_(chunk), SwitchedHeaderRow.epoch < job.new.epoch)
        )
        originals = []
        stored: Any = await session.execute(select(CaseRow.case_id, CaseRow.envelope).where(CaseRow.case_id.in_(chunk)))
        for case_id, text in stored:
            envelope = json.loads(text)
            if envelope["header"] is not None:
                envelope["header"] = None  # the stored form is canonical JSON, so this equals encode_json of the envelope
                originals.append({"b_case": case_id, "b_envelope": canonical_json(envelope).decode()})
        if originals:
            await session.execute(drop_header, originals)
    await session.execute(delete(SwitchContributionRow))
    await session.execute(delete(AttestationSignatureRow).where(AttestationSignatureRow.epoch == job.new.epoch))
    await session.execute(update(RekeyRow).where(RekeyRow.new_epoch == job.new.epoch).values(state="done"))
    await audit.append(
        session,
        day=services.today(),
        actor="council",
        action="rekey.done",
        obj=f"epoch {job.new.epoch}",
        detail={"cases": tree.size, "root": b64u_encode(tree.root), "old_epoch": job.old.epoch},
    )
