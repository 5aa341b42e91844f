"""Dealer-free key generation for the council (Pedersen DKG with Schnorr PoKs; protocol doc §3).

Pure step functions; the server only relays messages, and is not trusted to relay them faithfully. The order
of a ceremony:

1. every member `deal`s and broadcasts a signed `DkgCommitment` (Feldman commitments + PoK of a_{i,0}) and a
   signed `DkgKey` (its per-ceremony share-encryption key, ceremony.py);
2. every member runs `check_round1` (names any member whose signed message is invalid) and broadcasts `echo`
   of the transcript hash; `check_echoes` continues only when all n signed the same transcript (a relaying
   server cannot show members different views);
3. every member sends `deal_shares` (one encrypted share per other member) and runs `receive_share` on the
   first share each dealer signed for it; a bad one leads to a verifiable `complain` (ceremony.py), which
   every member settles with `judge` without any share being published;
4. `finish` sums the shares into x_j and builds the epoch record; all members sign it (directory entry).

A member proven dishonest is named and the ceremony restarts without them (the ElectionGuard rule).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from keys.accounts import AccountKeys, verify_signature
from keys.ceremony import (
    DealerSecret,
    DkgCommitment,
    DkgComplaint,
    DkgEcho,
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
from keys.encoding import u16, u32
from keys.errors import (
    CryptoError,
    EncodingError,
    ProofError,
    ProtocolError,
    TesseraError,
)
from keys.group import Point, Rng, Scalar, default_rng, point_sum
from keys.hashing import (
    TAG_CTX_DKG,
    TAG_DKG_ECHO,
    TAG_DKG_TRANSCRIPT,
    TAG_POK_COEF,
    kdf32,
)
from keys.proofs import BASE, Proof, prove_knowledge, verify_knowledge
from keys.sharing import Polynomial, evaluate_commitments
from keys.wire import encode_json, require_len, require_version, signing_bytes

NONCE_SIZE = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgParams:
    """What the administrator opens: the epoch, the threshold and the participants."""

    VERSION: ClassVar[int] = 2
    v: int
    epoch: int
    threshold: int
    participants: tuple[Participant, ...]
    nonce: bytes  # fresh per ceremony, so that two ceremonies of the same council never share a session id

    def __post_init__(self) -> None:
        require_version(self)
        if not isinstance(self.epoch, int) or not 0 <= self.epoch < 1 << 32:
            raise EncodingError("epoch must be in 0..2**32-1")
        check_council_shape(self.threshold, [p.index for p in self.participants])
        require_len("nonce", self.nonce, NONCE_SIZE)

    @property
    def sid(self) -> bytes:
        """Session id: KDF32(ctx/dkg; u32 e, u16 n, u16 k, nonce, participant…) (doc §3)."""
        parts = [u32(self.epoch), u16(len(self.participants)), u16(self.threshold), self.nonce]
        parts += [p.encode() for p in sorted(self.participants, key=lambda p: p.index)]
        return kdf32(TAG_CTX_DKG, *parts)

    @property
    def indices(self) -> list[int]:
        return sorted(p.index for p in self.participants)

    def participant(self, index: int) -> Participant:
        for p in self.participants:
            if p.index == index:
                return p
        raise ProtocolError(f"member {index} is not in this ceremony", culprits=[])


def _check_sid(params: DkgParams, sid: bytes, author: int) -> None:
    if not hmac.compare_digest(sid, params.sid):
        raise ProtocolError("message belongs to another ceremony", culprits=[author])


def deal(
    params: DkgParams, index: int, keys: AccountKeys, *, rng: Rng = default_rng
) -> tuple[DealerSecret, DkgCommitment, DkgKey]:
    """Round 1 for member `index`: a random polynomial of degree k−1, its signed commitments with a PoK of a_0,
    and a signed fresh share-encryption key."""
    params.participant(index)
    polynomial = Polynomial.random(params.threshold - 1, rng=rng)
    commitments = polynomial.commitments()
    pok = prove_knowledge(TAG_POK_COEF, BASE, commitments[0], polynomial.coefficients[0], [params.sid, u16(index)], rng=rng)
    message = sign_commitment(keys, params.sid, index, tuple(c.encode() for c in commitments), pok.encode())
    key = new_key_secret(rng)
    return DealerSecret(index, polynomial, key), message, make_key(keys, params.sid, index, key, rng=rng)


def check_commitment(params: DkgParams, message: DkgCommitment) -> tuple[Point, ...]:
    """One member's round-1 commitment: session, signature, shape, points and PoK. Raises ProtocolError naming them."""
    check_commitment_signature(params.sid, message, params.participant(message.index).sign_key)
    if len(message.commitments) != params.threshold:
        raise ProtocolError(
            f"member {message.index} committed to {len(message.commitments)} coefficients, k = {params.threshold}",
            culprits=[message.index],
        )
    try:
        points = tuple(Point.decode(c) for c in message.commitments)
        verify_knowledge(TAG_POK_COEF, BASE, points[0], Proof.decode(message.pok), [params.sid, u16(message.index)])
    except TesseraError as exc:
        raise ProtocolError(f"member {message.index}: {exc}", culprits=[message.index]) from exc
    return points


