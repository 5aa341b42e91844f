"""A verifiable OPRF: RFC 9497's VOPRF protocol (mode 0x01) on the prime-order subgroup of edwards25519, with
Tessera's own domain-separated BLAKE2b hashes (protocol doc §10.1, §10.2).

Client: `blind` each input, send the blinded points, then `finalize` the server's answer (which verifies the
batched DLEQ proof against the server's public key before unblinding). Server: `blind_evaluate` a batch with
one proof, and `evaluate` to recompute an output from an input it is shown later (a token being spent).

The steps are RFC 9497's (§3.3 Blind, BlindEvaluate, Finalize, Evaluate; §2.2 GenerateProof and VerifyProof
with the composites of §2.2.1), but not its ristretto255-SHA512 suite: PyNaCl exposes none of libsodium's
ristretto255 functions, and libsodium's edwards25519 subgroup functions (`keys/group.py`) are what the
project uses everywhere. So the group is `Point`/`Scalar`, hash-to-group is two `Point.from_uniform` of two
domain-separated `kdf32` hashes added together (the random-oracle shape of RFC 9380 §3), hash-to-scalar is
`hash_to_scalar_bytes`, and every hash has its own `TAG_VOPRF_*` tag instead of the RFC's context strings.
Outputs therefore differ from the RFC's test vectors; the known answers are `tests/vectors/keys-v1.json`
("voprf"). No maintained VOPRF library is built on PyNaCl, whence this module.

The proof's scalar t is hedged as in `keys/proofs.py` (`hedged_nonce` over the key and the statement), where
the RFC draws it fresh: a stuck RNG alone cannot repeat t for two different batches, which would reveal the
key. `rng` is libsodium's except in the known-answer-vector script.

Every received point reaches these functions through `Point.decode` (the caller's job: `keys/tokens.py`
parses the wire forms), every received scalar through `Scalar` (`Proof.decode`).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from keys.errors import CryptoError, EncodingError, InvalidScalarError, ProofError
from keys.group import Point, Rng, Scalar, default_rng
from keys.hashing import (
    TAG_VOPRF_CHALLENGE,
    TAG_VOPRF_COMPOSITE,
    TAG_VOPRF_FINALIZE,
    TAG_VOPRF_HASH_TO_GROUP_0,
    TAG_VOPRF_HASH_TO_GROUP_1,
    TAG_VOPRF_SEED,
    hash_to_scalar_bytes,
    kdf32,
    transcript_hash,
)
from keys.proofs import Proof, hedged_nonce

#: inputs are short (a token's nonce is 32 bytes); the bound keeps a caller from having megabytes hashed
MAX_INPUT: Final = 2**16 - 1
#: a batch index is a u16 in the composite weights
MAX_BATCH: Final = 2**16
OUTPUT_SIZE: Final = 64


@dataclass(frozen=True, slots=True)
class KeyPair:
    """The server's VOPRF key: skS and pkS = skS·G. The secret never appears in repr."""

    secret: Scalar = field(repr=False)
    public: Point

    @classmethod
    def from_secret(cls, secret: Scalar) -> KeyPair:
        """Raises CryptoError for the zero scalar."""
        return cls(secret=secret, public=Point.base_mul(secret))


def generate_key_pair(*, rng: Rng = default_rng) -> KeyPair:
    """RFC 9497 §3.2 GenerateKeyPair: a uniformly random non-zero skS."""
    return KeyPair.from_secret(Scalar.random(rng))


def hash_to_group(data: bytes) -> Point:
    """H(x) = from_uniform(KDF32(voprf/hash-to-group/0; x)) + from_uniform(KDF32(voprf/hash-to-group/1; x)).

    Raises EncodingError for an input that is not bytes or longer than MAX_INPUT, CryptoError (RFC 9497:
    InvalidInputError) when a half or the sum is the identity (probability about 2**-250 for any input)."""
    if not isinstance(data, bytes) or len(data) > MAX_INPUT:
        raise EncodingError(f"a VOPRF input is bytes of at most {MAX_INPUT} bytes")
    return Point.from_uniform(kdf32(TAG_VOPRF_HASH_TO_GROUP_0, data)) + Point.from_uniform(kdf32(TAG_VOPRF_HASH_TO_GROUP_1, data))


def blind(data: bytes, *, rng: Rng = default_rng) -> tuple[Scalar, Point]:
    """RFC 9497 §3.3.1 Blind: (r, C = r·H(input)) with r a random non-zero scalar.

    The blind r is secret (it links the blinded point to the output): keep it until `finalize`, then drop
    it. Raises EncodingError or CryptoError as `hash_to_group` does."""
    element = hash_to_group(data)
    r = Scalar.random(rng)
    return r, element.mul(r)


def _composite_weights(public: Point, c: Sequence[Point], d: Sequence[Point]) -> list[Scalar]:
    """The d_i of RFC 9497 §2.2.1 ComputeComposites: seed = KDF32(voprf/seed; pkS) and
    d_i = H2S(voprf/composite; seed, u16(i), C_i, D_i)."""
    if not 0 < len(c) == len(d) <= MAX_BATCH:
        raise EncodingError(f"a batch has 1..{MAX_BATCH} points, as many evaluated as blinded")
    seed = kdf32(TAG_VOPRF_SEED, public.encode())
    return [
        Scalar._trusted(hash_to_scalar_bytes(TAG_VOPRF_COMPOSITE, seed, i.to_bytes(2, "big"), ci.encode(), di.encode()))
        for i, (ci, di) in enumerate(zip(c, d, strict=True))
    ]


