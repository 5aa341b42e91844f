"""Reading a case on the device: fetch it, open the case file with your key wrap, check what the helper
signed, and decrypt decision notes. The identity stays sealed (that needs a reveal)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from client.api import Api
from client.home import Home
from client.session import UsageError
from keys.accounts import AccountKeys
from keys.attestation import HeaderAttestation
from keys.council import EpochRecord
from keys.decisions import Proposal, Vote, open_note, verify_proposal, verify_vote
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import IntakeEnvelope, SignedCaseFile, open_case_file, reply_keys, unwrap_case_key
from keys.errors import DecryptionError, EncodingError, ProofError, ProtocolError, TesseraError
from keys.kem import IdentityHeader, check_header
from keys.keyswitch import SwitchedHeader
from keys.requests import case_principal
from keys.reveal import AttestedHeader
from keys.wire import from_wire


@dataclass
class OpenedCase:
    case_id: bytes
    raw: dict[str, Any]
    envelope: IntakeEnvelope
    case_key: bytes
    signed: SignedCaseFile
    attested: AttestedHeader | None = None  # after a re-key: the switched header as the server serves it

    def identity_header(self, state: DirectoryState) -> tuple[IdentityHeader | AttestedHeader, EpochRecord]:
        """The case's identity header, checked, with the council record that vouches for it: π_r under the
        current council key, or, after a re-key, the attestation of k members of the epoch that made it.
        Raises ProofError (a forged or misplaced header) or ProtocolError (still under an earlier key)."""
        current = state.council
        if current is None:
            raise ProtocolError("there is no council yet")
        if self.attested is None and self.envelope.kid != current.kid:
            raise ProtocolError(
                "this case's identity is still sealed to the previous council key; the council re-key must switch it "
                "first (`tessera council rekey status`)"
            )
        record = check_identity_header(self.case_id, self.envelope.header, self.attested, state, under=current)
        if self.attested is not None:
            return self.attested, record
        assert self.envelope.header is not None  # check_identity_header refuses a case without one
        return self.envelope.header, record

    @property
    def form(self) -> dict[str, Any]:
        data = json.loads(self.signed.body)
        return data if isinstance(data, dict) else {}

    def decisions(self, record: EpochRecord) -> list[dict[str, Any]]:
        """The case's decisions with their notes opened and their signatures checked against `record`.

        The server reports a decision's state; a client believes "adopted" only with a majority of valid
        yes votes signed by members of the council (else the decision is marked unverified).
        """
        members = {m.sign_key: m.account for m in record.members}
        out = []
        for d in self.raw["decisions"]:
            proposal = from_wire(Proposal, d["proposal"])
            try:
                note = open_note(proposal, self.case_key)
            except DecryptionError:
                note = "(note does not open)"
            signed_by_member = proposal.proposer in members and _valid(verify_proposal, proposal)
            yes = set()
            for v in d["votes"]:
                try:
                    ballot = from_wire(Vote, v["vote"])
                    verify_vote(ballot)
                except TesseraError:
                    continue
                if ballot.approve and ballot.voter in members and ballot.proposal_id == proposal.proposal_id:
                    yes.add(ballot.voter)
            verified = signed_by_member and (d["state"] != "adopted" or len(yes) > len(members) // 2)
            out.append(
                {
                    "proposal_id": d["proposal_id"],
                    "action": d["action"],
                    "state": d["state"] if verified else f"{d['state']} (UNVERIFIED)",
                    "proposer": members.get(proposal.proposer, "?"),
                    "note": note,
                    "yes_votes_verified": len(yes),
                    "votes": [{"account": v["account"], "approve": v["approve"]} for v in d["votes"]],
                    "day": d["day"],
                    "verified": verified,
                }
            )
        return out

    def summary(self, record: EpochRecord) -> dict[str, Any]:
        form = self.form
        return {
            "case_id": self.raw["case_id"],
            "state": self.raw["state"],
            "day": self.raw["day"],
            "kind": form.get("kind"),
            "case_file": form.get("fields", {}),
            "submitted_by": self.signed.author,
            "decisions": self.decisions(record),
        }


def parse_case_id(text: str) -> bytes:
    try:
        return b64u_decode(text.strip(), length=16, what="case id")
    except EncodingError as exc:
        raise UsageError(f"{text!r} is not a case id (22 characters, as `tessera cases list` shows)") from exc


def _valid(check: Any, value: Any) -> bool:
    try:
        check(value)
    except TesseraError:
        return False
    return True


async def open_as_member(api: Api, home: Home, case_id_text: str) -> OpenedCase:
    case_id = parse_case_id(case_id_text)
    raw = await api.call("GET", f"/v1/cases/{case_id_text.strip()}")
    envelope = from_wire(IntakeEnvelope, raw["envelope"])
    case_key = unwrap_case_key(home.keys, case_id, envelope.wraps[0])
    attested = parse_attested(raw.get("switched"))
    switched = attested.header if attested else None
    return OpenedCase(case_id, raw, envelope, case_key, open_case_file(envelope, case_key, switched=switched), attested)


async def open_as_helper(api: Api, home: Home, case_id: bytes) -> tuple[OpenedCase, Api, AccountKeys]:
    """A helper reaches their own case through its reply key, not their account."""
    reply = reply_keys(home.reply_secret, case_id)
    as_case = api.as_principal(case_principal(case_id), reply)
    raw = await as_case.call("GET", f"/v1/cases/{b64u_encode(case_id)}")
    envelope = from_wire(IntakeEnvelope, raw["envelope"])
    case_key = unwrap_case_key(reply, case_id, envelope.reply_wrap)
    attested = parse_attested(raw.get("switched"))
    signed = open_case_file(envelope, case_key, switched=attested.header if attested else None)
    return OpenedCase(case_id, raw, envelope, case_key, signed, attested), as_case, reply


def check_identity_header(
    case_id: bytes,
    header: IdentityHeader | None,
    attested: AttestedHeader | None,
    state: DirectoryState,
    *,
    under: EpochRecord,
) -> EpochRecord:
    """Check that a case's identity header is sealed to the key of `under`: π_r for the helper's original, or,
    after a re-key, the attestation of k members of the epoch that switched it (an epoch holding that key).
    Returns the record that vouches for it. Raises ProofError or ProtocolError."""
    if attested is not None:
        record = state.council_at(attested.attestation.epoch)
        if record is None or record.kid != under.kid:
            raise ProtocolError(f"case {b64u_encode(case_id)}: its switched header was attested for another council key")
        attested.check(case_id=case_id, record=record)
        return record
    if header is None:
        raise ProofError(f"case {b64u_encode(case_id)}: the server sent it without an identity header")
    check_header(header, kid=under.kid, case_id=case_id)
    return under


def parse_attested(wire: Any) -> AttestedHeader | None:
    """The `switched` part of a case as the server serves it (None before any re-key)."""
    if wire is None:
        return None
    if not isinstance(wire, dict) or not isinstance(wire.get("path"), list) or not isinstance(wire.get("leaf_index"), int):
        raise EncodingError("switched header: malformed")
    return AttestedHeader(
        header=from_wire(SwitchedHeader, wire["header"]),
        attestation=from_wire(HeaderAttestation, wire["attestation"]),
        leaf_index=wire["leaf_index"],
        path=tuple(b64u_decode(p, length=32, what="inclusion path") for p in wire["path"]),
    )