def signed_by_author(params: DkgParams, message: DkgCommitment | DkgKey) -> bool:
    """True iff the member the message names signed it for this session: anything else the relay made up."""
    try:
        if isinstance(message, DkgCommitment):
            check_commitment_signature(params.sid, message, params.participant(message.index).sign_key)
        else:
            check_key(params.sid, message, params.participant(message.index).sign_key)
    except ProtocolError:
        return False
    return True


def check_round1(
    params: DkgParams, commitments: Sequence[DkgCommitment], keys: Sequence[DkgKey]
) -> tuple[bytes, dict[int, Point]]:
    """Check every member's round-1 messages (one signed commitment and one signed key each, as picked by the
    caller) and return the transcript hash T1 to echo, with every member's share-encryption key.

    Raises ProtocolError naming every member whose message is missing, duplicated or invalid.
    """
    by_index: dict[int, DkgCommitment] = {}
    keys_by_index: dict[int, DkgKey] = {}
    culprits: list[int] = []
    for m in commitments:
        if m.index in by_index or m.index not in params.indices:
            culprits.append(m.index)
        by_index[m.index] = m
    for k in keys:
        if k.index in keys_by_index or k.index not in params.indices:
            culprits.append(k.index)
        keys_by_index[k.index] = k
    culprits += [i for i in params.indices if i not in by_index or i not in keys_by_index]
    points: dict[int, Point] = {}
    for i in params.indices:
        try:
            if i in by_index:
                check_commitment(params, by_index[i])
            if i in keys_by_index:
                points[i] = check_key(params.sid, keys_by_index[i], params.participant(i).sign_key)
        except ProtocolError:
            culprits.append(i)
    if culprits:
        raise ProtocolError(f"round 1 is not valid for member(s) {sorted(set(culprits))}", culprits=sorted(set(culprits)))
    transcript = kdf32(
        TAG_DKG_TRANSCRIPT,
        params.sid,
        *(encode_json(by_index[i]) for i in params.indices),
        *(encode_json(keys_by_index[i]) for i in params.indices),
    )
    return transcript, points


def echo(params: DkgParams, index: int, keys: AccountKeys, transcript: bytes) -> DkgEcho:
    """Sign the transcript hash this member computed."""
    unsigned = DkgEcho(v=1, sid=params.sid, index=index, transcript=transcript, signature=bytes(64))
    return DkgEcho(
        v=1, sid=params.sid, index=index, transcript=transcript, signature=keys.sign(TAG_DKG_ECHO, signing_bytes(unsigned))
    )


def check_echoes(params: DkgParams, transcript: bytes, echoes: Sequence[DkgEcho]) -> None:
    """Continue only when all n members signed this same transcript (defeats a server showing split views).

    Raises ProtocolError naming members whose echo differs; an echo that is not signed by its member is the
    relay's and is ignored (then that member's echo is still missing: wait).
    """
    seen = {e.index: e for e in echoes if echo_is_signed(params, e)}
    differing = [i for i, e in seen.items() if not hmac.compare_digest(e.transcript, transcript)]
    if differing:
        raise ProtocolError(
            f"member(s) {sorted(differing)} saw a different round 1: the server showed members different messages",
            culprits=[],
        )
    missing = [i for i in params.indices if i not in seen]
    if missing:
        raise ProtocolError(f"no signed echo yet from member(s) {missing}", culprits=[])


def echo_is_signed(params: DkgParams, e: DkgEcho) -> bool:
    """True iff `e` is signed by the member it names, for this session."""
    if not hmac.compare_digest(e.sid, params.sid):
        return False
    try:
        verify_signature(params.participant(e.index).sign_key, TAG_DKG_ECHO, signing_bytes(e), e.signature)
    except (ProofError, ProtocolError):
        return False
    return True


