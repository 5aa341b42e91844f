"""Reading a case on the device: the one checked opener every command that acts on a case goes through.

`open_case` fetches a case, opens its case file with this device's key wrap (a council member's) or the case's
reply key (its helper's), and checks, before anything is shown, sealed or signed on it, that a real helper
wrote it (keys/envelope.py `open_checked_case_file`: the author and key in the verified key directory, for a
helper her own account and reply keys, and the directory head the author saw). Decisions are read from their
signatures only (`decisions`). The identity stays sealed (that needs a reveal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from client.api import Api, ApiError
from client.home import Home
from client.session import UsageError
from keys.accounts import AccountKeys
from keys.attestation import HeaderAttestation
from keys.council import EpochRecord
from keys.decisions import Proposal, Vote, open_note, tally, verify_proposal, verify_vote
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import CaseFile, IntakeEnvelope, OwnCase, open_checked_case_file, reply_keys, unwrap_case_key
from keys.errors import DecryptionError, EncodingError, ProofError, ProtocolError, TesseraError
from keys.kem import IdentityHeader, check_header
from keys.keyswitch import SwitchedHeader
from keys.requests import case_principal
from keys.reveal import AttestedHeader
from keys.wire import from_wire


class CaseMissingError(UsageError):
    """The server does not serve a case this helper submitted."""


class NotForYouError(ProofError):
    """The case the server served carries no key wrap this device can open."""


@dataclass
class OpenedCase:
    """A case whose case file opened and whose author checked out against `directory`.

    `api` and `keys` are what acts on the case: for a council member their account; for the case's helper
    the case's reply key (principal `case:<id>`), so the server links no account to the case."""

    case_id: bytes
    raw: dict[str, Any]
    envelope: IntakeEnvelope
    case_key: bytes
    signed: CaseFile
    directory: DirectoryState
    api: Api
    keys: AccountKeys
    attested: AttestedHeader | None = None  # after a re-key: the switched header as the server serves it

    @property
    def text_id(self) -> str:
        return b64u_encode(self.case_id)

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

    def decisions(self) -> list[dict[str, Any]]:
        """The case's decisions as their signatures say (see `read_decision`)."""
        return [
            read_decision(d, case_id=self.case_id, case_key=self.case_key, directory=self.directory) for d in _items(self.raw)
        ]

    def summary(self) -> dict[str, Any]:
        form = self.form
        author = self.directory.accounts.get(self.signed.author)
        return {
            "case_id": self.text_id,
            "state": self.raw.get("state"),
            "day": self.raw.get("day"),
            "kind": form.get("kind"),
            "case_file": form.get("fields", {}),
            "submitted_by": self.signed.author,
            "author_verified": True,  # open_checked_case_file refuses any other case
            "author_revoked": bool(author and author.revoked),
            "decisions": self.decisions(),
        }


def _items(raw: dict[str, Any]) -> list[dict[str, Any]]:
    decisions = raw.get("decisions")
    return [d for d in decisions if isinstance(d, dict)] if isinstance(decisions, list) else []


def parse_case_id(text: str) -> bytes:
    try:
        return b64u_decode(text.strip(), length=16, what="case id")
    except EncodingError as exc:
        raise UsageError(f"{text!r} is not a case id (22 characters, as `tessera cases list` shows)") from exc


