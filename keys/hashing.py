"""Domain-separated hashing: transcript hash, 32-byte KDF and hash-to-scalar (protocol doc §2.1).

`TH(tag; x1..xm) = BLAKE2b-512(LP(PREFIX‖tag) ‖ LP(x1) ‖ … ‖ LP(xm))`; `kdf32` is the same framing with a
32-byte digest; `hash_to_scalar` reduces the 64-byte form modulo L (never a 32-byte hash: the bias matters).
Every purpose has its own tag below; never reuse a tag for two statement shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from nacl._sodium import ffi, lib  # PyNaCl's own cffi binding to libsodium
from nacl.bindings import crypto_core_ed25519_scalar_reduce

from keys.encoding import lp
from keys.errors import EncodingError

PREFIX: Final = b"tessera/v1/"

# One tag per purpose (see docs/protocol.md for where each is used).
TAG_CTX_KEY: Final = b"ctx/key"
TAG_CTX_COUNCIL: Final = b"ctx/council"
TAG_CTX_DKG: Final = b"ctx/dkg"
TAG_CTX_REDIST: Final = b"ctx/redistribute"
TAG_DKG_TRANSCRIPT: Final = b"dkg-transcript"
TAG_DKG_ECHO: Final = b"dkg-echo"
TAG_DKG_SHARE: Final = b"dkg-share"
TAG_DKG_COMPLAINT: Final = b"dkg-complaint"
TAG_DKG_COMMITMENT: Final = b"dkg-commitment"
TAG_DKG_KEY: Final = b"dkg-key"
TAG_DKG_KEY_POK: Final = b"pok-dkg-key"
TAG_DKG_EPHEMERAL: Final = b"pok-dkg-ephemeral"
TAG_DKG_SHARE_KEY: Final = b"kdf/dkg-share"
TAG_DKG_DH: Final = b"dleq/dkg-complaint"
TAG_EPOCH: Final = b"epoch-record"
TAG_POK_COEF: Final = b"pok-coef"
TAG_KDF_CASE_KEY: Final = b"kdf/case-key"
TAG_AD_WRAP: Final = b"ad/wrap"
TAG_AD_IDENTITY: Final = b"ad/identity"
TAG_AD_CASE_FILE: Final = b"ad/case-file"
TAG_CASE_KEY_WRAP: Final = b"case-key-wrap"
TAG_WRAPHASH: Final = b"wraphash"
TAG_POK_R: Final = b"pok-r"
TAG_INTAKE_SIG: Final = b"intake-sig"
TAG_REPLY_BOX: Final = b"reply/box"
TAG_REPLY_SIGN: Final = b"reply/sign"
TAG_CTX_REQUEST: Final = b"ctx/request"
TAG_REQUEST: Final = b"request"
TAG_POK_B: Final = b"pok-b"
TAG_DLEQ: Final = b"dleq"
TAG_APPROVE: Final = b"approve"
TAG_CTX_SWITCH: Final = b"ctx/switch"
TAG_SWITCH: Final = b"switch"
TAG_ATTEST: Final = b"attest"
TAG_MERKLE_LEAF: Final = b"merkle/leaf"
TAG_MERKLE_NODE: Final = b"merkle/node"
TAG_NONCE: Final = b"nonce"
TAG_LOG: Final = b"log"
TAG_LOG_SIG: Final = b"log-sig"
TAG_GRANT: Final = b"invite-grant"
TAG_AUDIT: Final = b"audit"
TAG_BACKUP: Final = b"backup-manifest"
TAG_REQUEST_AUTH: Final = b"request-auth"
TAG_PROPOSAL: Final = b"proposal"
TAG_VOTE: Final = b"vote"
TAG_MESSAGE: Final = b"message"
TAG_AD_MESSAGE: Final = b"ad/message"
TAG_AD_OUTCOME: Final = b"ad/outcome"
TAG_AD_PURPOSE: Final = b"ad/purpose"
TAG_CHECKPOINT: Final = b"checkpoint"
TAG_COSIGN: Final = b"cosign"
TAG_FINGERPRINT: Final = b"fingerprint"
TAG_KEYSTORE_SUM: Final = b"keystore/checksum"
TAG_DIGEST: Final = b"digest"
TAG_AD_ATTACHMENT: Final = b"ad/attachment"
TAG_ATTACH_CASE: Final = b"attach/case"
TAG_ATTACH_IDENTITY: Final = b"attach/identity"
TAG_ATTACHMENT_SIG: Final = b"attachment-sig"
TAG_TOKEN_KEY_ID: Final = b"token/key-id"
# The VOPRF of keys/voprf.py (docs/protocol.md §10.1): two halves of hash-to-group, the composite seed and
# weights, the batched proof's challenge, the output.
TAG_VOPRF_HASH_TO_GROUP_0: Final = b"voprf/hash-to-group/0"
TAG_VOPRF_HASH_TO_GROUP_1: Final = b"voprf/hash-to-group/1"
TAG_VOPRF_SEED: Final = b"voprf/seed"
TAG_VOPRF_COMPOSITE: Final = b"voprf/composite"
TAG_VOPRF_CHALLENGE: Final = b"voprf/challenge"
TAG_VOPRF_FINALIZE: Final = b"voprf/finalize"
TAG_RECEIPT: Final = b"intake-receipt"  # the server's signed receipt for an intake (keys/receipts.py)
TAG_ATTACHMENT_RECEIPT: Final = b"attachment-receipt"  # ... and for a whole attachment upload (keys/receipts.py)
TAG_PROPOSAL_V2: Final = b"proposal/v2"  # a version-2 proposal (epoch, quorum and directory head inside)
TAG_VOTE_V2: Final = b"vote/v2"  # a version-2 vote: over the proposal's digest, not only its id
TAG_PROPOSAL_DIGEST: Final = b"proposal-digest"  # what a version-2 vote names
TAG_ATTACHMENT_LIST: Final = b"attachment-list"  # the helper's signed list of a case's attachments


def _framing(tag: bytes, parts: Iterable[bytes]) -> Iterator[bytes]:
    """LP(PREFIX‖tag) ‖ LP(x1) ‖ … as pieces: each length prefix, then the part itself (never copied)."""
    yield lp(PREFIX + tag)
    for part in parts:
        if not isinstance(part, bytes):
            raise EncodingError(f"hash input must be bytes, got {type(part).__name__}")
        if len(part) >= 1 << 32:
            raise EncodingError("a hashed part is limited to 4 GiB")
        yield len(part).to_bytes(4, "big")
        yield part


def _blake2b(data: bytes, size: int) -> bytes:
    # libsodium's crypto_generichash (BLAKE2b, unkeyed) called through PyNaCl's cffi module directly:
    # the public wrapper's argument checks cost 20 µs a call, ten times the hash of a short input.
    # tests/keys/test_vectors.py checks the output against hashlib's independent BLAKE2b.
    out = ffi.new("unsigned char[]", size)
    rc = lib.crypto_generichash_blake2b_salt_personal(out, size, data, len(data), ffi.NULL, 0, ffi.NULL, ffi.NULL)
    if rc != 0:  # pragma: no cover - cannot fail for these sizes
        raise EncodingError("hashing failed")
    return bytes(ffi.buffer(out, size))


_STATE_BYTES: Final = lib.crypto_generichash_statebytes()
_LARGE: Final = 1 << 16


class _Blake2bState:
    """libsodium's incremental BLAKE2b (for inputs of many MiB, or arriving in pieces)."""

    __slots__ = ("_size", "_state")

    def __init__(self, size: int) -> None:
        self._size = size
        self._state = ffi.new("unsigned char[]", _STATE_BYTES)
        if lib.crypto_generichash_blake2b_init_salt_personal(self._state, ffi.NULL, 0, size, ffi.NULL, ffi.NULL) != 0:
            raise EncodingError("hashing failed")  # pragma: no cover - cannot fail for these sizes

    def update(self, data: Any) -> None:
        """Feed bytes, or a cffi buffer over a bytearray or memoryview."""
        if lib.crypto_generichash_blake2b_update(self._state, data, len(data)) != 0:
            raise EncodingError("hashing failed")  # pragma: no cover - cannot fail for these sizes

    def final(self) -> bytes:
        out = ffi.new("unsigned char[]", self._size)
        if lib.crypto_generichash_blake2b_final(self._state, out, self._size) != 0:
            raise EncodingError("hashing failed")  # pragma: no cover - cannot fail for these sizes
        return bytes(ffi.buffer(out, self._size))


