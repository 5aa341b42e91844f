"""Blinded reveal: request, member partial decryption with DLEQ proof, verification, combination (doc §2.5–2.7).

The requester blinds R' = b·R and proves it (π_b); each approving member returns D_i = x_i·R' with a
DLEQ proof bound to the request context rctx. The server can verify and log partials but never combine
them into anything useful: it would need b. The requester combines k partials, unblinds with b⁻¹, gets
M = C − x·R, then K_wrap and the identity key. Nobody ever forms x.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Final

from keys import aead
from keys.accounts import AccountKeys, verify_signature
from keys.attestation import HeaderAttestation, check_attested_header
from keys.council import EpochRecord
from keys.encoding import u16, u64
from keys.errors import (
    CryptoError,
    DecryptionError,
    EncodingError,
    ProofError,
    ProtocolError,
    QuorumError,
)
from keys.group import Point, Rng, Scalar, default_rng, multi_mul, new_id
from keys.hashing import TAG_AD_PURPOSE, TAG_APPROVE, TAG_CTX_REQUEST, TAG_POK_B, TAG_REQUEST, kdf32
from keys.kem import CASE_ID_SIZE, IdentityHeader, check_header, unwrap_identity_key
from keys.keyswitch import SwitchedHeader
from keys.proofs import (
    Proof,
    prove_dleq,
    prove_knowledge,
    verify_dleq,
    verify_knowledge,
)
from keys.sharing import lagrange_coefficients
from keys.wire import require_len, require_text, require_version, signing_bytes

REQUEST_ID_SIZE: Final = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class RevealRequest:
    """A signed, blinded request to reveal one case's identity, with a purpose and an expiry.

    The purpose is sealed under the case key (members read it before approving; the server cannot),
    because a stated reason may name the person it is about.
    """

    VERSION: ClassVar[int] = 1
    v: int
    request_id: bytes
    case_id: bytes
    epoch: int
    requester: bytes
    purpose: bytes
    expiry: int
    blinded: bytes
    proof: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("request_id", self.request_id, REQUEST_ID_SIZE)
        require_len("case_id", self.case_id, CASE_ID_SIZE)
        require_len("requester", self.requester, 32)
        if not aead.is_padded_size(len(self.purpose)):
            raise EncodingError("purpose: sealed size is not a padding bucket")
        require_len("blinded", self.blinded, 32)
        require_len("proof", self.proof, 64)
        require_len("signature", self.signature, 64)
        u64(self.expiry)

    def context(self, record: EpochRecord) -> bytes:
        """rctx = KDF32(ctx/request; cctx, case_id, pk_Q, purpose, expiry, req_id) (doc §2.5)."""
        return kdf32(
            TAG_CTX_REQUEST,
            record.context,
            self.case_id,
            self.requester,
            self.purpose,
            u64(self.expiry),
            self.request_id,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PartialDecryption:
    """Member `index`'s D_i = x_i·R' with its DLEQ proof and approval signature."""

    VERSION: ClassVar[int] = 1
    v: int
    request_id: bytes
    index: int
    point: bytes
    proof: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("request_id", self.request_id, REQUEST_ID_SIZE)
        require_len("point", self.point, 32)
        require_len("proof", self.proof, 64)
        require_len("signature", self.signature, 64)


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestedHeader:
    """A switched header with the new council's attestation and this case's inclusion path."""

    header: SwitchedHeader
    attestation: HeaderAttestation
    leaf_index: int
    path: tuple[bytes, ...]

    def check(self, *, case_id: bytes, record: EpochRecord) -> None:
        check_attested_header(
            self.header, case_id=case_id, record=record, attestation=self.attestation, index=self.leaf_index, path=self.path
        )


Header = IdentityHeader | SwitchedHeader


class Blinding:
    """The requester's blinding scalar b. Keep it until `combine`, then erase it."""

    __slots__ = ("scalar",)

    def __init__(self, scalar: Scalar) -> None:
        self.scalar = scalar

    def encode(self) -> bytes:
        return self.scalar.encode()

    @classmethod
    def decode(cls, data: bytes) -> Blinding:
        return cls(Scalar.decode_nonzero(data))


