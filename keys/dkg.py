"""Dealer-free key generation for the council (Pedersen DKG with Schnorr PoKs; protocol doc §2.3).

Pure step functions; the server only relays messages. The order of a ceremony:

1. every member `deal`s and broadcasts a `DkgCommitment` (Feldman commitments + PoK of a_{i,0});
2. every member runs `check_commitments` (names any cheater) and broadcasts `echo` of the transcript
   hash; `check_echoes` continues only when all n signed the same transcript (a relaying server cannot
   show members different views);
3. every member sends `deal_shares` (one crypto_box per other member) and runs `receive_share` on each;
   a share that fails its Feldman check leads to `complain`; the accused publishes `answer_complaint`
   (the share in clear); `judge_complaint` either yields the share or names the accused as a cheater;
4. `finish` sums the shares into x_j and builds the epoch record; all members sign it (council.py).

A named cheater is excluded and the ceremony restarts without them (the ElectionGuard rule).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from keys.accounts import AccountKeys, verify_signature
from keys.ceremony import (
    DealerSecret,
    DkgAnswer,
    DkgCommitment,
    DkgComplaint,
    DkgEcho,
    DkgShare,
    box_share,
    open_share,
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
    TAG_DKG_ANSWER,
    TAG_DKG_COMPLAINT,
    TAG_DKG_ECHO,
    TAG_DKG_TRANSCRIPT,
    TAG_POK_COEF,
    kdf32,
)
from keys.proofs import BASE, Proof, prove_knowledge, verify_knowledge
from keys.sharing import Polynomial, evaluate_commitments, verify_share
from keys.wire import encode_json, require_version, signing_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgParams:
    """What the administrator opens: the epoch, the threshold and the participants."""

    VERSION: ClassVar[int] = 1
    v: int
    epoch: int
    threshold: int
    participants: tuple[Participant, ...]

    def __post_init__(self) -> None:
        require_version(self)
        if not isinstance(self.epoch, int) or not 0 <= self.epoch < 1 << 32:
            raise EncodingError("epoch must be in 0..2**32-1")
        check_council_shape(self.threshold, [p.index for p in self.participants])

    @property
    def sid(self) -> bytes:
        """Session id: KDF32(ctx/dkg; e, n, k, participants…) (doc §2.3)."""
        parts = [u32(self.epoch), u16(len(self.participants)), u16(self.threshold)]
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


def deal(params: DkgParams, index: int, *, rng: Rng = default_rng) -> tuple[DealerSecret, DkgCommitment]:
    """Round 1 for member `index`: a random polynomial of degree k−1, its commitments and PoK of a_0."""
    params.participant(index)
    polynomial = Polynomial.random(params.threshold - 1, rng=rng)
    commitments = polynomial.commitments()
    pok = prove_knowledge(TAG_POK_COEF, BASE, commitments[0], polynomial.coefficients[0], [params.sid, u16(index)], rng=rng)
    message = DkgCommitment(
        v=1, sid=params.sid, index=index, commitments=tuple(c.encode() for c in commitments), pok=pok.encode()
    )
    return DealerSecret(index, polynomial), message


def check_commitment(params: DkgParams, message: DkgCommitment) -> tuple[Point, ...]:
    """One member's round-1 message: session, shape, points and PoK. Raises ProtocolError naming them."""
    _check_sid(params, message.sid, message.index)
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


def check_commitments(params: DkgParams, messages: Sequence[DkgCommitment]) -> bytes:
    """Check every round-1 message and return the transcript hash T1 to echo.

    Raises ProtocolError naming every member whose message is missing, duplicated or invalid.
    """
    by_index: dict[int, DkgCommitment] = {}
    culprits: list[int] = []
    for m in messages:
        if m.index in by_index or m.index not in params.indices:
            culprits.append(m.index)
        by_index[m.index] = m
    culprits += [i for i in params.indices if i not in by_index]
    for i, m in by_index.items():
        try:
            check_commitment(params, m)
        except ProtocolError:
            culprits.append(i)
    if culprits:
        raise ProtocolError(f"round 1 is not valid for member(s) {sorted(set(culprits))}", culprits=culprits)
    return kdf32(TAG_DKG_TRANSCRIPT, params.sid, *(encode_json(by_index[i]) for i in params.indices))


def echo(params: DkgParams, index: int, keys: AccountKeys, transcript: bytes) -> DkgEcho:
    """Sign the transcript hash this member computed."""
    unsigned = DkgEcho(v=1, sid=params.sid, index=index, transcript=transcript, signature=bytes(64))
    return DkgEcho(
        v=1, sid=params.sid, index=index, transcript=transcript, signature=keys.sign(TAG_DKG_ECHO, signing_bytes(unsigned))
    )


def check_echoes(params: DkgParams, transcript: bytes, echoes: Sequence[DkgEcho]) -> None:
    """Continue only when all n members signed this same transcript (defeats a server showing split views).

    Raises ProtocolError naming members with a missing, bad or different echo.
    """
    seen: dict[int, DkgEcho] = {e.index: e for e in echoes}
    culprits = []
    for i in params.indices:
        e = seen.get(i)
        if e is None or not echo_is_valid(params, e, transcript):
            culprits.append(i)
    if culprits:
        raise ProtocolError(f"transcript echo missing or different for member(s) {culprits}", culprits=culprits)


