"""The database schema. What each table may hold is what ARCHITECTURE.md says the server may know:
ids, roles, public keys, ciphertext, coarse days, workflow state, who asked and approved, vote values.
No table has a column for an IP address, a user agent, an exact intake time or a helper-to-case link.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ChainHead(Base):
    """One row per hash chain ('audit', 'directory'); locked to serialise appends across processes."""

    __tablename__ = "chain_heads"
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    head: Mapped[bytes] = mapped_column(LargeBinary(32))


class DirectoryRow(Base):
    __tablename__ = "directory_entries"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    body: Mapped[str] = mapped_column(Text)


class AccountRow(Base):
    """Mirror of the directory's account state, for authentication lookups."""

    __tablename__ = "accounts"
    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))
    sign_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    box_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class InviteRow(Base):
    __tablename__ = "invites"
    invite_id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(8))
    grant: Mapped[str] = mapped_column(Text)
    secret_hash: Mapped[str] = mapped_column(String(200))
    expires_day: Mapped[int] = mapped_column(Integer)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class NonceRow(Base):
    """Replay protection: a digest of (principal, nonce) only, with a coarse expiry bucket."""

    __tablename__ = "nonces"
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    expires: Mapped[int] = mapped_column(Integer, index=True)


class RateRow(Base):
    __tablename__ = "rate_limits"
    principal: Mapped[str] = mapped_column(String(80), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class CeremonyRow(Base):
    __tablename__ = "ceremonies"
    ceremony_id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    params: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    day: Mapped[int] = mapped_column(Integer)


class CeremonyMessageRow(Base):
    __tablename__ = "ceremony_messages"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ceremony_id: Mapped[bytes] = mapped_column(ForeignKey("ceremonies.ceremony_id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    sender: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[str] = mapped_column(Text)


class CosignatureRow(Base):
    """Each council member's latest cosignature of the key directory (a witness, protocol doc §7), as sent.
    Its time is whole hours: when a member last checked the directory, no finer."""

    __tablename__ = "cosignatures"
    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    time: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)


class TokenKeyRow(Base):
    """The secret of each epoch's anonymous-submission token key (its public half is in the key directory)."""

    __tablename__ = "token_keys"
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    secret: Mapped[bytes] = mapped_column(LargeBinary(32))


class TokenIssuanceRow(Base):
    """How many tokens an account was issued in a token epoch (its budget); nothing of the tokens themselves."""

    __tablename__ = "token_issuance"
    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)


class SpentTokenRow(Base):
    """A token spent on an intake (a digest of its nonce), kept for its epoch and the next, so it is spent once
    and a retried intake is recognised. The token cannot be traced to its issuance: it was blinded then."""

    __tablename__ = "spent_tokens"
    nonce: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[bytes] = mapped_column(LargeBinary(16))


class CaseRow(Base):
    __tablename__ = "cases"
    case_id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    state: Mapped[str] = mapped_column(String(8))
    day: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(Integer)
    receipt: Mapped[bytes] = mapped_column(LargeBinary(32))
    envelope: Mapped[str] = mapped_column(Text)  # the IntakeEnvelope without its member wraps
    reply_sign_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    reply_box_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    __table_args__ = (Index("ix_cases_state_case_id", "state", "case_id"),)


class WrapRow(Base):
    __tablename__ = "case_wraps"
    case_id: Mapped[bytes] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    recipient: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary(96))


class RevealRow(Base):
    __tablename__ = "reveal_requests"
    request_id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    case_id: Mapped[bytes] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), index=True)
    requester: Mapped[str] = mapped_column(String(32))
    expiry: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)


class PartialRow(Base):
    __tablename__ = "reveal_partials"
    request_id: Mapped[bytes] = mapped_column(ForeignKey("reveal_requests.request_id", ondelete="CASCADE"), primary_key=True)
    member_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)


class ProposalRow(Base):
    __tablename__ = "proposals"
    proposal_id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    case_id: Mapped[bytes] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), index=True)
    proposer: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(10))
    day: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)