def _blake2b_framed(tag: bytes, parts: tuple[bytes, ...], size: int) -> bytes:
    """BLAKE2b over the framing of `parts`: joined when short (one call), fed in pieces when large."""
    if sum(len(p) for p in parts if isinstance(p, bytes)) < _LARGE:
        return _blake2b(b"".join(_framing(tag, parts)), size)
    state = _Blake2bState(size)
    for piece in _framing(tag, parts):
        state.update(piece)
    return state.final()


def transcript_hash(tag: bytes, *parts: bytes) -> bytes:
    """TH: 64-byte BLAKE2b over the tag and the length-prefixed parts."""
    return _blake2b_framed(tag, parts, 64)


def kdf32(tag: bytes, *parts: bytes) -> bytes:
    """KDF32: 32-byte BLAKE2b over the tag and the length-prefixed parts (keys, ids, contexts)."""
    return _blake2b_framed(tag, parts, 32)


def hash_to_scalar_bytes(tag: bytes, *parts: bytes) -> bytes:
    """H2S: the 64-byte transcript hash reduced modulo L, as 32 little-endian bytes (may be zero)."""
    return crypto_core_ed25519_scalar_reduce(transcript_hash(tag, *parts))


def digest(data: bytes) -> bytes:
    """A 32-byte content digest (receipts, 'hash of the plaintext' inside signatures)."""
    return kdf32(TAG_DIGEST, data)


