"""Known-answer vectors of the case-side formats of issues 18 and 25 (provenance: tests/vectors/generate.py):
the code still produces the recorded bytes, and the recorded objects verify and open as recorded."""

import json
from pathlib import Path
from typing import Any

import pytest

from keys.accounts import AccountKeys
from keys.attachments import AttachmentList, verify_attachment_list
from keys.council import EpochRecord
from keys.decisions import Proposal, Vote, open_note, proposal_digest, verify_proposal, verify_vote
from keys.encoding import b64u_decode
from keys.envelope import IntakeEnvelope, SignedCaseFile, check_envelope, open_case_file, unwrap_case_key
from keys.receipts import IntakeReceipt, envelope_digest, verify_receipt
from keys.wire import from_wire
from tests.vectors.generate import build_vectors

VECTORS: dict[str, Any] = json.loads(Path(__file__).parents[1].joinpath("vectors", "keys-v1.json").read_text())


@pytest.mark.parametrize("section", ["decisions", "receipt", "attachment_list"])
def test_code_still_produces_the_recorded_bytes(section: str) -> None:
    assert build_vectors()[section] == VECTORS[section]


def test_the_decision_vectors_verify_and_the_note_opens() -> None:
    v = VECTORS["decisions"]
    proposal, ballot = from_wire(Proposal, v["proposal"]), from_wire(Vote, v["vote"])
    verify_proposal(proposal)
    verify_vote(ballot, proposal)
    assert proposal_digest(proposal).hex() == v["proposal_digest"] == ballot.proposal_digest.hex()
    assert open_note(proposal, bytes.fromhex(v["case_key"])) == v["note"]
    proposer = AccountKeys(sign_seed=bytes.fromhex(v["proposer_seed"]), box_secret=bytes(32))
    assert proposal.proposer == proposer.public().sign_key


def test_the_receipt_and_attachment_list_vectors_verify() -> None:
    v = VECTORS["receipt"]
    receipt = from_wire(IntakeReceipt, v["receipt"])
    verify_receipt(
        receipt,
        server_key=bytes.fromhex(v["server_sign_key"]),
        case_id=receipt.case_id,
        envelope_digest=envelope_digest(v["envelope_json"].encode()),
    )
    v = VECTORS["attachment_list"]
    listing = from_wire(AttachmentList, v["list"])
    verify_attachment_list(listing, case_id=listing.case_id, reply_sign_key=bytes.fromhex(v["reply_sign_key"]))


def test_the_version_3_envelope_vector_opens_and_lists_its_attachments() -> None:
    v = VECTORS["envelope_v3"]
    envelope = from_wire(IntakeEnvelope, v["envelope"])
    check_envelope(envelope, from_wire(EpochRecord, v["record"]))
    member = AccountKeys(sign_seed=bytes(32), box_secret=b64u_decode(v["member_box_secret"]))
    wrap = next(w for w in envelope.wraps if w.recipient == b64u_decode(v["member_box_key"]))
    signed = open_case_file(envelope, unwrap_case_key(member, envelope.case_id, wrap))
    assert isinstance(signed, SignedCaseFile) and signed.body.decode() == v["case_file"]
    assert [b64u_decode(a) for a in v["attachments"]] == list(signed.attachments)