class VoteRow(Base):
    __tablename__ = "votes"
    proposal_id: Mapped[bytes] = mapped_column(ForeignKey("proposals.proposal_id", ondelete="CASCADE"), primary_key=True)
    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    approve: Mapped[bool] = mapped_column(Boolean)
    body: Mapped[str] = mapped_column(Text)


class MessageRow(Base):
    __tablename__ = "messages"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    case_id: Mapped[bytes] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), index=True)
    thread: Mapped[str] = mapped_column(String(8))
    day: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)


class AttachmentRow(Base):
    """An attachment of a case: its sealed descriptor (one fixed size) and how far its upload got."""

    __tablename__ = "attachments"
    attachment_id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    case_id: Mapped[bytes] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), index=True)
    descriptor: Mapped[bytes] = mapped_column(LargeBinary)
    padded: Mapped[int] = mapped_column(BigInteger)  # padded plaintext size: a bucket, never the exact size
    received: Mapped[int] = mapped_column(Integer)  # chunks stored so far, in order
    complete: Mapped[bool] = mapped_column(Boolean)
    day: Mapped[int] = mapped_column(Integer)


class AttachmentListRow(Base):
    """The latest list of a case's attachment ids its helper signed (with the reply key), kept as signed."""

    __tablename__ = "attachment_lists"
    case_id: Mapped[bytes] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)


class AttachmentChunkRow(Base):
    """One sealed chunk (a secretstream message of 1 MiB or less) of an attachment."""

    __tablename__ = "attachment_chunks"
    attachment_id: Mapped[bytes] = mapped_column(ForeignKey("attachments.attachment_id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AuditRow(Base):
    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    day: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    object: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str] = mapped_column(Text)


class ServerInstance(Base):
    """A running server process and the schema revision it serves, refreshed every minute, so that
    `tessera-server migrate` can refuse to change the schema under a running older version."""

    __tablename__ = "server_instances"
    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    revision: Mapped[str] = mapped_column(String(32))
    heartbeat: Mapped[int] = mapped_column(Integer)


class RekeyRow(Base):
    """A full re-key (protocol doc §2.9): every identity header sealed to the council key of `old_epoch`
    is switched to the key of `new_epoch`. One at a time; `state` is switching, then done."""

    __tablename__ = "rekeys"
    new_epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    old_epoch: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))
    day: Mapped[int] = mapped_column(Integer)


class SwitchContributionRow(Base):
    """One old member's verified key-switch contribution (T_i ‖ U_i ‖ proof, 160 bytes) for one case;
    deleted once the new council has attested the switched headers."""

    __tablename__ = "switch_contributions"
    case_id: Mapped[bytes] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    member: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[bytes] = mapped_column(LargeBinary(160))


class HeaderAttestationRow(Base):
    """k members of council `epoch` signed this Merkle root over `size` switched headers."""

    __tablename__ = "header_attestations"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    epoch: Mapped[int] = mapped_column(Integer)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    size: Mapped[int] = mapped_column(Integer)
    signatures: Mapped[str] = mapped_column(Text)  # JSON list of EpochSignature
    day: Mapped[int] = mapped_column(Integer)


class SwitchedHeaderRow(Base):
    """A case's identity header switched to the key of council `epoch`: (R2, C2), the unchanged wrap and the
    digest of the header the helper signed. Pending while `attestation` is null; once attested, the case's
    original header is deleted and this row is the case's header."""

    __tablename__ = "switched_headers"
    case_id: Mapped[bytes] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    r: Mapped[bytes] = mapped_column(LargeBinary(32))
    c: Mapped[bytes] = mapped_column(LargeBinary(32))
    wrap: Mapped[bytes] = mapped_column(LargeBinary(72))
    origin: Mapped[bytes] = mapped_column(LargeBinary(32))
    attestation: Mapped[int | None] = mapped_column(ForeignKey("header_attestations.seq"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    path: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # the inclusion path, 32 bytes a step


class AttestationSignatureRow(Base):
    """A new member's signature over the root it computed, kept until k members agree on one root."""

    __tablename__ = "attestation_signatures"
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    signer: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    size: Mapped[int] = mapped_column(Integer)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
