"""Council decisions: a signed proposal with a note sealed under the case key, and signed votes.

The note is sealed under the case key CK, which every council member holds and the helper holds through
the case's reply key: an adopted decision is therefore readable by the helper (the "outcome") and by
no one else. The server sees the action (approve, decline, request-info) and who voted how.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Final

from keys import aead
from keys.accounts import AccountKeys, verify_signature
from keys.errors import DecryptionError, EncodingError
from keys.group import Rng, default_rng, new_id
from keys.hashing import TAG_AD_OUTCOME, TAG_PROPOSAL, TAG_VOTE, kdf32
from keys.kem import CASE_ID_SIZE
from keys.wire import require_len, require_version, signing_bytes

ACTIONS: Final = ("approve", "decline", "request-info")
ID_SIZE: Final = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    VERSION: ClassVar[int] = 1
    v: int
    proposal_id: bytes
    case_id: bytes
    action: str
    note: bytes
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
        require_len("proposer", self.proposer, 32)
        require_len("signature", self.signature, 64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Vote:
    VERSION: ClassVar[int] = 1
    v: int
    proposal_id: bytes
    voter: bytes
    approve: bool
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("proposal_id", self.proposal_id, ID_SIZE)
        require_len("voter", self.voter, 32)
        require_len("signature", self.signature, 64)
        if not isinstance(self.approve, bool):
            raise EncodingError("approve must be true or false")


def _note_ad(case_id: bytes, proposal_id: bytes, action: str) -> bytes:
    return kdf32(TAG_AD_OUTCOME, case_id, proposal_id, action.encode())


def propose(*, case_id: bytes, case_key: bytes, action: str, note: str, keys: AccountKeys, rng: Rng = default_rng) -> Proposal:
    """A signed proposal; the note is sealed under the case key (the helper can read it once adopted)."""
    proposal_id = new_id(rng, ID_SIZE)
    sealed = aead.seal_padded(case_key, note.encode("utf-8"), _note_ad(case_id, proposal_id, action), rng=rng)
    unsigned = Proposal(
        v=1,
        proposal_id=proposal_id,
        case_id=case_id,
        action=action,
        note=sealed,
        proposer=keys.public().sign_key,
        signature=bytes(64),
    )
    return replace(unsigned, signature=keys.sign(TAG_PROPOSAL, signing_bytes(unsigned)))


def verify_proposal(proposal: Proposal) -> None:
    """Raises ProofError unless the proposer's signature verifies (who the proposer is: the directory)."""
    verify_signature(proposal.proposer, TAG_PROPOSAL, signing_bytes(proposal), proposal.signature)


def open_note(proposal: Proposal, case_key: bytes) -> str:
    """Raises DecryptionError."""
    plaintext = aead.open_padded(case_key, proposal.note, _note_ad(proposal.case_id, proposal.proposal_id, proposal.action))
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptionError("note is not text") from exc


def vote(*, proposal_id: bytes, approve: bool, keys: AccountKeys) -> Vote:
    unsigned = Vote(v=1, proposal_id=proposal_id, voter=keys.public().sign_key, approve=approve, signature=bytes(64))
    return replace(unsigned, signature=keys.sign(TAG_VOTE, signing_bytes(unsigned)))


def verify_vote(ballot: Vote) -> None:
    """Raises ProofError unless the voter's signature verifies."""
    verify_signature(ballot.voter, TAG_VOTE, signing_bytes(ballot), ballot.signature)
