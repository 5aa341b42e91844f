"""Decisions, version 2: every field of a proposal and a vote is signed, a vote counts only for the proposal it
names by digest, and the state comes from counting valid votes of members."""

from dataclasses import fields, replace

import pytest

from keys.accounts import AccountKeys
from keys.decisions import (
    Proposal,
    Tally,
    Vote,
    majority,
    open_note,
    proposal_digest,
    propose,
    tally,
    verify_proposal,
    verify_vote,
    vote,
)
from keys.errors import DecryptionError, EncodingError, ProofError, VersionError
from keys.wire import encode_json, from_wire, to_wire

from .mutate import mutations

CASE = b"c" * 16
CASE_KEY = b"k" * 32
MEMBERS = {name: AccountKeys.generate() for name in ("kim", "lee", "park")}
HEAD = (4, b"h" * 32)


def make(action: str = "approve", needed: int = 2, note: str = "쌀 50 kg") -> Proposal:
    return propose(
        case_id=CASE,
        case_key=CASE_KEY,
        action=action,
        note=note,
        epoch=1,
        needed=needed,
        head_seq=HEAD[0],
        head_hash=HEAD[1],
        keys=MEMBERS["kim"],
    )


def ballot(proposal: Proposal, who: str, approve: bool = True) -> Vote:
    return vote(proposal=proposal, approve=approve, head_seq=HEAD[0], head_hash=HEAD[1], keys=MEMBERS[who])


def members() -> dict[bytes, str]:
    return {k.public().sign_key: name for name, k in MEMBERS.items()}


def test_a_proposal_round_trips_and_its_note_opens() -> None:
    proposal = make()
    verify_proposal(proposal)
    assert from_wire(Proposal, to_wire(proposal)) == proposal
    assert open_note(proposal, CASE_KEY) == "쌀 50 kg"
    with pytest.raises(DecryptionError):
        open_note(proposal, b"x" * 32)
    with pytest.raises(DecryptionError):  # the action is bound into the sealed note too
        open_note(replace(proposal, action="decline"), CASE_KEY)


def test_every_field_of_a_proposal_is_signed() -> None:
    proposal = make()
    changed = set()
    for name, tampered in mutations(proposal, extra={"action": ["decline", "request-info"]}):
        changed.add(name)
        with pytest.raises(ProofError):
            verify_proposal(tampered)
    assert changed == {f.name for f in fields(Proposal)} - {"v", "signature"}


def test_a_proposal_signed_by_another_key_or_with_another_version_is_refused() -> None:
    proposal = make()
    other = AccountKeys.generate()
    with pytest.raises(ProofError):
        verify_proposal(replace(proposal, proposer=other.public().sign_key))
    with pytest.raises(VersionError):
        from_wire(Proposal, {**to_wire(proposal), "v": 1})
    with pytest.raises(EncodingError):
        replace(proposal, action="delete")
    for needed in (0, 256):
        with pytest.raises(EncodingError):
            replace(proposal, needed=needed)


def test_every_field_of_a_vote_is_signed_and_it_names_one_proposal() -> None:
    proposal = make()
    yes = ballot(proposal, "lee")
    verify_vote(yes, proposal)
    changed = set()
    for name, tampered in mutations(yes):
        changed.add(name)
        with pytest.raises(ProofError):
            verify_vote(tampered, proposal)
    assert changed == {f.name for f in fields(Vote)} - {"v", "signature"}
    # the same id with other content (what a server could show one voter) does not take the vote
    for name, other in mutations(proposal, keep=("v", "signature", "proposal_id"), extra={"action": ["decline"]}):
        with pytest.raises(ProofError):
            verify_vote(yes, other)
            pytest.fail(f"a vote counted for a proposal with another {name}")
    with pytest.raises(VersionError):
        from_wire(Vote, {**to_wire(yes), "v": 1})


def test_the_digest_covers_the_whole_signed_proposal() -> None:
    proposal = make()
    assert proposal_digest(proposal) != proposal_digest(make())  # another id, another sealed note
    assert proposal_digest(replace(proposal, signature=bytes(64))) != proposal_digest(proposal)
    assert len(proposal_digest(proposal)) == 32 and encode_json(proposal)


def test_tally_counts_valid_votes_of_members_once() -> None:
    proposal = make(needed=2)

    def count(*ballots: Vote) -> Tally:
        return tally(proposal, ballots, members=members(), council_size=3, threshold=2)

    outsider = AccountKeys.generate()
    forged = vote(proposal=proposal, approve=True, head_seq=0, head_hash=bytes(32), keys=outsider)
    stale = ballot(make(), "park")  # a real vote, for another proposal
    counted = count(ballot(proposal, "lee"), forged, stale, replace(stale, proposal_id=proposal.proposal_id))
    assert counted.yes == ("lee",) and counted.state == "open"
    counted = count(ballot(proposal, "lee"), ballot(proposal, "lee", approve=False))  # a member counts once
    assert counted.yes == ("lee",) and counted.no == ()
    counted = count(ballot(proposal, "lee"), ballot(proposal, "park"))
    assert counted.state == "adopted" and counted.yes == ("lee", "park")
    counted = count(ballot(proposal, "lee", False), ballot(proposal, "park", False))
    assert counted.state == "rejected" and counted.no == ("lee", "park")
    assert majority(3) == 2 and majority(4) == 3


def test_a_quorum_below_the_councils_threshold_is_raised_to_it() -> None:
    """One member and the server cannot adopt a decision: `needed` is the proposer's word, k the council's."""
    proposal = make(needed=1)
    alone = tally(proposal, [ballot(proposal, "lee")], members=members(), council_size=3, threshold=2)
    assert alone.state == "open"
    two = tally(proposal, [ballot(proposal, "lee"), ballot(proposal, "park")], members=members(), council_size=3, threshold=2)
    assert two.state == "adopted"
