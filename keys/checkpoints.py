"""The server's signed checkpoints of a chain's head (the key directory's, or the audit log's).

A checkpoint names its chain, so one cannot stand for the other. A directory checkpoint verifies under
the server key in force at its sequence number, so old checkpoints stay valid after a server-key rotation.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar, Final

from keys.accounts import AccountKeys, verify_signature
from keys.directory import DirectoryState
from keys.errors import DirectoryError, EncodingError, ProofError
from keys.hashing import TAG_CHECKPOINT
from keys.wire import require_len, require_version, signing_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """The server's signature on the head at `seq`."""

    VERSION: ClassVar[int] = 1
    v: int
    chain: str
    seq: int
    head: bytes
    day: int
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        if self.chain not in CHAINS:
            raise EncodingError(f"chain must be one of {', '.join(CHAINS)}")
        require_len("head", self.head, 32)
        require_len("signature", self.signature, 64)


CHAINS: Final = ("directory", "audit")


def sign_checkpoint(seq: int, head: bytes, day: int, server: AccountKeys, *, chain: str = "directory") -> Checkpoint:
    """The server's signature on a chain's head (the key directory's or the audit log's)."""
    unsigned = Checkpoint(v=1, chain=chain, seq=seq, head=head, day=day, signature=bytes(64))
    return replace(unsigned, signature=server.sign(TAG_CHECKPOINT, signing_bytes(unsigned)))


def verify_checkpoint(checkpoint: Checkpoint, state: DirectoryState, heads: Mapping[int, bytes]) -> None:
    """Check a checkpoint against the replayed chain: the head at its seq, signed by the server key in
    force at that seq (so old checkpoints still verify after a server-key rotation). Raises DirectoryError."""
    if checkpoint.chain != "directory":
        raise DirectoryError("this checkpoint is for another chain")
    head = heads.get(checkpoint.seq)
    if head is None or not hmac.compare_digest(head, checkpoint.head):
        raise DirectoryError(f"checkpoint at entry {checkpoint.seq} names a head this chain does not have")
    keys = [key for since, key in state.server_keys if since <= checkpoint.seq]
    if not keys:
        raise DirectoryError("checkpoint predates the server key")
    try:
        verify_signature(keys[-1], TAG_CHECKPOINT, signing_bytes(checkpoint), checkpoint.signature)
    except ProofError as exc:
        raise DirectoryError(f"checkpoint at entry {checkpoint.seq} is not signed by the server key of that time") from exc


def verify_audit_checkpoint(checkpoint: Checkpoint, server_key: bytes, head_at_seq: bytes) -> None:
    """Check the server's signature on the audit log's head; raises DirectoryError."""
    if checkpoint.chain != "audit" or not hmac.compare_digest(checkpoint.head, head_at_seq):
        raise DirectoryError(f"audit checkpoint at entry {checkpoint.seq} does not match the audit log")
    try:
        verify_signature(server_key, TAG_CHECKPOINT, signing_bytes(checkpoint), checkpoint.signature)
    except ProofError as exc:
        raise DirectoryError("audit checkpoint is not signed by the server key") from exc