def _weighted_sum(weights: Sequence[Scalar], points: Sequence[Point]) -> Point:
    """Σ d_i·P_i; raises CryptoError for a zero weight or an identity sum (negligible unless forged)."""
    total = points[0].mul(weights[0])
    for w, p in zip(weights[1:], points[1:], strict=True):
        total = total + p.mul(w)
    return total


def _challenge(public: Point, m: Point, z: Point, t2: Point, t3: Point) -> Scalar:
    """c = H2S(voprf/challenge; pkS, M, Z, t2, t3)."""
    return Scalar._trusted(
        hash_to_scalar_bytes(TAG_VOPRF_CHALLENGE, public.encode(), m.encode(), z.encode(), t2.encode(), t3.encode())
    )


def generate_proof(key: KeyPair, c: Sequence[Point], d: Sequence[Point], *, rng: Rng = default_rng) -> Proof:
    """RFC 9497 §2.2.1 GenerateProof: one proof that pkS = k·G and D_i = k·C_i for every i.

    The proof's `c` is the challenge and its `z` the RFC's s = t − c·k, with t hedged (module docstring).
    Warning: the caller must make sure D_i = k·C_i; the proof is otherwise worthless. Raises EncodingError for
    an empty, oversized or uneven batch, CryptoError for a composite that is the identity (negligible)."""
    weights = _composite_weights(key.public, c, d)
    m = _weighted_sum(weights, c)
    z = m.mul(key.secret)  # ComputeCompositesFast: Z = k·M
    t = hedged_nonce(key.secret, [TAG_VOPRF_CHALLENGE, key.public.encode(), m.encode(), z.encode()], rng)
    challenge = _challenge(key.public, m, z, Point.base_mul(t), m.mul(t))
    return Proof(c=challenge, z=t - challenge * key.secret)


def verify_proof(public: Point, c: Sequence[Point], d: Sequence[Point], proof: Proof) -> None:
    """RFC 9497 §2.2.2 VerifyProof; raises ProofError unless log_G(pkS) = log_C_i(D_i) for every i is proven.

    Raises EncodingError for an empty, oversized or uneven batch."""
    weights = _composite_weights(public, c, d)
    try:
        m = _weighted_sum(weights, c)
        z = _weighted_sum(weights, d)
        t2 = Point.base_mul(proof.z) + public.mul(proof.c)
        t3 = m.mul(proof.z) + z.mul(proof.c)
    except (CryptoError, InvalidScalarError) as exc:
        raise ProofError("the server's VOPRF proof does not verify") from exc
    if not hmac.compare_digest(_challenge(public, m, z, t2, t3).encode(), proof.c.encode()):
        raise ProofError("the server's VOPRF proof does not verify")


def blind_evaluate(key: KeyPair, blinded: Sequence[Point], *, rng: Rng = default_rng) -> tuple[list[Point], Proof]:
    """RFC 9497 §3.3.2 BlindEvaluate over a batch: every D_i = k·C_i and one proof for them all.

    The blinded points must have come through `Point.decode`. Raises EncodingError for an empty batch or one
    of more than MAX_BATCH points."""
    if not 0 < len(blinded) <= MAX_BATCH:
        raise EncodingError(f"a batch has 1..{MAX_BATCH} points")
    evaluated = [p.mul(key.secret) for p in blinded]
    return evaluated, generate_proof(key, blinded, evaluated, rng=rng)


def _output(data: bytes, unblinded: Point) -> bytes:
    """TH(voprf/finalize; input, N): 64 bytes."""
    return transcript_hash(TAG_VOPRF_FINALIZE, data, unblinded.encode())


def finalize(
    inputs: Sequence[bytes],
    blinds: Sequence[Scalar],
    evaluated: Sequence[Point],
    blinded: Sequence[Point],
    public_key: Point,
    proof: Proof,
) -> list[bytes]:
    """RFC 9497 §3.3.2 Finalize over a batch: verify the proof, then unblind (N_i = r_i⁻¹·D_i) and hash.

    `blinded` must be the client's own blinded points (never the server's echo of them) and `public_key` one
    the client verified itself (for tokens, the epoch key of the signed directory), or the proof proves
    nothing. Raises ProofError (RFC: VerifyError), EncodingError for batches of different lengths."""
    if not len(inputs) == len(blinds) == len(evaluated) == len(blinded):
        raise EncodingError("inputs, blinds, evaluated and blinded points must be as many")
    verify_proof(public_key, blinded, evaluated, proof)
    return [_output(data, d.mul(r.invert())) for data, r, d in zip(inputs, blinds, evaluated, strict=True)]


def evaluate(secret: Scalar, data: bytes) -> bytes:
    """RFC 9497 §3.3.1 Evaluate: TH(voprf/finalize; input, k·H(input)), the output computed with the key
    (a redeemed token). Raises EncodingError or CryptoError as `hash_to_group` does."""
    return _output(data, hash_to_group(data).mul(secret))