def request_reveal(
    *,
    record: EpochRecord,
    header: Header,
    case_id: bytes,
    keys: AccountKeys,
    purpose: str,
    case_key: bytes,
    expiry: int,
    rng: Rng = default_rng,
) -> tuple[RevealRequest, Blinding]:
    """Build a blinded, signed request (doc §2.5); the purpose is sealed under the case key.

    The caller must have checked the header (check_header)."""
    require_text("purpose", purpose, max_len=1000)
    big_r = Point.decode(header.r)
    b = Scalar.random(rng)
    blinded = big_r.mul(b)
    request_id = new_id(rng, REQUEST_ID_SIZE)
    draft = RevealRequest(
        v=1,
        request_id=request_id,
        case_id=case_id,
        epoch=record.epoch,
        requester=keys.public().sign_key,
        purpose=aead.seal_padded(case_key, purpose.encode("utf-8"), _purpose_ad(case_id, request_id), rng=rng),
        expiry=expiry,
        blinded=blinded.encode(),
        proof=bytes(64),
        signature=bytes(64),
    )
    proof = prove_knowledge(TAG_POK_B, big_r, blinded, b, [draft.context(record)], rng=rng)
    with_proof = replace(draft, proof=proof.encode())
    return replace(with_proof, signature=keys.sign(TAG_REQUEST, signing_bytes(with_proof))), Blinding(b)


def _purpose_ad(case_id: bytes, request_id: bytes) -> bytes:
    return kdf32(TAG_AD_PURPOSE, case_id, request_id)


def open_purpose(request: RevealRequest, case_key: bytes) -> str:
    """The stated purpose, for the member deciding whether to approve. Raises DecryptionError."""
    plaintext = aead.open_padded(case_key, request.purpose, _purpose_ad(request.case_id, request.request_id))
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptionError("purpose is not text") from exc


def check_request(request: RevealRequest, *, record: EpochRecord, header: Header, now: int) -> Point:
    """Check who asks, the signature, the expiry and π_b (R' is a multiple of this case's R); returns R'.

    Raises ProtocolError (wrong epoch, unknown requester, expired) or ProofError.
    """
    if request.epoch != record.epoch:
        raise ProtocolError("request was made for another council epoch")
    if record.member_by_sign_key(request.requester) is None:
        raise ProtocolError("requester is not a member of the current council")
    if request.expiry <= now:
        raise ProtocolError("request has expired")
    verify_signature(request.requester, TAG_REQUEST, signing_bytes(request), request.signature)
    blinded = Point.decode(request.blinded)
    try:
        verify_knowledge(TAG_POK_B, Point.decode(header.r), blinded, Proof.decode(request.proof), [request.context(record)])
    except ProofError as exc:
        raise ProofError("request does not prove its point derives from this case") from exc
    return blinded


