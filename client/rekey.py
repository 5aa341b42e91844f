"""A member's side of a full council re-key (protocol doc §2.9), after the DKG made the new council key:
old members contribute key switches for every case, new members check them and attest the result.
Both resume where they stopped (the server lists only what is left) and report progress per batch.

Nothing here trusts the server: the councils come from the verified key directory, every header is checked
(π_r, or an earlier attestation) before anything is computed on it, and an attesting member re-verifies
every contribution and the combination before signing the root."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Mapping, MutableMapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from client.api import Api, HostileServerError
from client.casefiles import check_identity_header, parse_attested
from client.mailbox import erase_old_share, share_for
from client.session import UsageError
from keys.accounts import AccountKeys
from keys.attestation import HeaderAttestation, MerkleTree, sign_attestation, verify_attestation_signature
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import ProofError, ProtocolError, TesseraError
from keys.group import Point, Scalar
from keys.kem import IdentityHeader
from keys.keyswitch import (
    SwitchContribution,
    SwitchedHeader,
    combine_verified,
    contribute_switch,
    switch_context,
    verify_contribution,
)
from keys.wire import from_wire, to_wire

T = TypeVar("T")
Progress = Callable[[int, int], None]
PAGE = 500
MAX_PAGES = 10_000  # a server that never stops paging is not followed for ever
WORKERS = min(2, os.cpu_count() or 1)
POOL_MIN = 2000  # fewer cases than this: one process (starting workers would cost more than it saves)


@dataclass(frozen=True, slots=True)
class Councils:
    old: EpochRecord
    new: EpochRecord
    swctx: bytes


def councils(state: DirectoryState, status: dict[str, Any]) -> Councils:
    """The two councils of the running re-key, from this device's verified directory."""
    new = state.council
    old = state.earlier_councils.get(int(status["old_epoch"]))
    if new is None or old is None or new.epoch != int(status["new_epoch"]):
        raise ProtocolError("the server's re-key does not match the key directory on this device; run `tessera sync`")
    return Councils(old, new, switch_context(old, new))



async def fetch_status(api: Api) -> dict[str, Any]:
    """The re-key's status as the server states it (`GET /v1/rekey`, checked against its answer type in
    client/api.py): "none", "switching" with its progress, or "done" with its attestation."""
    answer: dict[str, Any] = await api.rekey_status()
    return answer

async def check_rekey_done(api: Api, state: DirectoryState, status: dict[str, Any]) -> tuple[EpochRecord, int]:
    """A finished re-key, as this device verifies it before an old share may go (never the server's `state`):
    the verified directory holds a new council key, the attestation the server names is signed by k members of
    that council over `size` switched headers, and the server lists no more cases sealed before the re-key than
    that. Returns (the old council, how many cases the attestation covers). Raises ProtocolError (not done) or
    HostileServerError (the attestation is not what it claims).
    Hostile test: tests/hostile/test_review_rekey.py."""
    if status.get("state") != "done":
        raise ProtocolError("the re-key is not finished: every case must be switched and attested first")
    new = state.council
    old = state.council_at(int(status.get("old_epoch", -1)))
    if new is None or old is None or new.epoch != status.get("new_epoch") or new.kid == old.kid:
        raise ProtocolError("this device's verified key directory shows no finished re-key: run `tessera sync`")
    try:
        attestation = from_wire(HeaderAttestation, status.get("attestation"))
    except TesseraError as exc:
        raise HostileServerError(f"the server's attestation of the re-key is malformed ({exc})") from exc
    members = {m.sign_key for m in new.members}
    signers = set()
    for signature in attestation.signatures:
        if signature.signer in members:
            try:
                verify_attestation_signature(new, attestation.root, attestation.size, signature)
            except TesseraError:
                continue
            signers.add(signature.signer)
    if attestation.epoch != new.epoch or len(signers) < new.threshold:
        raise HostileServerError(
            f"the server says the re-key is finished, but its attestation carries {len(signers)} valid signature(s) of the "
            f"new council; {new.threshold} needed"
        )
    sealed_before = 0
    cursor = None
    for _ in range(MAX_PAGES):
        page = await api.cases(cursor=cursor, limit=PAGE)
        sealed_before += sum(1 for row in page.get("cases", []) if int(row.get("epoch", new.epoch)) < new.epoch)
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    if sealed_before > attestation.size:
        raise ProtocolError(
            f"the new council attested {attestation.size} switched case(s), but {sealed_before} were sealed before the "
            "re-key: the old share is still needed"
        )
    return old, attestation.size


