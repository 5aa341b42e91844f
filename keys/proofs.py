"""Sigma-protocol proofs in compact (challenge, response) form (protocol doc §2.1, §2.6, §2.9).

* `prove_knowledge` / `verify_knowledge`: Schnorr PoK{s : P = s·B} for any base B (π_r, π_b, coefficient PoKs).
* `prove_dleq` / `verify_dleq`: Chaum-Pedersen PoK{x : Y = x·G and D = x·B}, bound to a context.
* `prove_switch` / `verify_switch`: PoK{(x, t) : Y_i = x·G, T = t·G, U = x·R − t·Y2} for key switching.

Every challenge hashes its tag, the generators, the full statement, the commitments and the context
(the Helios lesson, doc §1.3). Nonces are hedged: H2S(nonce; secret, fresh randomness, statement).
Received challenges and responses must be below L (Scalar's constructor refuses others).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from keys.errors import CryptoError, EncodingError, InvalidScalarError, ProofError
from keys.group import Point, Rng, Scalar, default_rng
from keys.hashing import TAG_DLEQ, TAG_NONCE, TAG_SWITCH, hash_to_scalar_bytes

BASE: Final = Point.base_mul(Scalar.from_int(1))
PROOF_SIZE: Final = 64
SWITCH_PROOF_SIZE: Final = 96


@dataclass(frozen=True, slots=True)
class Proof:
    """A two-scalar proof (c, z); 64 bytes on the wire."""

    c: Scalar
    z: Scalar

    def encode(self) -> bytes:
        return self.c.encode() + self.z.encode()

    @classmethod
    def decode(cls, data: bytes) -> Proof:
        """Raises EncodingError for a wrong length, InvalidScalarError for an unreduced scalar."""
        if not isinstance(data, bytes) or len(data) != PROOF_SIZE:
            raise EncodingError("a proof is 64 bytes")
        return cls(c=Scalar(data[:32]), z=Scalar(data[32:]))


@dataclass(frozen=True, slots=True)
class SwitchProof:
    """Proof of a key-switch contribution (c, z1, z2); 96 bytes on the wire."""

    c: Scalar
    z1: Scalar
    z2: Scalar

    def encode(self) -> bytes:
        return self.c.encode() + self.z1.encode() + self.z2.encode()

    @classmethod
    def decode(cls, data: bytes) -> SwitchProof:
        """Raises EncodingError for a wrong length, InvalidScalarError for an unreduced scalar."""
        if not isinstance(data, bytes) or len(data) != SWITCH_PROOF_SIZE:
            raise EncodingError("a key-switch proof is 96 bytes")
        return cls(c=Scalar(data[:32]), z1=Scalar(data[32:64]), z2=Scalar(data[64:]))


def hedged_nonce(secret: Scalar, statement: Sequence[bytes], rng: Rng) -> Scalar:
    """w = H2S(nonce; secret, 32 fresh random bytes, statement…), never zero.

    A broken RNG alone cannot repeat w for two different statements (which would leak the secret).
    """
    while True:
        w = Scalar._trusted(hash_to_scalar_bytes(TAG_NONCE, secret.encode(), rng(32), *statement))
        if not w.is_zero():
            return w


def _challenge(tag: bytes, parts: Sequence[bytes]) -> Scalar:
    return Scalar._trusted(hash_to_scalar_bytes(tag, *parts))


def _same(a: Scalar, b: Scalar) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def prove_knowledge(
    tag: bytes, base: Point, public: Point, secret: Scalar, context: Sequence[bytes], *, rng: Rng = default_rng
) -> Proof:
    """PoK{s : public = s·base} bound to `tag` and `context`.

    Warning: the caller must make sure public == secret·base; the proof is otherwise worthless.
    """
    statement = [base.encode(), public.encode(), *context]
    w = hedged_nonce(secret, [tag, *statement], rng)
    commitment = base.mul(w)
    c = _challenge(tag, [*statement[:2], commitment.encode(), *context])
    return Proof(c=c, z=w + c * secret)


def verify_knowledge(tag: bytes, base: Point, public: Point, proof: Proof, context: Sequence[bytes]) -> None:
    """Raises ProofError unless `proof` is a valid PoK of log_base(public) for this tag and context."""
    try:
        commitment = base.mul(proof.z) - public.mul(proof.c)
    except (CryptoError, InvalidScalarError) as exc:
        raise ProofError("proof of knowledge does not verify") from exc
    c = _challenge(tag, [base.encode(), public.encode(), commitment.encode(), *context])
    if not _same(c, proof.c):
        raise ProofError("proof of knowledge does not verify")


def _dleq_parts(share_key: Point, base: Point, result: Point, a1: Point, a2: Point, context: Sequence[bytes]) -> list[bytes]:
    return [BASE.encode(), share_key.encode(), base.encode(), result.encode(), a1.encode(), a2.encode(), *context]


def prove_dleq(
    secret: Scalar,
    share_key: Point,
    base: Point,
    result: Point,
    context: Sequence[bytes],
    *,
    tag: bytes = TAG_DLEQ,
    rng: Rng = default_rng,
) -> Proof:
    """Chaum-Pedersen PoK{x : share_key = x·G and result = x·base}, bound to `tag` and `context` (doc §2):
    `dleq` for partial decryptions, `dleq/dkg-complaint` for a DKG complaint's Diffie-Hellman value.

    Warning: the caller must make sure share_key == x·G and result == x·base.
    """
    w = hedged_nonce(secret, [tag, share_key.encode(), base.encode(), result.encode(), *context], rng)
    a1 = Point.base_mul(w)
    a2 = base.mul(w)
    c = _challenge(tag, _dleq_parts(share_key, base, result, a1, a2, context))
    return Proof(c=c, z=w + c * secret)


def verify_dleq(
    share_key: Point, base: Point, result: Point, proof: Proof, context: Sequence[bytes], *, tag: bytes = TAG_DLEQ
) -> None:
    """Raises ProofError unless log_G(share_key) == log_base(result) is proven for this tag and context (doc §2).

    All three points are multiplied here, so libsodium validates them again (the fast path of doc §1).
    """
    try:
        a1 = Point.base_mul(proof.z) - share_key.mul(proof.c)
        a2 = base.mul(proof.z) - result.mul(proof.c)
    except (CryptoError, InvalidScalarError) as exc:
        raise ProofError("DLEQ proof does not verify") from exc
    c = _challenge(tag, _dleq_parts(share_key, base, result, a1, a2, context))
    if not _same(c, proof.c):
        raise ProofError("DLEQ proof does not verify")


def prove_switch(
    x: Scalar,
    t: Scalar,
    *,
    share_key: Point,
    header_r: Point,
    new_key: Point,
    t_point: Point,
    u_point: Point,
    context: Sequence[bytes],
    rng: Rng = default_rng,
) -> SwitchProof:
    """PoK{(x, t) : share_key = x·G, t_point = t·G, u_point = x·R − t·Y2} (doc §2.9 step 3)."""
    statement = [share_key.encode(), header_r.encode(), new_key.encode(), t_point.encode(), u_point.encode(), *context]
    w1 = hedged_nonce(x, [TAG_SWITCH, b"1", *statement], rng)
    w2 = hedged_nonce(t, [TAG_SWITCH, b"2", *statement], rng)
    a1 = Point.base_mul(w1)
    a2 = Point.base_mul(w2)
    a3 = header_r.mul(w1) - new_key.mul(w2)
    c = _challenge(TAG_SWITCH, [BASE.encode(), *statement, a1.encode(), a2.encode(), a3.encode()])
    return SwitchProof(c=c, z1=w1 + c * x, z2=w2 + c * t)


def verify_switch(
    proof: SwitchProof,
    *,
    share_key: Point,
    header_r: Point,
    new_key: Point,
    t_point: Point,
    u_point: Point,
    context: Sequence[bytes],
) -> None:
    """Raises ProofError unless the key-switch contribution is proven (doc §2.9 step 4)."""
    statement = [share_key.encode(), header_r.encode(), new_key.encode(), t_point.encode(), u_point.encode(), *context]
    try:
        a1 = Point.base_mul(proof.z1) - share_key.mul(proof.c)
        a2 = Point.base_mul(proof.z2) - t_point.mul(proof.c)
        a3 = header_r.mul(proof.z1) - new_key.mul(proof.z2) - u_point.mul(proof.c)
    except (CryptoError, InvalidScalarError) as exc:
        raise ProofError("key-switch proof does not verify") from exc
    c = _challenge(TAG_SWITCH, [BASE.encode(), *statement, a1.encode(), a2.encode(), a3.encode()])
    if not _same(c, proof.c):
        raise ProofError("key-switch proof does not verify")
