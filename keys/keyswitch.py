"""Full council re-key by threshold key switching: (R, C) under Y → (R2, C2) under Y2 (protocol doc §2.9).

Each member i of a k-set of the old council contributes T_i = t_i·G and U_i = x_i·R − t_i·Y2 with a proof
of knowledge of (x_i, t_i); anyone (the server too) verifies the proofs and combines
R2 = Σ λ_i·T_i, C2 = C − Σ λ_i·U_i = M + t·Y2. U_i is masked by t_i·Y2, so nobody learns x_i·R or M, and
the wrap and the identity ciphertext do not change. π_r does not cover (R2, C2): the new council
attests the switched headers by signing a Merkle root over (case_id, R2, C2, wraphash, origin)
(attestation.py), where `origin` is the digest of the header the helper signed, so a member can still
match the case file's signature to the header it reads (a difference from the reference, docs/protocol.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from keys.council import EpochRecord
from keys.encoding import u16
from keys.errors import CryptoError, EncodingError, ProofError, ProtocolError, QuorumError
from keys.group import Point, Rng, Scalar, default_rng, multi_mul
from keys.hashing import TAG_CTX_SWITCH, kdf32
from keys.kem import CASE_ID_SIZE, WRAP_SIZE, IdentityHeader, header_digest, wrap_hash
from keys.proofs import SwitchProof, prove_switch, verify_switch
from keys.sharing import lagrange_coefficients
from keys.wire import require_len, require_version


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchedHeader:
    """A header re-encrypted to the new council key. Its binding to the case is the new council's attestation."""

    r: bytes
    c: bytes
    wrap: bytes
    origin: bytes  # header_digest of the helper-signed header this one descends from

    def __post_init__(self) -> None:
        require_len("r", self.r, 32)
        require_len("c", self.c, 32)
        require_len("wrap", self.wrap, WRAP_SIZE)
        require_len("origin", self.origin, 32)

    def leaf(self, case_id: bytes) -> bytes:
        """What the new council attests for this case: (case_id, R2, C2, wraphash, origin)."""
        return case_id + self.r + self.c + wrap_hash(self.wrap) + self.origin


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchContribution:
    """Member `index`'s (T_i, U_i) for one case, with its proof (96 bytes)."""

    VERSION: ClassVar[int] = 1
    v: int
    case_id: bytes
    index: int
    t_point: bytes
    u_point: bytes
    proof: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("case_id", self.case_id, CASE_ID_SIZE)
        require_len("t_point", self.t_point, 32)
        require_len("u_point", self.u_point, 32)
        require_len("proof", self.proof, 96)


def switch_context(old: EpochRecord, new: EpochRecord) -> bytes:
    """swctx = KDF32(ctx/switch; cctx_old, cctx_new)."""
    return kdf32(TAG_CTX_SWITCH, old.context, new.context)


def _context(swctx: bytes, index: int, case_id: bytes, c: bytes) -> list[bytes]:
    return [swctx, u16(index), case_id, c]


def contribute_switch(
    *,
    old: EpochRecord,
    new: EpochRecord,
    index: int,
    share: Scalar,
    case_id: bytes,
    header: IdentityHeader | SwitchedHeader,
    swctx: bytes | None = None,
    rng: Rng = default_rng,
) -> SwitchContribution:
    """One member's contribution for one case (doc §2.9 step 3).

    Warning: the caller must have checked the header (π_r or attestation) and that `new` is properly
    signed in the key directory; contributing to an unverified Y2 hands the identity to its holder.
    """
    context = swctx if swctx is not None else switch_context(old, new)
    big_r = Point.decode_for_mul(header.r)
    t = Scalar.random(rng)
    t_point = Point.base_mul(t)
    u_point = big_r.mul(share) - new.key.mul(t)
    proof = prove_switch(
        share,
        t,
        share_key=old.share_key(index),
        header_r=big_r,
        new_key=new.key,
        t_point=t_point,
        u_point=u_point,
        context=_context(context, index, case_id, header.c),
        rng=rng,
    )
    return SwitchContribution(
        v=1, case_id=case_id, index=index, t_point=t_point.encode(), u_point=u_point.encode(), proof=proof.encode()
    )


def verify_contribution(
    contribution: SwitchContribution,
    *,
    old: EpochRecord,
    new: EpochRecord,
    header: IdentityHeader | SwitchedHeader,
    swctx: bytes | None = None,
) -> tuple[Point, Point]:
    """Verify one contribution (doc §2.9 step 4); returns (T_i, U_i). Raises ProofError naming the member."""
    context = swctx if swctx is not None else switch_context(old, new)
    index = contribution.index
    try:
        t_point = Point.decode_for_mul(contribution.t_point)  # multiplied first inside verify_switch
        u_point = Point.decode_for_mul(contribution.u_point)
        verify_switch(
            SwitchProof.decode(contribution.proof),
            share_key=old.share_key(index),
            header_r=Point.decode_for_mul(header.r),
            new_key=new.key,
            t_point=t_point,
            u_point=u_point,
            context=_context(context, index, contribution.case_id, header.c),
        )
    except (EncodingError, ProofError, ProtocolError) as exc:
        raise ProofError(f"key-switch contribution of member {index} does not verify") from exc
    return t_point, u_point


def combine_switch(
    contributions: Sequence[SwitchContribution],
    *,
    old: EpochRecord,
    new: EpochRecord,
    case_id: bytes,
    header: IdentityHeader | SwitchedHeader,
    swctx: bytes | None = None,
) -> SwitchedHeader:
    """Verify and combine k contributions into the switched header. Raises QuorumError or ProtocolError."""
    context = swctx if swctx is not None else switch_context(old, new)
    points: dict[int, tuple[Point, Point]] = {}
    for contribution in contributions:
        if contribution.case_id != case_id or contribution.index in points:
            continue
        try:
            points[contribution.index] = verify_contribution(contribution, old=old, new=new, header=header, swctx=context)
        except ProofError:
            continue
    return combine_verified(points, threshold=old.threshold, header=header)


def combine_verified(
    points: Mapping[int, tuple[Point, Point]], *, threshold: int, header: IdentityHeader | SwitchedHeader
) -> SwitchedHeader:
    """Combine k verified (T_i, U_i) (member index -> points, from verify_contribution) into the switched
    header: R2 = Σ λ_i·T_i, C2 = C − Σ λ_i·U_i. Raises QuorumError or ProtocolError."""
    if len(points) < threshold:
        raise QuorumError(f"{len(points)} valid key-switch contribution(s); {threshold} needed")
    subset = sorted(points)[:threshold]
    weights = lagrange_coefficients(subset)
    try:
        r2 = multi_mul((weights[i], points[i][0]) for i in subset)
        c2 = Point.decode(header.c) - multi_mul((weights[i], points[i][1]) for i in subset)
    except CryptoError as exc:
        raise ProtocolError("key-switch contributions do not combine") from exc
    origin = header.origin if isinstance(header, SwitchedHeader) else header_digest(header)
    return SwitchedHeader(r=r2.encode(), c=c2.encode(), wrap=header.wrap, origin=origin)