def approve_reveal(
    request: RevealRequest,
    *,
    record: EpochRecord,
    header: IdentityHeader | AttestedHeader,
    index: int,
    share: Scalar,
    keys: AccountKeys,
    now: int,
    attested_by: EpochRecord | None = None,
    rng: Rng = default_rng,
) -> PartialDecryption:
    """Member `index` decrypts its part for this request (doc §2.6), after checking the case header
    (π_r, or the council's attestation after a re-key) and the request. `attested_by` is the council epoch
    that attested a switched header when a membership change (same key) came after it; default `record`.

    Warning: call only after a human approved this request: a member who multiplies points on demand is
    a decryption oracle (doc §2.11 item 11); the checks here make sure the point derives from this case.
    """
    if isinstance(header, IdentityHeader):
        check_header(header, kid=record.kid, case_id=request.case_id)
    else:
        attesting = attested_by or record
        if not hmac.compare_digest(attesting.kid, record.kid):
            raise ProtocolError("the header was attested for another council key")
        header.check(case_id=request.case_id, record=attesting)
    blinded = check_request(
        request, record=record, header=header.header if isinstance(header, AttestedHeader) else header, now=now
    )
    share_key = record.share_key(index)
    if Point.base_mul(share) != share_key:
        raise ProtocolError("this share does not belong to member index in this epoch")
    point = blinded.mul(share)
    proof = prove_dleq(share, share_key, blinded, point, [request.context(record), u16(index)], rng=rng)
    draft = PartialDecryption(
        v=1, request_id=request.request_id, index=index, point=point.encode(), proof=proof.encode(), signature=bytes(64)
    )
    return replace(draft, signature=keys.sign(TAG_APPROVE, signing_bytes(draft)))


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A request with its context and blinded point computed once, for checking many partials."""

    request: RevealRequest
    record: EpochRecord
    context: bytes
    blinded: Point


def prepare_request(request: RevealRequest, record: EpochRecord) -> PreparedRequest:
    """Compute rctx and decode R' once. Raises InvalidPointError."""
    return PreparedRequest(request, record, request.context(record), Point.decode(request.blinded))


def verify_partial(prepared: PreparedRequest, partial: PartialDecryption) -> Point:
    """Check a partial's approval signature and DLEQ proof (server on arrival, requester again); returns D_i.

    Raises ProtocolError (another request, not a member) or ProofError.
    """
    record = prepared.record
    if not hmac.compare_digest(partial.request_id, prepared.request.request_id):
        raise ProtocolError("partial decryption belongs to another request", culprits=[partial.index])
    member = record.member(partial.index)
    verify_signature(member.sign_key, TAG_APPROVE, signing_bytes(partial), partial.signature)
    try:
        point = Point.decode_for_mul(partial.point)  # verify_dleq multiplies it first, which validates it
        proof = Proof.decode(partial.proof)
        verify_dleq(record.share_key(partial.index), prepared.blinded, point, proof, [prepared.context, u16(partial.index)])
    except (EncodingError, ProofError) as exc:
        raise ProofError(f"partial decryption of member {partial.index} does not verify") from exc
    return point


def _combine_subset(points: dict[int, Point], subset: Sequence[int], b_inv: Scalar, c: Point) -> Point:
    weights = lagrange_coefficients(subset)
    combined = multi_mul((weights[i], points[i]) for i in subset)  # x·b·R
    return c - combined.mul(b_inv)  # M = C − x·R


def combine_reveal(
    request: RevealRequest,
    blinding: Blinding,
    partials: Sequence[PartialDecryption],
    *,
    record: EpochRecord,
    header: Header,
) -> bytes:
    """Verify the partials, combine k of them, unblind, and open the identity key (doc §2.7).

    With more than k valid partials a second k-subset must give the same M (robustness check).
    Raises QuorumError with fewer than k valid partials from distinct members; ProtocolError when two
    subsets disagree; DecryptionError when the wrap does not open.
    """
    prepared = prepare_request(request, record)
    points: dict[int, Point] = {}
    for partial in partials:
        if partial.index in points:
            continue
        try:
            points[partial.index] = verify_partial(prepared, partial)
        except (ProofError, ProtocolError):
            continue  # a bad partial is the server's to log; the requester just does not use it
    k = record.threshold
    if len(points) < k:
        raise QuorumError(f"{len(points)} valid approval(s) from distinct members; {k} needed")
    order = sorted(points)
    b_inv = blinding.scalar.invert()
    c = Point.decode(header.c)
    try:
        m = _combine_subset(points, order[:k], b_inv, c)
        if len(order) > k and _combine_subset(points, order[-k:], b_inv, c) != m:
            raise ProtocolError("partial decryptions disagree; do not trust this result")
    except CryptoError as exc:
        if isinstance(exc, ProtocolError):
            raise
        raise ProtocolError("partial decryptions do not combine") from exc
    return unwrap_identity_key(case_id=request.case_id, wrap=header.wrap, m=m)
