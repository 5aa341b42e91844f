"""Attesting switched identity headers after a re-key (protocol doc §2.9 step 5).

π_r does not cover a switched header (R2, C2), so members of the new council verify the key-switch
proofs and sign a Merkle root (RFC 9162 tree shape, domain-separated leaf and node hashes) over
(case_id, R2, C2, wraphash, origin) for every switched case. Later, a member accepts a switched header when it
is included under a root that k members of the council signed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from keys.accounts import AccountKeys, verify_signature
from keys.council import EpochRecord, EpochSignature
from keys.encoding import u64
from keys.errors import EncodingError, ProofError
from keys.hashing import TAG_ATTEST, TAG_MERKLE_LEAF, TAG_MERKLE_NODE, kdf32
from keys.keyswitch import SwitchedHeader
from keys.wire import require_len, require_version


def leaf_hash(leaf: bytes) -> bytes:
    return kdf32(TAG_MERKLE_LEAF, leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    return kdf32(TAG_MERKLE_NODE, left, right)


class MerkleTree:
    """All levels of a Merkle tree; an unpaired last node moves up unchanged (RFC 9162 shape)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise EncodingError("a Merkle tree needs at least one leaf")
        level = [leaf_hash(x) for x in leaves]
        self.levels = [level]
        while len(level) > 1:
            nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            self.levels.append(nxt)
            level = nxt

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def proof(self, index: int) -> tuple[bytes, ...]:
        """The audit path of leaf `index`."""
        if not 0 <= index < self.size:
            raise EncodingError("leaf index out of range")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return tuple(path)


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2 inclusion check."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


@dataclass(frozen=True, slots=True, kw_only=True)
class HeaderAttestation:
    """k (or more) members of council epoch `epoch` sign the root over `size` switched headers."""

    VERSION: ClassVar[int] = 1
    v: int
    epoch: int
    root: bytes
    size: int
    signatures: tuple[EpochSignature, ...]

    def __post_init__(self) -> None:
        require_version(self)
        require_len("root", self.root, 32)
        u64(self.size)


def _attest_message(record: EpochRecord, root: bytes, size: int) -> bytes:
    return record.context + root + u64(size)


def sign_attestation(record: EpochRecord, root: bytes, size: int, keys: AccountKeys) -> EpochSignature:
    """A new-council member's signature over a root of switched headers it has verified itself."""
    return EpochSignature(signer=keys.public().sign_key, signature=keys.sign(TAG_ATTEST, _attest_message(record, root, size)))


def verify_attestation_signature(record: EpochRecord, root: bytes, size: int, signature: EpochSignature) -> None:
    """Raise ProofError unless a member of `record` made this signature over (root, size)."""
    if record.member_by_sign_key(signature.signer) is None:
        raise ProofError(f"the signer is not a member of council epoch {record.epoch}")
    verify_signature(signature.signer, TAG_ATTEST, _attest_message(record, root, size), signature.signature)


def check_attested_header(
    header: SwitchedHeader,
    *,
    case_id: bytes,
    record: EpochRecord,
    attestation: HeaderAttestation,
    index: int,
    path: Sequence[bytes],
) -> None:
    """Raise ProofError unless k members of `record` signed a root that includes this case's header."""
    if attestation.epoch != record.epoch:
        raise ProofError("attestation belongs to another council epoch")
    message = _attest_message(record, attestation.root, attestation.size)
    signers: set[bytes] = set()
    members = {m.sign_key for m in record.members}
    for sig in attestation.signatures:
        if sig.signer in members:
            verify_signature(sig.signer, TAG_ATTEST, message, sig.signature)
            signers.add(sig.signer)
    if len(signers) < record.threshold:
        raise ProofError(f"switched header attested by {len(signers)} member(s); {record.threshold} needed")
    if not verify_inclusion(header.leaf(case_id), index, attestation.size, path, attestation.root):
        raise ProofError("switched header is not included in the attested root")
