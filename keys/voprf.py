"""The VOPRF of RFC 9497 (mode 0x01, VOPRF) with the ciphersuite ristretto255-SHA512 (RFC 9497 §4.1).

Client: `blind` each input, send the blinded elements, then `finalize` the server's answer (which verifies
the batched DLEQ proof against the server's public key before unblinding). Server: `blind_evaluate` a batch
with one proof (RFC 9497 §3.3.2, GenerateProof batched as in §2.2.1), and `evaluate` to recompute an
output from an input it is shown later (a token being spent).

Everything follows the RFC's pseudocode step by step, with the RFC's names in comments; the group is
`keys/ristretto.py` (libsodium), SHA-512 is libsodium's. Randomness (the blinds and the proof scalar r) is
`Scalar.random(rng)`: 64 bytes reduced mod L (RFC 9497 §4.7, "extra random bits"), never zero. The RFC's
test vectors fix the blinds and r; `tests/keys/test_voprf.py` injects them through `rng`.

Unlike `keys/proofs.py`, the proof scalar r is not hedged with the secret key: the RFC fixes r = RandomScalar()
and its vectors depend on it. A repeated r for two different batches would reveal the key, so `rng` must
be libsodium's in production (the default).

Every received element is decoded with `Element.decode` (canonical, not the identity) by the caller before
it reaches these functions; `Proof.decode` checks that both scalars are below L.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from keys.errors import CryptoError, EncodingError, InvalidScalarError, ProofError
from keys.group import Rng, Scalar, default_rng
from keys.proofs import Proof
from keys.ristretto import GENERATOR, Element, hash_to_group, hash_to_scalar, sha512

MODE_VOPRF: Final = 0x01
SUITE: Final = b"ristretto255-SHA512"
#: RFC 9497 §3.1 CreateContextString(modeVOPRF, "ristretto255-SHA512")
CONTEXT_STRING: Final = b"OPRFV1-" + bytes([MODE_VOPRF]) + b"-" + SUITE
_DST_HASH_TO_GROUP: Final = b"HashToGroup-" + CONTEXT_STRING
_DST_HASH_TO_SCALAR: Final = b"HashToScalar-" + CONTEXT_STRING
_DST_DERIVE_KEY_PAIR: Final = b"DeriveKeyPair" + CONTEXT_STRING
_SEED_DST: Final = b"Seed-" + CONTEXT_STRING
#: RFC 9497 §5.1: private inputs are shorter than 2**16 - 1 bytes
MAX_INPUT: Final = 2**16 - 2
#: a batch index is I2OSP(i, 2) in the composite transcript
MAX_BATCH: Final = 2**16
OUTPUT_SIZE: Final = 64


def _i2osp2(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _lp2(data: bytes) -> bytes:
    """I2OSP(len(data), 2) || data, the RFC's framing."""
    return _i2osp2(len(data)) + data


@dataclass(frozen=True, slots=True)
class KeyPair:
    """The server's VOPRF key: skS and pkS = skS·B. The secret never appears in repr."""

    secret: Scalar
    public: Element

    @classmethod
    def from_secret(cls, secret: Scalar) -> KeyPair:
        """Raises CryptoError for the zero scalar."""
        return cls(secret=secret, public=Element.base_mul(secret))


def generate_key_pair(*, rng: Rng = default_rng) -> KeyPair:
    """RFC 9497 §3.2 GenerateKeyPair: a uniformly random non-zero skS."""
    return KeyPair.from_secret(Scalar.random(rng))


def derive_key_pair(seed: bytes, info: bytes) -> KeyPair:
    """RFC 9497 §3.2.1 DeriveKeyPair from a 32-byte secret seed and a public info string.

    Raises EncodingError for a seed that is not 32 bytes or an info of 2**16 bytes or more, CryptoError when
    256 counters all give zero (never happens)."""
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise EncodingError("a key seed is 32 bytes")
    if not isinstance(info, bytes) or len(info) > MAX_INPUT:
        raise EncodingError(f"key info is limited to {MAX_INPUT} bytes")
    derive_input = seed + _lp2(info)
    for counter in range(256):
        sk = hash_to_scalar(derive_input + bytes([counter]), _DST_DERIVE_KEY_PAIR)
        if not sk.is_zero():
            return KeyPair.from_secret(sk)
    raise CryptoError("DeriveKeyPair found no non-zero key")  # pragma: no cover - probability 2**-64000


def _check_input(data: bytes) -> None:
    if not isinstance(data, bytes) or len(data) > MAX_INPUT:
        raise EncodingError(f"a VOPRF input is bytes of at most {MAX_INPUT} bytes")


def _input_element(data: bytes) -> Element:
    """HashToGroup(input); raises EncodingError for an oversized input, CryptoError (RFC 9497:
    InvalidInputError) for an input that maps to the identity."""
    _check_input(data)
    return hash_to_group(data, _DST_HASH_TO_GROUP)


def blind(data: bytes, *, rng: Rng = default_rng) -> tuple[Scalar, Element]:
    """RFC 9497 §3.3.1 Blind: (blind, blindedElement = blind·HashToGroup(input)).

    The blind is secret (it links the blinded element to the output): keep it until `finalize`, then drop it.
    Raises EncodingError for an input of 2**16 - 1 bytes or more."""
    element = _input_element(data)
    r = Scalar.random(rng)
    return r, element.mul(r)