def old_share_kept(secrets: Mapping[str, Any], status: dict[str, Any]) -> bool:
    """Whether this device still holds a share of the council key a finished re-key replaced (a hint to show;
    erasing it goes through `forget_old_share`, which checks the re-key itself)."""
    return status.get("state") == "done" and f"share:{status.get('old_epoch')}" in secrets


async def forget_old_share(
    api: Api, keys: AccountKeys, secrets: MutableMapping[str, Any], state: DirectoryState, status: dict[str, Any]
) -> tuple[int, int] | None:
    """Erase this member's share of the old council key after a re-key this device verified finished
    (`check_rekey_done`), and only when its share of the new key (if it has one) checks against the directory.
    Returns (old epoch, cases the attestation covers), or None when this device holds no share of the old key;
    raises ProtocolError / HostileServerError as `check_rekey_done`, UsageError when the new share does not check.
    The caller saves the keystore and has asked its person first."""
    old, covered = await check_rekey_done(api, state, status)
    if f"share:{old.epoch}" not in secrets:
        return None
    if not erase_old_share(secrets, state, old.epoch, keys):
        raise UsageError("your share of the new council key does not check against the directory: the old one is kept")
    return old.epoch, covered


@dataclass(frozen=True, slots=True)
class Work:
    """What the checks and computations need; sent once to each worker process."""

    state: DirectoryState
    councils: Councils
    index: int = 0
    share: Scalar | None = None  # contributing members only