async def open_case(api: Api, home: Home, case: str | bytes, state: DirectoryState) -> OpenedCase:
    """Fetch a case and open it with this device's keys; the one way a command reaches a case.

    `state` is the verified key directory of this command (`Session.directory`). A council member opens the
    case with their own key wrap; a helper opens her own case through its reply key and must be its author.
    Raises ProofError when the server made the case up, swapped it or altered it (exit 3), DirectoryError when
    its author saw another key directory (a fork), UsageError for a bad id, a case still in the outbox or (for
    its helper) one the server does not serve. Shown by tests/hostile/test_cases.py:
    test_members_do_not_act_on_a_case_the_server_made_up, test_a_helper_does_not_attach_to_a_case_the_server_made_up,
    test_a_helper_does_not_write_on_a_case_the_server_made_up, test_a_case_sealed_under_a_forked_directory_is_refused.
    """
    case_id = parse_case_id(case) if isinstance(case, str) else case
    text = b64u_encode(case_id)
    own: OwnCase | None = None
    if home.role == "helper":
        if any(pending == case_id for pending, _ in home.outbox()):
            raise UsageError("this case is still in your outbox: send it first with `tessera outbox flush`")
        keys = reply_keys(home.reply_secret, case_id)
        api = api.as_principal(case_principal(case_id), keys)
        own = OwnCase(account=home.account, reply_secret=home.reply_secret)
        try:
            raw = await api.case(case_id)
        except ApiError as exc:
            if exc.status in (401, 404):  # a case principal for a case the server lacks cannot authenticate
                raise CaseMissingError(f"the server has no case {text} that you submitted from this device") from exc
            raise
    elif home.role == "council":
        keys = home.keys
        raw = await api.case(case_id)
    else:
        raise UsageError("cases are read by council members and by the helper who submitted them")
    return _open(api, keys, case_id, raw, state, own)


def open_served(api: Api, home: Home, raw: Any, state: DirectoryState) -> OpenedCase:
    """A council member's case from a page of whole cases (`GET /v1/case-pages`), checked exactly as `open_case`
    checks one it fetched itself. Raises ProofError, NotForYouError, DirectoryError or EncodingError as it does."""
    if home.role != "council":
        raise UsageError("pages of cases are read by council members")
    try:
        case_id = b64u_decode(str(raw.get("case_id")), length=16, what="case id") if isinstance(raw, dict) else b""
    except EncodingError as exc:
        raise ProofError("the server listed a case under a malformed id") from exc
    return _open(api, home.keys, case_id, raw, state, None)


def _open(api: Api, keys: AccountKeys, case_id: bytes, raw: Any, state: DirectoryState, own: OwnCase | None) -> OpenedCase:
    """Open and check one case the server served (see `open_case`)."""
    text = b64u_encode(case_id)
    if not isinstance(raw, dict):
        raise ProofError(f"the server's answer for case {text} is not a case")
    envelope = from_wire(IntakeEnvelope, raw.get("envelope"))
    if envelope.case_id != case_id:
        raise ProofError(f"asked for case {text}, the server answered with case {b64u_encode(envelope.case_id)}")
    if own is not None:
        wrap = envelope.reply_wrap
    else:
        box_key = keys.public().box_key
        found = next((w for w in envelope.wraps if w.recipient == box_key), None)
        if found is None:
            raise NotForYouError(f"the server sent case {text} without a key wrap for you")
        wrap = found
    attested = parse_attested(raw.get("switched"))
    try:
        case_key = unwrap_case_key(keys, case_id, wrap)
        signed = open_checked_case_file(
            envelope, case_key, directory=state, switched=attested.header if attested else None, own=own
        )
    except DecryptionError as exc:
        raise NotForYouError(f"case {text} does not open with your key ({exc}): the server altered what it serves") from exc
    return OpenedCase(case_id, raw, envelope, case_key, signed, state, api, keys, attested)


def member_keys(record: EpochRecord, directory: DirectoryState) -> dict[bytes, str]:
    """Signing key -> account for the active members of `record`: the key in the record, and each member's
    current and earlier keys in the verified directory (a member who rotated keys still signs as themselves). A
    revoked member's keys count for nothing (hostile test: test_review_revoked.py)."""
    keys: dict[bytes, str] = {}
    for m in directory.active_members(record):
        keys.setdefault(m.sign_key, m.account)
        account = directory.accounts[m.account]
        for key in (account.keys.sign_key, *account.retired):
            keys.setdefault(key, m.account)
    return keys


