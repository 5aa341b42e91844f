"""Council decisions: a signed proposal with a note sealed under the case key, and signed votes (protocol
doc §8a, "Decisions").

The note is sealed under the case key CK, which every council member holds and the helper holds through
the case's reply key: an adopted decision is therefore readable by the helper (the "outcome") and by
no one else. The server sees the action (approve, decline, request-info, close) and who voted how.

Version 2 (this one) makes everything a client shows about a decision come from signatures:

* the proposal names its case, its action, its sealed note, the council epoch whose members decide it, the
  number of yes votes that adopt it (`needed`, the organisation's quorum for the action) and the key-directory
  head the proposer saw; the proposer signs all of it (tag `proposal/v2`);
* a vote signs the proposal's digest (`KDF32(proposal-digest; canonical JSON of the signed proposal)`), so a
  vote counts only for the exact proposal its voter was shown (tag `vote/v2`), with the head the voter saw;
* `tally` computes the state (adopted, rejected, open) from the votes whose signatures verify and whose
  voters are members of the proposal's epoch: the server's word on the state is never needed.

Version 1 proposals and votes (a vote signed only the proposal id) are not read: a client shows them as
unverifiable and the server accepts no new votes on them.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import ClassVar, Final

from keys import aead
from keys.accounts import AccountKeys, verify_signature
from keys.encoding import u64
from keys.errors import DecryptionError, EncodingError, ProofError
from keys.group import Rng, default_rng, new_id
from keys.hashing import TAG_AD_OUTCOME, TAG_PROPOSAL_DIGEST, TAG_PROPOSAL_V2, TAG_VOTE_V2, kdf32
from keys.kem import CASE_ID_SIZE
from keys.wire import encode_json, require_len, require_version, signing_bytes

ACTIONS: Final = ("approve", "decline", "request-info", "close")  # what a decision can do to a case
CASE_STATES: Final = ("open", "decided", "closed")  # a case's state: an adopted "close" closes it, others decide it
ID_SIZE: Final = 16
MAX_COUNCIL: Final = 255


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    VERSION: ClassVar[int] = 2
    v: int
    proposal_id: bytes
    case_id: bytes
    action: str
    note: bytes  # sealed under the case key
    epoch: int  # the council epoch whose members decide it
    needed: int  # yes votes of distinct members that adopt it
    head_seq: int  # the key-directory head the proposer saw
    head_hash: bytes
    proposer: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("proposal_id", self.proposal_id, ID_SIZE)
        require_len("case_id", self.case_id, CASE_ID_SIZE)
        if self.action not in ACTIONS:
            raise EncodingError(f"action must be one of {', '.join(ACTIONS)}")
        if not aead.is_padded_size(len(self.note)):
            raise EncodingError("note: sealed size is not a padding bucket")
        u64(self.epoch)
        u64(self.head_seq)
        if isinstance(self.needed, bool) or not isinstance(self.needed, int) or not 1 <= self.needed <= MAX_COUNCIL:
            raise EncodingError(f"needed: a number of votes from 1 to {MAX_COUNCIL}")
        require_len("head_hash", self.head_hash, 32)
        require_len("proposer", self.proposer, 32)
        require_len("signature", self.signature, 64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Vote:
    VERSION: ClassVar[int] = 2
    v: int
    proposal_id: bytes
    proposal_digest: bytes  # proposal_digest() of the proposal the voter was shown
    voter: bytes
    approve: bool
    head_seq: int  # the key-directory head the voter saw
    head_hash: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("proposal_id", self.proposal_id, ID_SIZE)
        require_len("proposal_digest", self.proposal_digest, 32)
        require_len("voter", self.voter, 32)
        if not isinstance(self.approve, bool):
            raise EncodingError("approve must be true or false")
        u64(self.head_seq)
        require_len("head_hash", self.head_hash, 32)
        require_len("signature", self.signature, 64)


def _note_ad(case_id: bytes, proposal_id: bytes, action: str) -> bytes:
    return kdf32(TAG_AD_OUTCOME, case_id, proposal_id, action.encode())


def majority(council_size: int) -> int:
    """The default quorum: more than half of the council."""
    return council_size // 2 + 1


def propose(
    *,
    case_id: bytes,
    case_key: bytes,
    action: str,
    note: str,
    epoch: int,
    needed: int,
    head_seq: int,
    head_hash: bytes,
    keys: AccountKeys,
    rng: Rng = default_rng,
) -> Proposal:
    """A signed proposal; the note is sealed under the case key (the helper can read it once adopted).

    Warning: `epoch` and `head_seq`/`head_hash` must come from the proposer's verified key directory, and
    `case_key` from a case opened with `open_checked_case_file`; the note is sealed to whoever holds it."""
    proposal_id = new_id(rng, ID_SIZE)
    sealed = aead.seal_padded(case_key, note.encode("utf-8"), _note_ad(case_id, proposal_id, action), rng=rng)
    unsigned = Proposal(
        v=2,
        proposal_id=proposal_id,
        case_id=case_id,
        action=action,
        note=sealed,
        epoch=epoch,
        needed=needed,
        head_seq=head_seq,
        head_hash=head_hash,
        proposer=keys.public().sign_key,
        signature=bytes(64),
    )
    return replace(unsigned, signature=keys.sign(TAG_PROPOSAL_V2, signing_bytes(unsigned)))


def verify_proposal(proposal: Proposal) -> None:
    """Raises ProofError unless the proposer's signature verifies (who the proposer is: the directory)."""
    verify_signature(proposal.proposer, TAG_PROPOSAL_V2, signing_bytes(proposal), proposal.signature)