def echo_is_valid(params: DkgParams, e: DkgEcho, transcript: bytes) -> bool:
    """True iff `e` is the named member's signature over `transcript` in this session."""
    return echo_is_signed(params, e) and hmac.compare_digest(e.transcript, transcript)


def deal_shares(
    params: DkgParams, secret: DealerSecret, keys: AccountKeys, recipient_keys: Mapping[int, Point], *, rng: Rng = default_rng
) -> tuple[DkgShare, ...]:
    """Round 2: s_{i→j} = f_i(j) encrypted to every other member j's checked key (doc §3)."""
    assert secret.polynomial is not None
    return tuple(
        box_share(params.sid, keys, secret.index, p.index, recipient_keys[p.index], secret.polynomial.evaluate(p.index), rng=rng)
        for p in params.participants
        if p.index != secret.index
    )


def share_is_signed(params: DkgParams, message: DkgShare) -> bool:
    """True iff the dealer the share names signed it for this session (else the relay made it: drop it)."""
    try:
        check_share_signature(params.sid, message, params.participant(message.sender).sign_key)
    except ProtocolError:
        return False
    return True


def receive_share(
    params: DkgParams, secret: DealerSecret, own_key: Point, commitment: DkgCommitment, message: DkgShare
) -> Scalar:
    """Open and check s_{sender→me} (the caller checked the dealer's signature: `share_is_signed`).

    Raises ProtocolError naming the sender when the share does not open or does not verify: then `complain`.
    """
    if commitment.index != message.sender:
        raise ProtocolError("commitment and share are from different members", culprits=[message.sender])
    return open_share(params.sid, secret, own_key, message, check_commitment(params, commitment))


def judge(params: DkgParams, complaint: DkgComplaint, commitments: Mapping[int, DkgCommitment], keys: Mapping[int, Point]) -> int:
    """The member a complaint proves dishonest (see ceremony.judge_complaint): the accused dealer or the
    accuser. Raises ProtocolError for a complaint that proves nothing."""
    try:
        accuser, accused = params.participant(complaint.accuser), params.participant(complaint.accused)
        dealer_guilty = judge_complaint(
            params.sid,
            complaint,
            accuser_sign_key=accuser.sign_key,
            accuser_key=keys[accuser.index],
            dealer_sign_key=accused.sign_key,
            dealer_commitments=check_commitment(params, commitments[accused.index]),
        )
    except KeyError as exc:
        raise ProtocolError("a complaint about a member whose round 1 is missing") from exc
    return accused.index if dealer_guilty else accuser.index


@dataclass(frozen=True, slots=True)
class DkgResult:
    """What a member keeps: its secret share x_j (keystore only) and the public epoch record."""

    share: Scalar
    record: EpochRecord


def finish(params: DkgParams, index: int, commitments: Sequence[DkgCommitment], shares: Mapping[int, Scalar]) -> DkgResult:
    """x_j = Σ_i s_{i→j}; Y = Σ_i C_{i,0}; Ĉ_m = Σ_i C_{i,m}; Y_l for every member (doc §2.3 step 5).

    `shares` maps every dealer (this member included) to its verified share. Raises ProtocolError.
    """
    by_index = {m.index: m for m in commitments}
    if sorted(by_index) != params.indices:
        raise ProtocolError("finish needs every member's commitments")
    for m in commitments:
        check_commitment(params, m)
    missing = [i for i in params.indices if i not in shares]
    if missing:
        raise ProtocolError(f"no verified share yet from member(s) {missing}", culprits=missing)
    decoded = {m.index: [Point.decode(c) for c in m.commitments] for m in commitments}
    total = shares[params.indices[0]]
    for i in params.indices[1:]:
        total = total + shares[i]
    try:
        group = [point_sum(decoded[i][m] for i in params.indices) for m in range(params.threshold)]
    except CryptoError as exc:  # negligible unless members colluded to cancel each other out
        raise ProtocolError("group commitments cancel out; restart the ceremony") from exc
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
    record = EpochRecord(
        v=1,
        epoch=params.epoch,
        threshold=params.threshold,
        council_key=group[0].encode(),
        members=members,
        commitments=tuple(c.encode() for c in group),
        origin=params.sid,
    )
    if Point.base_mul(total) != record.share_key(index):
        raise ProtocolError("own share does not match the group commitments")
    return DkgResult(share=total, record=record)
