"""The identity header: threshold ElGamal on a random point M carrying the identity key (doc §2.4).

`R = r·G`, `C = M + r·Y`, `K_wrap = KDF32(kdf/case-key; case_id, M)`, `wrap = AEAD(K_wrap, IK)`, and
`π_r = PoK{r : R = r·G}` bound to (kid, case_id, C, wraphash) so a header cannot be moved to another
case (TDH1-style label binding). Because K_wrap depends on M only, the header can later be switched to a
new council key without anyone learning M (keyswitch.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from keys import aead
from keys.errors import DecryptionError, ProofError
from keys.group import Point, Rng, Scalar, default_rng
from keys.hashing import TAG_AD_WRAP, TAG_KDF_CASE_KEY, TAG_POK_R, TAG_WRAPHASH, digest, kdf32
from keys.proofs import BASE, Proof, prove_knowledge, verify_knowledge
from keys.wire import encode_json, require_len

CASE_ID_SIZE: Final = 16
WRAP_SIZE: Final = aead.OVERHEAD + 32


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityHeader:
    """(R, C, wrap, π_r): everything needed, with k members' help, to recover the identity key."""

    r: bytes
    c: bytes
    wrap: bytes
    proof: bytes

    def __post_init__(self) -> None:
        require_len("r", self.r, 32)
        require_len("c", self.c, 32)
        require_len("wrap", self.wrap, WRAP_SIZE)
        require_len("proof", self.proof, 64)


def wrap_hash(wrap: bytes) -> bytes:
    return kdf32(TAG_WRAPHASH, wrap)


def header_digest(header: IdentityHeader) -> bytes:
    """What the helper signs for the header (SignedCaseFile.header_digest); a switched header carries the
    digest of the header it descends from (keyswitch.py)."""
    return digest(encode_json(header))


def _pok_context(kid: bytes, case_id: bytes, c: bytes, wrap: bytes) -> list[bytes]:
    return [kid, case_id, c, wrap_hash(wrap)]


def wrap_key(case_id: bytes, m: Point) -> bytes:
    """K_wrap = KDF32(kdf/case-key; case_id, M)."""
    return kdf32(TAG_KDF_CASE_KEY, case_id, m.encode())


def encapsulate(*, council_key: Point, kid: bytes, case_id: bytes, identity_key: bytes, rng: Rng = default_rng) -> IdentityHeader:
    """Seal the 32-byte identity key to the council key (doc §2.4 steps 2-4)."""
    require_len("case_id", case_id, CASE_ID_SIZE)
    require_len("identity_key", identity_key, 32)
    r = Scalar.random(rng)
    m = Point.base_mul(Scalar.random(rng))
    big_r = Point.base_mul(r)
    c = (m + council_key.mul(r)).encode()
    wrap = aead.seal(wrap_key(case_id, m), identity_key, kdf32(TAG_AD_WRAP, case_id), rng=rng)
    proof = prove_knowledge(TAG_POK_R, BASE, big_r, r, _pok_context(kid, case_id, c, wrap), rng=rng)
    return IdentityHeader(r=big_r.encode(), c=c, wrap=wrap, proof=proof.encode())


def check_header(header: IdentityHeader, *, kid: bytes, case_id: bytes) -> tuple[Point, Point]:
    """Validate R and C and verify π_r against this case id and council key id; returns (R, C).

    Raises InvalidPointError for a bad C, ProofError for a bad R or when the header belongs to another case or key.
    """
    require_len("case_id", case_id, CASE_ID_SIZE)
    big_r = Point.decode_for_mul(header.r)  # validated by its multiplication inside verify_knowledge, first thing
    c = Point.decode(header.c)  # only hashed and added: validated here
    try:
        verify_knowledge(TAG_POK_R, BASE, big_r, Proof.decode(header.proof), _pok_context(kid, case_id, header.c, header.wrap))
    except ProofError as exc:
        raise ProofError("identity header does not belong to this case and council key") from exc
    return big_r, c


def unwrap_identity_key(*, case_id: bytes, wrap: bytes, m: Point) -> bytes:
    """Open the wrap with K_wrap(case_id, M); raises DecryptionError when M is wrong."""
    try:
        return aead.open_sealed(wrap_key(case_id, m), wrap, kdf32(TAG_AD_WRAP, case_id))
    except DecryptionError as exc:
        raise DecryptionError("identity key does not open: the combined partial decryptions are wrong") from exc
