"""A member's side of a full council re-key (protocol doc §2.9), after the DKG made the new council key:
old members contribute key switches for every case, new members check them and attest the result.
Both resume where they stopped (the server lists only what is left) and report progress per batch.

Nothing here trusts the server: the councils come from the verified key directory, every header is checked
(π_r, or an earlier attestation) before anything is computed on it, and an attesting member re-verifies
every contribution and the combination before signing the root."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from client.api import Api
from client.casefiles import parse_attested
from client.ceremony import share_for
from keys.accounts import AccountKeys
from keys.attestation import MerkleTree, sign_attestation
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import ProofError, ProtocolError, TesseraError
from keys.group import Point
from keys.kem import IdentityHeader, check_header
from keys.keyswitch import (
    SwitchContribution,
    SwitchedHeader,
    combine_verified,
    contribute_switch,
    switch_context,
    verify_contribution,
)
from keys.wire import from_wire, to_wire

Progress = Callable[[int, int], None]
PAGE = 500


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


def erase_old_share(secrets: MutableMapping[str, str], status: dict[str, Any]) -> bool:
    """Once the re-key is done the old share opens nothing that still exists: erase it."""
    if status.get("state") == "done" and f"share:{status['old_epoch']}" in secrets:
        del secrets[f"share:{status['old_epoch']}"]
        return True
    return False


def checked_header(
    item: dict[str, Any], case_id: bytes, state: DirectoryState, old: EpochRecord
) -> IdentityHeader | SwitchedHeader:
    """A case's header under the old key, checked: π_r, or the attestation of an earlier re-key."""
    if "switched" in item:
        attested = parse_attested(item["switched"])
        assert attested is not None
        epoch = attested.attestation.epoch
        record = old if old.epoch == epoch else state.earlier_councils.get(epoch)
        if record is None or record.kid != old.kid:
            raise ProofError(f"case {b64u_encode(case_id)}: its header was attested for another council key")
        attested.check(case_id=case_id, record=record)
        return attested.header
    header = from_wire(IdentityHeader, item["header"])
    check_header(header, kid=old.kid, case_id=case_id)
    return header


async def contribute(
    api: Api, keys: AccountKeys, secrets: MutableMapping[str, str], state: DirectoryState, progress: Progress
) -> int:
    """Post this old member's key-switch contribution for every case not switched yet; returns how many."""
    status = await api.call("GET", "/v1/rekey")
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

    def compute(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        batch = []
        for item in items:
            case_id = b64u_decode(item["case_id"], length=16, what="case id")
            header = checked_header(item, case_id, state, c.old)
            contribution = contribute_switch(
                old=c.old, new=c.new, index=member.index, share=share, case_id=case_id, header=header, swctx=c.swctx
            )
            batch.append(to_wire(contribution))
        return batch

    # this batch is computed (in a thread) while the server verifies the previous one
    sending: asyncio.Task[Any] | None = None
    try:
        while True:
            page = await api.call("GET", "/v1/rekey/headers", query={"after": after, "limit": PAGE})
            items = page["cases"]
            if not items:
                break
            batch = await asyncio.to_thread(compute, items)
            if sending is not None:
                await sending
                progress(done, max(total, done))
            sending = asyncio.create_task(api.call("POST", "/v1/rekey/contributions", body={"v": 1, "contributions": batch}))
            done += len(batch)
            after = items[-1]["case_id"]
        if sending is not None:
            await sending
            progress(done, max(total, done))
    finally:
        if sending is not None and not sending.done():
            sending.cancel()
    return done


async def attest(api: Api, keys: AccountKeys, state: DirectoryState, progress: Progress) -> dict[str, Any]:
    """Check every switched header (its origin, the k contributions and their combination), then sign the
    Merkle root over all of them. Raises ProofError naming the first case that does not check out."""
    status = await api.call("GET", "/v1/rekey")
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

    def check_page(items: list[dict[str, Any]]) -> list[bytes]:
        out = []
        for item in items:
            case_id = b64u_decode(item["case_id"], length=16, what="case id")
            out.append(check_switch(item, case_id, state, c).leaf(case_id))
        return out

    # each page is checked (in a thread) while the next one is fetched
    page = await api.call("GET", "/v1/rekey/switched", query={"limit": PAGE})
    while True:
        if int(page["remaining"]):
            raise ProtocolError("cases were added to the switch meanwhile; run attest again later")
        items = page["cases"]
        if not items:
            break
        checking = asyncio.create_task(asyncio.to_thread(check_page, items))
        try:
            page = await api.call("GET", "/v1/rekey/switched", query={"after": items[-1]["case_id"], "limit": PAGE})
        finally:
            leaves.extend(await checking)
        progress(len(leaves), max(total, len(leaves)))
    if not leaves:
        raise ProtocolError("the server lists no switched headers")
    tree = MerkleTree(leaves)
    signature = sign_attestation(c.new, tree.root, tree.size, keys)
    body = {"v": 1, "root": b64u_encode(tree.root), "size": tree.size, "signature": to_wire(signature)}
    answer: dict[str, Any] = await api.call("POST", "/v1/rekey/attestation", body=body)
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