def _composite_weights(b: Element, c: Sequence[Element], d: Sequence[Element]) -> list[Scalar]:
    """The d_i of RFC 9497 §2.2.1 ComputeComposites, derived from B and every (C[i], D[i])."""
    if not 0 < len(c) == len(d) <= MAX_BATCH:
        raise EncodingError(f"a batch has 1..{MAX_BATCH} elements, as many evaluated as blinded")
    seed = sha512(_lp2(b.encode()) + _lp2(_SEED_DST))
    return [
        hash_to_scalar(_lp2(seed) + _i2osp2(i) + _lp2(ci.encode()) + _lp2(di.encode()) + b"Composite", _DST_HASH_TO_SCALAR)
        for i, (ci, di) in enumerate(zip(c, d, strict=True))
    ]


def _weighted_sum(weights: Sequence[Scalar], elements: Sequence[Element]) -> Element:
    """Σ d_i·E_i; raises CryptoError for a zero weight or an identity sum (negligible unless forged)."""
    total = elements[0].mul(weights[0])
    for w, e in zip(weights[1:], elements[1:], strict=True):
        total = total + e.mul(w)
    return total


def _challenge(b: Element, m: Element, z: Element, t2: Element, t3: Element) -> Scalar:
    transcript = b"".join(_lp2(e.encode()) for e in (b, m, z, t2, t3)) + b"Challenge"
    return hash_to_scalar(transcript, _DST_HASH_TO_SCALAR)


def generate_proof(
    k: Scalar, a: Element, b: Element, c: Sequence[Element], d: Sequence[Element], *, rng: Rng = default_rng
) -> Proof:
    """RFC 9497 §2.2.1 GenerateProof: one proof that k·A = B and k·C[i] = D[i] for every i.

    The proof's `c` is the challenge and its `z` the RFC's s = r − c·k. Warning: the caller must make sure
    B = k·A and D[i] = k·C[i]; the proof is otherwise worthless. Raises EncodingError for an empty,
    oversized or uneven batch, CryptoError for a composite that is the identity (negligible)."""
    weights = _composite_weights(b, c, d)
    m = _weighted_sum(weights, c)
    z = m.mul(k)  # ComputeCompositesFast: Z = k·M
    r = Scalar.random(rng)
    challenge = _challenge(b, m, z, a.mul(r), m.mul(r))
    return Proof(c=challenge, z=r - challenge * k)


def verify_proof(a: Element, b: Element, c: Sequence[Element], d: Sequence[Element], proof: Proof) -> None:
    """RFC 9497 §2.2.2 VerifyProof; raises ProofError unless log_A(B) = log_C[i](D[i]) for every i is proven.

    Raises EncodingError for an empty, oversized or uneven batch."""
    weights = _composite_weights(b, c, d)
    try:
        m = _weighted_sum(weights, c)
        z = _weighted_sum(weights, d)
        t2 = a.mul(proof.z) + b.mul(proof.c)
        t3 = m.mul(proof.z) + z.mul(proof.c)
    except (CryptoError, InvalidScalarError) as exc:
        raise ProofError("the server's VOPRF proof does not verify") from exc
    if not hmac.compare_digest(_challenge(b, m, z, t2, t3).encode(), proof.c.encode()):
        raise ProofError("the server's VOPRF proof does not verify")


def blind_evaluate(key: KeyPair, blinded: Sequence[Element], *, rng: Rng = default_rng) -> tuple[list[Element], Proof]:
    """RFC 9497 §3.3.2 BlindEvaluate over a batch: every skS·blindedElement and one proof for them all.

    The blinded elements must have come through `Element.decode`. Raises EncodingError for an empty batch
    or one of more than 2**16 elements."""
    if not 0 < len(blinded) <= MAX_BATCH:
        raise EncodingError(f"a batch has 1..{MAX_BATCH} elements")
    evaluated = [e.mul(key.secret) for e in blinded]
    return evaluated, generate_proof(key.secret, GENERATOR, key.public, blinded, evaluated, rng=rng)


def _output(data: bytes, unblinded: Element) -> bytes:
    return sha512(_lp2(data) + _lp2(unblinded.encode()) + b"Finalize")


def finalize(
    inputs: Sequence[bytes],
    blinds: Sequence[Scalar],
    evaluated: Sequence[Element],
    blinded: Sequence[Element],
    public_key: Element,
    proof: Proof,
) -> list[bytes]:
    """RFC 9497 §3.3.2 Finalize over a batch: verify the proof, then unblind and hash each output.

    `blinded` must be the client's own blinded elements (never the server's echo of them) and `public_key`
    one the client verified itself (for tokens, the epoch key of the signed directory), or the proof proves
    nothing. Raises ProofError (RFC: VerifyError), EncodingError for batches of different lengths."""
    if not len(inputs) == len(blinds) == len(evaluated) == len(blinded):
        raise EncodingError("inputs, blinds, evaluated and blinded elements must be as many")
    verify_proof(GENERATOR, public_key, blinded, evaluated, proof)
    return [_output(data, e.mul(r.invert())) for data, r, e in zip(inputs, blinds, evaluated, strict=True)]


def evaluate(secret: Scalar, data: bytes) -> bytes:
    """RFC 9497 §3.3.1 Evaluate: the output for `data` computed with the secret key (a redeemed token).

    Raises EncodingError for an oversized input, CryptoError (RFC: InvalidInputError) for an input that maps
    to the identity."""
    return _output(data, _input_element(data).mul(secret))