def read_decision(d: dict[str, Any], *, case_id: bytes, case_key: bytes, directory: DirectoryState) -> dict[str, Any]:
    """One decision as its signatures say, never as the server's fields do.

    Action, case, note, epoch and quorum come from the proposal the proposer signed, who must be a member of
    the council record of the proposal's epoch in the verified `directory`; a proposal of another case is
    not this case's decision. The state is `tally` of the votes that verify, signed over the proposal's
    digest by members of that epoch. The directory heads the proposer and the voters saw are cross-checked
    (DirectoryError, a fork). `verified` is False, with `problem` saying why, for anything that does not
    check; the server's own state is kept as `server_state` only to say when it disagrees.
    Shown by tests/hostile/test_cases.py: test_a_decision_of_another_case_is_not_shown_as_this_cases,
    test_the_action_shown_is_the_signed_one, test_the_inbox_shows_an_outcome_only_when_its_quorum_verifies,
    test_the_state_shown_is_counted_from_signed_votes (who counts: tests/keys/test_decisions.py).
    """
    server_state = str(d.get("state", "?"))
    base: dict[str, Any] = {
        "proposal_id": str(d.get("proposal_id", "?")),
        "case_id": b64u_encode(case_id),
        "action": None,
        "note": None,
        "proposer": None,
        "epoch": None,
        "needed": None,
        "votes": [],
        "yes_votes_verified": 0,
        "state": "unverified",
        "server_state": server_state,
        "day": d.get("day"),
        "verified": False,
        "problem": None,
    }
    wire = d.get("proposal")
    if isinstance(wire, dict) and wire.get("v") == 1:
        return {**base, "problem": "an older proposal (version 1): its votes do not name what they approve, so it is not counted"}
    try:
        proposal = from_wire(Proposal, wire)
    except EncodingError as exc:
        return {**base, "problem": f"the proposal is malformed ({exc})"}
    base["proposal_id"] = b64u_encode(proposal.proposal_id)
    if proposal.case_id != case_id:
        return {
            **base,
            "problem": f"a decision of another case ({b64u_encode(proposal.case_id)}): the server mixed cases; it is not "
            "this case's decision",
        }
    record = directory.council_at(proposal.epoch)
    if record is None:
        return {**base, "problem": f"names council epoch {proposal.epoch}, which the verified key directory does not have"}
    members = member_keys(record, directory)
    proposer = members.get(proposal.proposer)
    if proposer is None or not _valid(verify_proposal, proposal):
        return {**base, "problem": f"not signed by a member of the council of epoch {proposal.epoch}"}
    directory.check_head(proposal.head_seq, proposal.head_hash, who=f"{proposer}, who proposed decision {base['proposal_id']}")
    try:
        note = open_note(proposal, case_key)
    except DecryptionError:
        return {**base, "action": proposal.action, "proposer": proposer, "problem": "its note does not open with the case key"}
    ballots = _ballots(d.get("votes"))
    for ballot in ballots:
        voter = members.get(ballot.voter)
        if voter is not None and _valid(lambda b: verify_vote(b, proposal), ballot):
            directory.check_head(ballot.head_seq, ballot.head_hash, who=f"{voter}, who voted on decision {base['proposal_id']}")
    size = len(record.members)
    counted = tally(proposal, ballots, members=members, council_size=size, threshold=record.threshold)
    problem = None
    if proposal.needed > size:
        problem = f"it needs {proposal.needed} yes votes, more than the council of epoch {proposal.epoch} has ({size})"
    return {
        **base,
        "action": proposal.action,
        "note": note,
        "proposer": proposer,
        "epoch": proposal.epoch,
        "needed": proposal.needed,
        "votes": [{"account": a, "approve": True} for a in counted.yes] + [{"account": a, "approve": False} for a in counted.no],
        "yes_votes_verified": len(counted.yes),
        "state": counted.state if problem is None else "unverified",
        "verified": problem is None,
        "problem": problem,
    }


def _ballots(items: Any) -> list[Vote]:
    """The votes that parse; anything else the server sent is left out (it cannot count)."""
    out = []
    for item in items if isinstance(items, list) else []:
        try:
            out.append(from_wire(Vote, item.get("vote") if isinstance(item, dict) else None))
        except EncodingError:
            continue
    return out


def _valid(check: Any, value: Any) -> bool:
    try:
        check(value)
    except TesseraError:
        return False
    return True


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