def digest_pieces(pieces: Sequence[bytes]) -> bytes:
    """`digest(b"".join(pieces))` without joining them (a many-MiB body sent as its chunks)."""
    return kdf32_pieces(TAG_DIGEST, pieces, sum(len(p) for p in pieces))


def kdf32_pieces(tag: bytes, pieces: Iterable[bytes], total: int) -> bytes:
    """`kdf32(tag, b"".join(pieces))` for one part given as pieces (a stream) of `total` bytes in all.

    Raises EncodingError when the pieces do not add up to `total` (the length is hashed first)."""
    hasher = PartDigest(tag, total)
    for piece in pieces:
        hasher.update(piece)
    return hasher.finish()


class PartDigest:
    """`kdf32(tag, part)` of one part of `total` bytes, fed piece by piece as it arrives (a request body
    read from the network, hashed while it comes in instead of in a second pass).

    Pieces may be bytes, bytearray or memoryview. Raises EncodingError on a piece past `total` and at
    `finish` when fewer than `total` bytes came (the length is hashed first, so it must be known)."""

    __slots__ = ("_done", "_seen", "_state", "_total")

    def __init__(self, tag: bytes, total: int) -> None:
        if not 0 <= total < 1 << 32:
            raise EncodingError("a hashed part is limited to 4 GiB")
        self._state = _Blake2bState(32)
        self._total, self._seen, self._done = total, 0, False
        self._state.update(lp(PREFIX + tag) + total.to_bytes(4, "big"))

    def update(self, piece: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise EncodingError("this digest is finished")
        self._seen += len(piece)
        if self._seen > self._total:
            raise EncodingError(f"expected {self._total} bytes to hash, got more")
        self._state.update(piece if isinstance(piece, bytes) else ffi.from_buffer(piece))

    def finish(self) -> bytes:
        if self._done:
            raise EncodingError("this digest is finished")
        self._done = True
        if self._seen != self._total:
            raise EncodingError(f"expected {self._total} bytes to hash, got {self._seen}")
        return self._state.final()