def echo_is_valid(params: DkgParams, e: DkgEcho, transcript: bytes) -> bool:
    """True iff `e` is the named member's signature over `transcript` in this session."""
    if not hmac.compare_digest(e.sid, params.sid) or not hmac.compare_digest(e.transcript, transcript):
        return False
    try:
        verify_signature(params.participant(e.index).sign_key, TAG_DKG_ECHO, signing_bytes(e), e.signature)
    except ProofError:
        return False
    return True


def deal_shares(params: DkgParams, secret: DealerSecret, keys: AccountKeys) -> tuple[DkgShare, ...]:
    """Round 2: s_{i→j} = f_i(j) boxed to every other member j (doc §2.3 step 3)."""
    return tuple(
        box_share(params.sid, keys, secret.index, p.index, p.box_key, secret.polynomial.evaluate(p.index))
        for p in params.participants
        if p.index != secret.index
    )


def receive_share(params: DkgParams, index: int, keys: AccountKeys, commitment: DkgCommitment, message: DkgShare) -> Scalar:
    """Open and check s_{sender→index} against the sender's commitments (doc §2.3 step 4).

    Raises ProtocolError naming the sender when the share does not open or does not verify: then `complain`.
    """
    if commitment.index != message.sender:
        raise ProtocolError("commitment and share are from different members", culprits=[message.sender])
    sender = params.participant(message.sender)
    return open_share(
        params.sid,
        keys,
        index,
        message,
        sender_sign_key=sender.sign_key,
        sender_box_key=sender.box_key,
        commitments=check_commitment(params, commitment),
    )


def complain(params: DkgParams, accuser: int, keys: AccountKeys, accused: int) -> DkgComplaint:
    """A signed public complaint against `accused`."""
    unsigned = DkgComplaint(v=1, sid=params.sid, accuser=accuser, accused=accused, signature=bytes(64))
    return DkgComplaint(
        v=1, sid=params.sid, accuser=accuser, accused=accused, signature=keys.sign(TAG_DKG_COMPLAINT, signing_bytes(unsigned))
    )


def answer_complaint(params: DkgParams, secret: DealerSecret, keys: AccountKeys, complaint: DkgComplaint) -> DkgAnswer:
    """Publish the disputed share in clear (doc §2.3 step 4)."""
    if complaint.accused != secret.index:
        raise ProtocolError("this complaint is about another member")
    share = secret.polynomial.evaluate(complaint.accuser).encode()
    unsigned = DkgAnswer(v=1, sid=params.sid, accused=secret.index, accuser=complaint.accuser, share=share, signature=bytes(64))
    return DkgAnswer(
        v=1,
        sid=params.sid,
        accused=secret.index,
        accuser=complaint.accuser,
        share=share,
        signature=keys.sign(TAG_DKG_ANSWER, signing_bytes(unsigned)),
    )


def judge_complaint(params: DkgParams, commitment: DkgCommitment, complaint: DkgComplaint, answer: DkgAnswer | None) -> Scalar:
    """Settle a complaint: return the (now public) share if the answer verifies.

    Raises ProtocolError naming the accused when the answer is missing or its share fails the Feldman
    check, or naming the accuser when the complaint itself is not properly signed.
    """
    _check_sid(params, complaint.sid, complaint.accuser)
    try:
        verify_signature(
            params.participant(complaint.accuser).sign_key, TAG_DKG_COMPLAINT, signing_bytes(complaint), complaint.signature
        )
    except ProofError as exc:
        raise ProtocolError("complaint is not signed by its accuser", culprits=[complaint.accuser]) from exc
    accused = complaint.accused
    if answer is None:
        raise ProtocolError(f"member {accused} did not answer a complaint", culprits=[accused])
    if (answer.accused, answer.accuser, commitment.index) != (accused, complaint.accuser, accused):
        raise ProtocolError("answer does not match the complaint", culprits=[accused])
    try:
        _check_sid(params, answer.sid, accused)
        verify_signature(params.participant(accused).sign_key, TAG_DKG_ANSWER, signing_bytes(answer), answer.signature)
        share = Scalar.decode_nonzero(answer.share)
    except (ProofError, EncodingError) as exc:
        raise ProtocolError(f"member {accused} answered with an invalid message", culprits=[accused]) from exc
    if not verify_share(check_commitment(params, commitment), complaint.accuser, share):
        raise ProtocolError(f"member {accused} dealt a bad share to member {complaint.accuser}", culprits=[accused])
    return share


@dataclass(frozen=True, slots=True)
class DkgResult:
    """What a member keeps: its secret share x_j (keystore only) and the public epoch record."""

    share: Scalar
    record: EpochRecord


def finish(params: DkgParams, index: int, commitments: Sequence[DkgCommitment], shares: Mapping[int, Scalar]) -> DkgResult:
    """x_j = Σ_i s_{i→j}; Y = Σ_i C_{i,0}; Ĉ_m = Σ_i C_{i,m}; Y_l for every member (doc §2.3 step 5).

    `shares` maps every dealer (this member included) to its verified share. Raises ProtocolError.
    """
    check_commitments(params, commitments)
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
