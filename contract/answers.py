"""What each route answers: one type per route, from which the OpenAPI document's response schemas are made
(server/http/openapi.py). Signed and stored formats appear as their own `keys/` wire types (their JSON form is
`to_wire`'s, unchanged); everything else is described here. A field with a default may be absent from the answer.

These are dataclasses, like every request body and wire type, so one generator describes the whole document:
msgspec would encode bytes as padded standard base64 where every Tessera format uses unpadded base64url, and
the `keys/` types (PyNaCl only) cannot be msgspec Structs; two generators would describe the shared wire types
twice and could disagree. Nothing builds one: the server answers with JSON objects and a client checks the JSON
it receives against these types (contract/parse.py). So they are declared without the methods a dataclass makes
by default (`answer` below): defining sixty frozen dataclasses costs every `tessera` command about 0.1 s at start,
these a quarter of that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NewType

from keys.attachments import AttachmentList
from keys.attestation import HeaderAttestation
from keys.checkpoints import Checkpoint
from keys.decisions import Proposal, Vote
from keys.directory import DirectoryEntry
from keys.dkg import DkgParams
from keys.envelope import IntakeEnvelope
from keys.invites import Grant
from keys.kem import IdentityHeader
from keys.keyswitch import SwitchContribution, SwitchedHeader
from keys.messages import SealedMessage
from keys.receipts import AttachmentReceipt, IntakeReceipt
from keys.redistribute import RedistParams
from keys.reveal import PartialDecryption, RevealRequest
from keys.tokens import IssueResponse
from keys.witness import Cosignature

# a description of an answer's fields, never built (no __init__, __repr__ or __eq__ made for it)
answer = dataclass(init=False, repr=False, eq=False, kw_only=True)

B64 = NewType("B64", str)  # bytes as unpadded base64url text
JSONObject = dict[str, Any]  # a JSON object whose shape depends on a kind named next to it
CaseState = Literal["open", "decided", "closed"]  # server/config.py STATES
CeremonyState = Literal["running", "done"]
Action = Literal["approve", "decline", "request-info", "close"]  # server/config.py ACTIONS
ProposalState = Literal["open", "adopted", "rejected"]


@answer
class Health:
    status: Literal["ok"]


@answer
class OpenApiDocument:
    openapi: Literal["3.1.0"]
    info: JSONObject
    paths: JSONObject
    components: JSONObject


@answer
class DirectoryAnswer:
    """Key-directory entries with the server's signed checkpoint of the last one served and witnesses'
    cosignatures up to it."""

    entries: tuple[DirectoryEntry, ...]
    checkpoint: Checkpoint
    cosignatures: tuple[Cosignature, ...]


@answer
class InviteGrantAnswer:
    grant: Grant
    directory: DirectoryAnswer


@answer
class DirectorySeq:
    directory_seq: int


@answer
class Ok:
    ok: Literal[True]


@answer
class TokensAnswer:
    response: IssueResponse


@answer
class Account:
    account: str
    role: Literal["helper", "council", "admin"]
    revoked: bool
    sign_key: B64


@answer
class Accounts:
    accounts: tuple[Account, ...]


@answer
class CreatedInvite:
    invite_id: B64
    secret: str
    grant: Grant


@answer
class PendingInvite:
    invite_id: B64
    expires_day: int
    grant: Grant


@answer
class PendingInvites:
    invites: tuple[PendingInvite, ...]


@answer
class InviteId:
    invite_id: B64


@answer
class OpenedCeremony:
    ceremony_id: B64
    kind: Literal["dkg", "rekey", "redistribute"]
    params: DkgParams | RedistParams
    state: Literal["running"]


@answer
class RekeyStatus:
    """`state` "none" before any re-key; while one runs, its progress; once done, its attestation."""

    state: Literal["none", "switching", "done"]
    old_epoch: int = 0
    new_epoch: int = 0
    day: int = 0
    attestation: HeaderAttestation | None = None
    cases: int = 0
    switched: int = 0
    remaining: int = 0
    contributions: dict[str, int] | None = None  # contributions per old member index
    attested_by: tuple[str, ...] = ()


@answer
class AttestedSwitch:
    """A switched header as served after its attestation: with the attestation and its Merkle path."""

    header: SwitchedHeader
    attestation: HeaderAttestation
    leaf_index: int
    path: tuple[B64, ...]


@answer
class HeaderToSwitch:
    """A case and its current header: the original one, or (after an earlier re-key) the attested switch."""

    case_id: B64
    header: IdentityHeader | None = None
    switched: AttestedSwitch | None = None


@answer
class HeadersToSwitch:
    old_epoch: int
    new_epoch: int
    index: int
    cases: tuple[HeaderToSwitch, ...]


@answer
class CurrentHeader:
    header: IdentityHeader | None = None
    switched: AttestedSwitch | None = None


@answer
class Switched:
    case_id: B64
    from_: CurrentHeader  # "from" in JSON
    to: SwitchedHeader
    contributions: tuple[SwitchContribution, ...]

    RENAMED: ClassVar[dict[str, str]] = {"from_": "from"}


@answer
class SwitchedPage:
    old_epoch: int
    new_epoch: int
    remaining: int
    cases: tuple[Switched, ...]


@answer
class Contributed:
    accepted: int
    already: int
    switched: int


@answer
class Attested:
    state: Literal["switching", "done"]  # done once the council's threshold signed the same root
    signatures: int
    needed: int


@answer
class Wrap:
    case_id: B64
    sealed: B64
    missing: tuple[B64, ...]  # box keys of current members without a wrap of this case


@answer
class Wraps:
    wraps: tuple[Wrap, ...]


@answer
class Added:
    added: int


@answer
class CeremonyStatus:
    ceremony_id: B64
    state: CeremonyState
    params: DkgParams | RedistParams
    messages: dict[str, int]  # messages posted, per kind


@answer
class CeremonyProgress:
    state: CeremonyState


@answer
class CeremonyMessage:
    seq: int
    kind: str
    sender: int
    body: JSONObject  # the message as signed; its shape is its kind's (keys/ceremony.py, keys/redistribute.py)


@answer
class CeremonyMessages:
    """Broadcasts and the caller's own shares; `index` for a key ceremony, the old and new indices for a
    membership change (null where the caller has none)."""

    state: CeremonyState
    kind: Literal["dkg", "rekey", "redistribute"]
    params: DkgParams | RedistParams
    messages: tuple[CeremonyMessage, ...]
    index: int | None = None
    old_index: int | None = None
    new_index: int | None = None
    old_epoch: int | None = None


@answer
class IntakeAnswer:
    case_id: B64
    receipt: B64  # the envelope's digest
    day: int
    signed_receipt: IntakeReceipt


@answer
class CaseRow:
    case_id: B64
    state: CaseState
    day: int
    epoch: int


@answer
class CaseList:
    cases: tuple[CaseRow, ...]
    next_cursor: B64 | None


@answer
class CastVote:
    account: str
    approve: bool
    vote: Vote


@answer
class Decision:
    proposal_id: B64
    action: Action
    state: ProposalState
    day: int
    proposer: str
    proposal: Proposal
    votes: tuple[CastVote, ...]


@answer
class Case:
    """A case with the caller's own key wrap (council) and its decisions; `switched` after a re-key replaced
    its identity header."""

    case_id: B64
    state: CaseState
    day: int
    epoch: int
    envelope: IntakeEnvelope
    switched: AttestedSwitch | None
    decisions: tuple[Decision, ...]


@answer
class MessageCount:
    count: int
    last_seq: int


@answer
class PagedCase(Case):
    messages: MessageCount


@answer
class CasePage:
    cases: tuple[PagedCase, ...]
    next_cursor: B64 | None


@answer
class RequestId:
    request_id: B64


@answer
class PendingReveal:
    request: RevealRequest
    requester: str
    approvals: int
    threshold: int


@answer
class PendingReveals:
    requests: tuple[PendingReveal, ...]


@answer
class Reveal:
    request: RevealRequest
    threshold: int
    partials: tuple[PartialDecryption, ...]


@answer
class Approvals:
    approvals: int


@answer
class ProposalId:
    proposal_id: B64


@answer
class OpenProposal:
    proposal_id: B64
    case_id: B64
    state: ProposalState
    day: int
    proposal: Proposal
    votes: tuple[CastVote, ...]


@answer
class OpenProposals:
    proposals: tuple[OpenProposal, ...]


@answer
class VoteResult:
    state: ProposalState


@answer
class Seq:
    seq: int


@answer
class StoredMessage:
    seq: int
    day: int
    message: SealedMessage


@answer
class Messages:
    messages: tuple[StoredMessage, ...]


@answer
class AttachmentState:
    """An upload's state; once complete, with the server's signed receipt."""

    attachment_id: B64
    descriptor: B64
    padded_size: int
    chunks: int
    chunk_size: int
    received: int
    complete: bool
    day: int
    signed_receipt: AttachmentReceipt | None = None


@answer
class Attachments:
    attachments: tuple[AttachmentState, ...]
    list: AttachmentList | None


@answer
class ListSerial:
    serial: int


@answer
class AuditEntry:
    seq: int
    hash: B64
    day: int
    actor: str
    action: str
    object: str
    detail: JSONObject


@answer
class AuditPage:
    entries: tuple[AuditEntry, ...]
    checkpoint: Checkpoint


@answer
class Policy:
    """Retention in days after the intake day per case state (0 keeps forever), and quorum rules per action."""

    VERSION: ClassVar[int] = 1
    v: int
    retention: dict[str, int]
    quorum: dict[str, Literal["majority"] | int]  # "majority" of the council, or a number of members

