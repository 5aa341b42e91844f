"""Council membership change without changing Y: verifiable share redistribution (protocol doc §2.8).

A set S of old members (at least the old threshold k) each re-share their own share x_i with a fresh
polynomial g_i of degree k'−1 whose constant term is x_i, so the commitment E_{i,0} must equal the public
Y_i (a cheating old member is caught and named). New member j receives g_i(j) from every dealer and
interpolates x'_j = Σ λ_i·g_i(j); the group commitments are Ĉ'_m = Σ λ_i·E_{i,m}, and Ĉ'_0 == Y is checked.
Nothing encrypted to Y changes. Shares of different epochs never combine (different polynomials).

Shares travel as in the DKG (ceremony.py): each new member first posts a signed per-ceremony key, dealers
encrypt to it, a share not signed by its dealer is dropped as the relay's, and a bad signed one is proven by
a verifiable complaint that publishes no honest member's secret.

Consistency of views is settled by the new epoch record itself: every new member and k old members
sign the same record (key directory rule), and a split view yields different records.

Warning: redistribution is soft revocation. The old shares still open everything until their holders
erase them; remove a member for cause by a full re-key (keyswitch.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from keys.accounts import AccountKeys
from keys.ceremony import (
    DealerSecret,
    DkgCommitment,
    DkgComplaint,
    DkgKey,
    DkgShare,
    box_share,
    check_commitment_signature,
    check_key,
    check_share_signature,
    judge_complaint,
    make_key,
    new_key_secret,
    open_share,
    sign_commitment,
)
from keys.council import CouncilMember, EpochRecord, Participant, check_council_shape
from keys.dkg import NONCE_SIZE, DkgResult
from keys.encoding import u16, u32
from keys.errors import CryptoError, EncodingError, ProtocolError
from keys.group import Point, Rng, Scalar, default_rng, multi_mul
from keys.hashing import TAG_CTX_REDIST, kdf32
from keys.sharing import Polynomial, evaluate_commitments, lagrange_coefficients
from keys.wire import require_len, require_version


@dataclass(frozen=True, slots=True, kw_only=True)
class RedistParams:
    """Old epoch (by digest), the dealing old members, and the new council's epoch, threshold and members."""

    VERSION: ClassVar[int] = 2
    v: int
    old_digest: bytes
    dealers: tuple[int, ...]
    epoch: int
    threshold: int
    participants: tuple[Participant, ...]
    nonce: bytes  # fresh per membership change (doc §6)

    def __post_init__(self) -> None:
        require_version(self)
        check_council_shape(self.threshold, [p.index for p in self.participants])
        if len(set(self.dealers)) != len(self.dealers):
            raise EncodingError("dealers must be distinct")
        require_len("nonce", self.nonce, NONCE_SIZE)

    @property
    def sid(self) -> bytes:
        """KDF32(ctx/redistribute; old digest, u32 e, u16 k', nonce, u16 dealer…, participant…) (doc §6)."""
        parts = [self.old_digest, u32(self.epoch), u16(self.threshold), self.nonce, *(u16(i) for i in sorted(self.dealers))]
        parts += [p.encode() for p in sorted(self.participants, key=lambda p: p.index)]
        return kdf32(TAG_CTX_REDIST, *parts)

    def participant(self, index: int) -> Participant:
        for p in self.participants:
            if p.index == index:
                return p
        raise ProtocolError(f"member {index} is not in the new council")

    def check_against(self, old: EpochRecord) -> None:
        """Raise ProtocolError unless this session fits the old record (digest, dealers, epoch order)."""
        if self.old_digest != old.digest():
            raise ProtocolError("redistribution was opened for another council epoch")
        if self.epoch <= old.epoch:
            raise ProtocolError("the new epoch must come after the old one")
        if len(self.dealers) < old.threshold:
            raise ProtocolError(f"{len(self.dealers)} dealing member(s); the old threshold is {old.threshold}")
        for i in self.dealers:
            old.member(i)


def new_member_key(
    params: RedistParams, index: int, keys: AccountKeys, *, rng: Rng = default_rng
) -> tuple[DealerSecret, DkgKey]:
    """New member `index`'s fresh share-encryption key and its signed DkgKey message (posted before dealing)."""
    params.participant(index)
    secret = new_key_secret(rng)
    return DealerSecret(index, None, secret), make_key(keys, params.sid, index, secret, rng=rng)


def check_member_key(params: RedistParams, message: DkgKey) -> Point:
    """A new member's key, signed by the participant it names for this session. Raises ProtocolError."""
    return check_key(params.sid, message, params.participant(message.index).sign_key)


def redeal(
    params: RedistParams, old: EpochRecord, index: int, share: Scalar, keys: AccountKeys, *, rng: Rng = default_rng
) -> tuple[Polynomial, DkgCommitment]:
    """Old member `index` re-shares x_i: g_i(0) = x_i, degree k'−1 (doc §6); its signed commitments."""
    params.check_against(old)
    if index not in params.dealers:
        raise ProtocolError(f"member {index} is not a dealer of this redistribution")
    if Point.base_mul(share) != old.share_key(index):
        raise ProtocolError("this share does not belong to member index in the old epoch")
    polynomial = Polynomial.random(params.threshold - 1, constant=share, rng=rng)
    commitments = tuple(c.encode() for c in polynomial.commitments())
    return polynomial, sign_commitment(keys, params.sid, index, commitments, bytes(64))