def proposal_digest(proposal: Proposal) -> bytes:
    """What a vote names: a digest of the whole signed proposal (case, action, sealed note, epoch, quorum)."""
    return kdf32(TAG_PROPOSAL_DIGEST, encode_json(proposal))


def open_note(proposal: Proposal, case_key: bytes) -> str:
    """Raises DecryptionError."""
    plaintext = aead.open_padded(case_key, proposal.note, _note_ad(proposal.case_id, proposal.proposal_id, proposal.action))
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptionError("note is not text") from exc


def vote(*, proposal: Proposal, approve: bool, head_seq: int, head_hash: bytes, keys: AccountKeys) -> Vote:
    """A signed vote on exactly `proposal` (its digest).

    Warning: sign only a proposal the voter was shown (case, action, note) and whose proposer signature
    verified; the head must come from the voter's verified key directory."""
    unsigned = Vote(
        v=2,
        proposal_id=proposal.proposal_id,
        proposal_digest=proposal_digest(proposal),
        voter=keys.public().sign_key,
        approve=approve,
        head_seq=head_seq,
        head_hash=head_hash,
        signature=bytes(64),
    )
    return replace(unsigned, signature=keys.sign(TAG_VOTE_V2, signing_bytes(unsigned)))


def verify_vote(ballot: Vote, proposal: Proposal) -> None:
    """Raises ProofError unless the vote is for exactly `proposal` and the voter's signature verifies
    (whether the voter is a member: the caller, from the proposal's council epoch)."""
    if ballot.proposal_id != proposal.proposal_id or not hmac.compare_digest(ballot.proposal_digest, proposal_digest(proposal)):
        raise ProofError("the vote is for another proposal (or for another version of this one)")
    verify_signature(ballot.voter, TAG_VOTE_V2, signing_bytes(ballot), ballot.signature)


@dataclass(frozen=True, slots=True)
class Tally:
    """The outcome of a proposal as its valid votes say: the members who voted yes and no, and the state."""

    yes: tuple[str, ...]
    no: tuple[str, ...]
    state: str


def tally(
    proposal: Proposal, ballots: Iterable[Vote], *, members: Mapping[bytes, str], council_size: int, threshold: int
) -> Tally:
    """Count the votes on `proposal` whose signatures verify and whose voter key belongs to a member of the
    proposal's council epoch (`members`: signing key -> account, from the verified record of that epoch;
    several keys may name one member, who counts once, by the first valid vote). Adopted with `needed` yes
    votes, and never fewer than the council's `threshold` k (the quorum a proposer signs is the server's
    setting; the floor is the council's own, from its signed record: one member and the server cannot adopt
    a decision alone, hostile test test_review_decisions.py); rejected once more than `council_size - quorum`
    members voted no; else open.

    Votes that do not verify are left out, never an error: the server can always add junk."""
    decided: dict[str, bool] = {}
    for ballot in ballots:
        account = members.get(ballot.voter)
        if account is None or account in decided:
            continue
        try:
            verify_vote(ballot, proposal)
        except ProofError:
            continue
        decided[account] = ballot.approve
    yes = tuple(sorted(a for a, approve in decided.items() if approve))
    no = tuple(sorted(a for a, approve in decided.items() if not approve))
    quorum = max(proposal.needed, threshold)
    if len(yes) >= quorum:
        state = "adopted"
    elif len(no) > council_size - quorum:
        state = "rejected"
    else:
        state = "open"
    return Tally(yes, no, state)