def contributions_for(work: Work, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check each header and compute this member's contribution for it (wire form)."""
    c = work.councils
    assert work.share is not None
    batch = []
    for item in items:
        case_id = b64u_decode(item["case_id"], length=16, what="case id")
        header = checked_header(item, case_id, work.state, c.old)
        contribution = contribute_switch(
            old=c.old, new=c.new, index=work.index, share=work.share, case_id=case_id, header=header, swctx=c.swctx
        )
        batch.append(to_wire(contribution))
    return batch


def leaves_for(work: Work, items: list[dict[str, Any]]) -> list[bytes]:
    """Check each switched header against its origin and contributions; its attestation leaf."""
    out = []
    for item in items:
        case_id = b64u_decode(item["case_id"], length=16, what="case id")
        out.append(check_switch(item, case_id, work.state, work.councils).leaf(case_id))
    return out


_WORK: Work | None = None


def _init_worker(work: Work) -> None:
    global _WORK
    _WORK = work


def _in_worker(fn: Callable[[Work, list[dict[str, Any]]], list[T]], items: list[dict[str, Any]]) -> list[T]:
    assert _WORK is not None
    return fn(_WORK, items)


class Workers:
    """Runs page computations in one thread, or, for a large attestation, on WORKERS processes (each page split
    between them). Either way the event loop stays free for the network.

    Contributions use one thread: the server verifies each one as it arrives, which costs about as much as
    making it, so a second process here only competes with the server when both share a machine
    (`python -m bench.rekey`: 92 s per 100,000 cases with a thread, 123 s with two processes)."""

    def __init__(self, work: Work, total: int, *, parallel: bool) -> None:
        self.work = work
        self.pool: ProcessPoolExecutor | None = None
        if parallel and WORKERS > 1 and total >= POOL_MIN:
            context = multiprocessing.get_context("spawn")  # no fork of a process with threads and sockets
            self.pool = ProcessPoolExecutor(WORKERS, mp_context=context, initializer=_init_worker, initargs=(work,))

    async def map(self, fn: Callable[[Work, list[dict[str, Any]]], list[T]], items: list[dict[str, Any]]) -> list[T]:
        if self.pool is None:
            return await asyncio.to_thread(fn, self.work, items)
        loop = asyncio.get_running_loop()
        size = -(-len(items) // WORKERS)
        parts = [items[i : i + size] for i in range(0, len(items), size)]
        results = await asyncio.gather(*(loop.run_in_executor(self.pool, _in_worker, fn, part) for part in parts))
        return [x for part in results for x in part]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def checked_header(
    item: dict[str, Any], case_id: bytes, state: DirectoryState, old: EpochRecord
) -> IdentityHeader | SwitchedHeader:
    """A case's header under the old key, checked: π_r, or the attestation of an earlier re-key."""
    attested = parse_attested(item.get("switched"))
    if attested is not None:
        check_identity_header(case_id, None, attested, state, under=old)
        return attested.header
    header = from_wire(IdentityHeader, item["header"])
    check_identity_header(case_id, header, None, state, under=old)
    return header


async def contribute(
    api: Api, keys: AccountKeys, secrets: MutableMapping[str, str], state: DirectoryState, progress: Progress
) -> int:
    """Post this old member's key-switch contribution for every case not switched yet; returns how many."""
    status = await fetch_status(api)
    if status["state"] != "switching":
        raise ProtocolError("no council re-key is running")
    c = councils(state, status)
    member = c.old.member_by_sign_key(keys.public().sign_key)
    share = share_for(secrets, c.old.epoch)
    if member is None or share is None:
        raise ProtocolError(f"this device holds no share of the old council key (epoch {c.old.epoch})")
    if Point.base_mul(share) != c.old.share_key(member.index):
        raise ProtocolError("the share on this device does not match the old council record")
    total = int(status["remaining"])
    done = 0
    after: str | None = None
    workers = Workers(Work(state, c, member.index, share), total, parallel=False)
    # this batch is computed (off the event loop) while the server verifies the previous one
    sending: asyncio.Task[Any] | None = None
    try:
        while True:
            page = await api.rekey_headers(after=after, limit=PAGE)
            items = page["cases"]
            if not items:
                break
            batch = await workers.map(contributions_for, items)
            if sending is not None:
                await sending
                progress(done, max(total, done))
            sending = asyncio.create_task(api.contribute(batch))
            done += len(batch)
            after = items[-1]["case_id"]
        if sending is not None:
            await sending
            progress(done, max(total, done))
    finally:
        workers.close()
        if sending is not None and not sending.done():
            sending.cancel()
    return done


async def attest(api: Api, keys: AccountKeys, state: DirectoryState, progress: Progress) -> dict[str, Any]:
    """Check every switched header (its origin, the k contributions and their combination), then sign the
    Merkle root over all of them. Raises ProofError naming the first case that does not check out."""
    status = await fetch_status(api)
    if status["state"] != "switching":
        raise ProtocolError("no council re-key is running")
    if int(status["remaining"]):
        raise ProtocolError(
            f"{status['remaining']} case(s) still wait for key-switch contributions from old members "
            "(`tessera council rekey contribute`); attest after that"
        )
    c = councils(state, status)
    if c.new.member_by_sign_key(keys.public().sign_key) is None:
        raise ProtocolError("only members of the new council attest")
    leaves: list[bytes] = []
    total = int(status["switched"])
    workers = Workers(Work(state, c), total, parallel=True)
    # each page is checked (off the event loop) while the next one is fetched
    try:
        page = await api.switched(limit=PAGE)
        while True:
            if int(page["remaining"]):
                raise ProtocolError("cases were added to the switch meanwhile; run attest again later")
            items = page["cases"]
            if not items:
                break
            checking = asyncio.create_task(workers.map(leaves_for, items))
            try:
                page = await api.switched(after=items[-1]["case_id"], limit=PAGE)
            finally:
                leaves.extend(await checking)
            progress(len(leaves), max(total, len(leaves)))
    finally:
        workers.close()
    if not leaves:
        raise ProtocolError("the server lists no switched headers")
    tree = MerkleTree(leaves)
    signature = sign_attestation(c.new, tree.root, tree.size, keys)
    body = {"v": 1, "root": b64u_encode(tree.root), "size": tree.size, "signature": to_wire(signature)}
    answer: dict[str, Any] = await api.attest(body)
    return {**answer, "cases": tree.size}


def check_switch(item: dict[str, Any], case_id: bytes, state: DirectoryState, c: Councils) -> SwitchedHeader:
    """The server's switched header for one case, re-derived here from the verified contributions."""
    where = f"case {b64u_encode(case_id)}"
    try:
        origin = checked_header(item["from"], case_id, state, c.old)
        claimed = from_wire(SwitchedHeader, item["to"])
        points = {}
        for wire in item["contributions"]:
            contribution = from_wire(SwitchContribution, wire)
            if contribution.case_id != case_id:
                raise ProofError("a contribution for another case")
            points[contribution.index] = verify_contribution(contribution, old=c.old, new=c.new, header=origin, swctx=c.swctx)
        derived = combine_verified(points, threshold=c.old.threshold, header=origin)
    except TesseraError as exc:
        raise ProofError(f"{where}: {exc}. Do not attest; tell your council.") from exc
    if derived != claimed:
        raise ProofError(f"{where}: the server's switched header is not what the contributions give. Do not attest.")
    return derived