def check_recommitment(params: RedistParams, old: EpochRecord, message: DkgCommitment) -> tuple[Point, ...]:
    """A dealer's signed commitments; E_{i,0} must be its old Y_i. Raises ProtocolError naming the dealer."""
    if message.sid != params.sid or message.index not in params.dealers:
        raise ProtocolError("commitment belongs to another redistribution", culprits=[message.index])
    check_commitment_signature(params.sid, message, old.member(message.index).sign_key)
    if len(message.commitments) != params.threshold:
        raise ProtocolError(f"dealer {message.index} committed to the wrong degree", culprits=[message.index])
    try:
        points = tuple(Point.decode(c) for c in message.commitments)
    except EncodingError as exc:
        raise ProtocolError(f"dealer {message.index}: {exc}", culprits=[message.index]) from exc
    if points[0] != old.share_key(message.index):
        raise ProtocolError(f"dealer {message.index} does not re-share its own share", culprits=[message.index])
    return points


def redeal_shares(
    params: RedistParams,
    old: EpochRecord,
    index: int,
    polynomial: Polynomial,
    keys: AccountKeys,
    member_keys: Mapping[int, Point],
    *,
    rng: Rng = default_rng,
) -> tuple[DkgShare, ...]:
    """g_i(j) encrypted to every new member j's checked key (doc §6)."""
    return tuple(
        box_share(params.sid, keys, index, p.index, member_keys[p.index], polynomial.evaluate(p.index), rng=rng)
        for p in params.participants
    )


def share_is_signed(params: RedistParams, old: EpochRecord, message: DkgShare) -> bool:
    """True iff the dealer the share names signed it for this session (else the relay made it: drop it)."""
    try:
        check_share_signature(params.sid, message, old.member(message.sender).sign_key)
    except ProtocolError:
        return False
    return message.sender in params.dealers


def receive_reshare(
    params: RedistParams, old: EpochRecord, secret: DealerSecret, own_key: Point, commitment: DkgCommitment, message: DkgShare
) -> Scalar:
    """New member `secret.index` opens and checks g_sender(index) (the caller checked the dealer's signature).
    Raises ProtocolError naming the dealer: then complain (ceremony.complain)."""
    if commitment.index != message.sender:
        raise ProtocolError("commitment and share are from different dealers", culprits=[message.sender])
    return open_share(params.sid, secret, own_key, message, check_recommitment(params, old, commitment))


def judge(
    params: RedistParams,
    old: EpochRecord,
    complaint: DkgComplaint,
    commitments: Mapping[int, DkgCommitment],
    member_keys: Mapping[int, Point],
) -> bool:
    """True when a complaint proves its dealer (old index) dishonest, False when it proves the accusing new
    member dishonest. Raises ProtocolError for a complaint that proves nothing."""
    try:
        return judge_complaint(
            params.sid,
            complaint,
            accuser_sign_key=params.participant(complaint.accuser).sign_key,
            accuser_key=member_keys[complaint.accuser],
            dealer_sign_key=old.member(complaint.accused).sign_key,
            dealer_commitments=check_recommitment(params, old, commitments[complaint.accused]),
        )
    except KeyError as exc:
        raise ProtocolError("a complaint about a dealer whose commitments are missing") from exc


def expected_record(params: RedistParams, old: EpochRecord, commitments: Sequence[DkgCommitment]) -> EpochRecord:
    """The new epoch record, computed from the dealers' public commitments alone (old members who leave
    can check and sign it too): Ĉ'_m = Σ λ_i·E_{i,m}, Ĉ'_0 == Y, Y'_j for every new member."""
    params.check_against(old)
    by_dealer = {c.index: check_recommitment(params, old, c) for c in commitments}
    dealers = sorted(params.dealers)
    missing = [i for i in dealers if i not in by_dealer]
    if missing:
        raise ProtocolError(f"no commitment yet from dealer(s) {missing}", culprits=missing)
    weights = lagrange_coefficients(dealers)
    try:
        group = [multi_mul((weights[i], by_dealer[i][m]) for i in dealers) for m in range(params.threshold)]
    except CryptoError as exc:
        raise ProtocolError("new group commitments cancel out; restart with other dealers") from exc
    if group[0] != old.key:
        raise ProtocolError("redistribution would change the council key; a dealer cheated")
    members = tuple(
        CouncilMember(
            index=p.index,
            account=p.account,
            sign_key=p.sign_key,
            box_key=p.box_key,
            share_key=evaluate_commitments(group, p.index).encode(),
        )
        for p in sorted(params.participants, key=lambda p: p.index)
    )
    return EpochRecord(
        v=1,
        epoch=params.epoch,
        threshold=params.threshold,
        council_key=old.council_key,
        members=members,
        commitments=tuple(c.encode() for c in group),
        origin=params.sid,
    )


def finish_redistribution(
    params: RedistParams, old: EpochRecord, index: int, commitments: Sequence[DkgCommitment], shares: Mapping[int, Scalar]
) -> DkgResult:
    """x'_j = Σ λ_i·g_i(j), checked against the expected record: x'_j·G == Y'_j (doc §2.8 step 2)."""
    record = expected_record(params, old, commitments)
    dealers = sorted(params.dealers)
    missing = [i for i in dealers if i not in shares]
    if missing:
        raise ProtocolError(f"no verified share yet from dealer(s) {missing}", culprits=missing)
    weights = lagrange_coefficients(dealers)
    new_share = weights[dealers[0]] * shares[dealers[0]]
    for i in dealers[1:]:
        new_share = new_share + weights[i] * shares[i]
    if Point.base_mul(new_share) != record.share_key(index):
        raise ProtocolError("own new share does not match the group commitments")
    return DkgResult(share=new_share, record=record)
