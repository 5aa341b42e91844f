"""Reveal requests as data: ask, list, show before approving, approve, open. What `tessera reveal request |
pending | approve | open` do inline today (client/commands/reveal.py), for the app; the CLI should call these
once issue 26 lands.

Who asks comes from the verified council record, never from the server's word; the purpose is opened with the
key of a case that passed the checked opener; the approvals count is the server's (shown as such: nothing is
decided on it, `combine_reveal` checks every partial). Hostile tests of the same steps: tests/hostile/
test_cases.py."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from client.api import Api, HostileServerError
from client.attachments import check_listing, describe_all, list_attachments, read_attachment
from client.casefiles import OpenedCase, open_case
from client.ceremony import share_for
from client.home import Home
from client.session import UsageError
from keys.attachments import Opener
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import open_identity
from keys.errors import DecryptionError, ProofError
from keys.reveal import (
    AttestedHeader,
    Blinding,
    PartialDecryption,
    RevealRequest,
    approve_reveal,
    combine_reveal,
    open_purpose,
    request_reveal,
)
from keys.wire import from_wire

MAX_HOURS = 24 * 30


@dataclass(frozen=True)
class Pending:
    request_id: str
    case_id: str
    requester: str
    purpose: str | None  # None: it did not open
    problem: str | None  # set: do not approve (the case did not check)
    approvals: int  # the server's count
    threshold: int
    expires: int

    @property
    def still_needed(self) -> int:
        """Approvals still needed after this member's."""
        return max(self.threshold - self.approvals - 1, 0)


def requester_of(state: DirectoryState, record: EpochRecord, request: RevealRequest) -> str:
    """Who signed the request, by the verified council record and directory (not by the server's word)."""
    member = record.member_by_sign_key(request.requester)
    if member is None:
        return "UNKNOWN (not a council member)"
    return member.account if state.active(member.account) is not None else f"{member.account} (revoked)"


def check_requester(state: DirectoryState, record: EpochRecord, request: RevealRequest) -> str:
    """The requester's account, an active member of the verified council; raises HostileServerError otherwise (a
    revoked member's keys, perhaps on a seized device, ask for nothing: tests/hostile/test_review_revoked.py)."""
    member = record.member_by_sign_key(request.requester)
    if member is None or state.active(member.account) is None:
        raise HostileServerError(
            f"the request was made by {requester_of(state, record, request)}: only an active council member may ask "
            "for a reveal (a revoked member's keys may be in someone else's hands), and nothing was approved"
        )
    return member.account


def count(value: object) -> int:
    """A count the server reports, shown as its word (0 for anything that is not a small count)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255 else 0


async def ask(api: Api, home: Home, state: DirectoryState, record: EpochRecord, case: str, purpose: str, hours: int) -> str:
    """File a reveal request for `case`; the blinding is kept in the keystore before the server learns of it.
    Returns the request id."""
    if not 1 <= hours <= MAX_HOURS:
        raise UsageError(f"a request stays open from 1 to {MAX_HOURS} hours")
    if not purpose.strip():
        raise UsageError("say why the identity is needed (the purpose is sealed: members read it, the server cannot)")
    opened = await open_case(api, home, case, state)
    header, _vouching = opened.identity_header(state)
    request, blinding = request_reveal(
        record=record,
        header=header.header if isinstance(header, AttestedHeader) else header,
        case_id=opened.case_id,
        keys=home.keys,
        purpose=purpose,
        case_key=opened.case_key,
        expiry=int(time.time()) + hours * 3600,
    )
    rid = b64u_encode(request.request_id)
    home.section("reveals")[rid] = {"blinding": b64u_encode(blinding.encode()), "case": opened.text_id}
    home.save()
    await api.file_reveal(request)
    return rid


async def pending(api: Api, home: Home, state: DirectoryState, record: EpochRecord) -> list[Pending]:
    """Requests this member may approve, each with its purpose opened from a case that passed the checked opener."""
    answer = await api.pending_reveals()
    out = []
    for item in answer.get("requests", []) if isinstance(answer, dict) else []:
        request = from_wire(RevealRequest, item.get("request"))
        purpose: str | None = None
        problem: str | None = None
        try:
            check_requester(state, record, request)
            case = await open_case(api, home, request.case_id, state)
            purpose = open_purpose(request, case.case_key)
        except (ProofError, HostileServerError) as exc:
            problem = str(exc)
        except DecryptionError:
            problem = "the purpose does not open with the case key"
        out.append(
            Pending(
                request_id=b64u_encode(request.request_id),
                case_id=b64u_encode(request.case_id),
                requester=requester_of(state, record, request),
                purpose=purpose,
                problem=problem,
                approvals=count(item.get("approvals")),
                threshold=record.threshold,
                expires=request.expiry,
            )
        )
    return out


@dataclass(frozen=True)
class ToApprove:
    """A pending request checked for this member's approval: what the member is shown before approving."""

    request: RevealRequest
    case: OpenedCase
    requester: str  # an active member of the verified council
    purpose: str  # opened with the case key
    approvals: int  # the server's count so far


async def to_approve(api: Api, home: Home, state: DirectoryState, record: EpochRecord, request_id: str) -> ToApprove:
    """The pending request `request_id`, checked before anyone approves it: this member holds a share of the
    record's key, the requester is an active member (a revoked member's request is not approved), the case opens
    through the checked opener and the purpose opens with its key. Raises UsageError or HostileServerError."""
    member = record.member_by_sign_key(home.keys.public().sign_key)
    if share_for(home.section("ceremony"), record.epoch) is None or member is None:
        raise UsageError(f"you hold no share of the council key of epoch {record.epoch}")
    listed = {p["request"]["request_id"]: p for p in (await api.pending_reveals()).get("requests", [])}
    item = listed.get(request_id)
    if item is None:
        raise UsageError("no such pending request (it expired, was approved by you already, or the id is wrong)")
    request = from_wire(RevealRequest, item["request"])
    requester = check_requester(state, record, request)
    case = await open_case(api, home, request.case_id, state)
    purpose = open_purpose(request, case.case_key)
    return ToApprove(request, case, requester, purpose, count(item.get("approvals")))


async def send_approval(api: Api, home: Home, state: DirectoryState, record: EpochRecord, checked: ToApprove) -> int:
    """This member's partial decryption for the request `to_approve` checked, with its proof. Returns the
    server's new count."""
    share = share_for(home.section("ceremony"), record.epoch)
    member = record.member_by_sign_key(home.keys.public().sign_key)
    assert share is not None and member is not None  # to_approve checked both
    header, vouching = checked.case.identity_header(state)
    partial = approve_reveal(
        checked.request,
        record=record,
        header=header,
        index=member.index,
        share=share,
        keys=home.keys,
        now=int(time.time()),
        attested_by=vouching,
    )
    answer = await api.post_partial(partial)
    return count(answer.get("approvals") if isinstance(answer, dict) else None)


async def approve(api: Api, home: Home, state: DirectoryState, record: EpochRecord, request_id: str) -> int:
    """`to_approve` then `send_approval` (the app, after its confirmation page). Returns the server's new count."""
    return await send_approval(api, home, state, record, await to_approve(api, home, state, record, request_id))


@dataclass(frozen=True)
class OpenedFile:
    """An identity attachment opened in memory after a reveal (never written to disk here)."""

    attachment_id: str
    name: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class Revealed:
    request_id: str
    case_id: str
    identity: dict[str, Any]
    files: list[OpenedFile]  # the identity attachments opened with it
    left: list[str]  # identity attachments not opened here (still uploading, or too large for memory)
    hidden: list[str]  # ids the helper listed that the server did not serve: it hides them
    kept: bool  # the request is kept (something is left or hidden): open it again, or with the CLI


async def open_request(
    api: Api, home: Home, state: DirectoryState, record: EpochRecord, request_id: str, *, max_file: int
) -> Revealed:
    """Combine the verified partials of this member's own request (QuorumError with fewer than k), read the
    identity and open, in memory, every identity attachment the case file or the helper's signed list names, up
    to `max_file` bytes each. The request's blinding is erased only when nothing is left to open and the server
    hid nothing (as `tessera reveal open --attachments-to` does, which opens larger files onto disk)."""
    kept = home.section("reveals").get(request_id)
    if kept is None:
        raise UsageError("this is not a request you made on this device")
    answer = await api.reveal(b64u_decode(request_id, what="request id"))
    request = from_wire(RevealRequest, answer["request"])
    partials = [from_wire(PartialDecryption, p) for p in answer.get("partials", [])]
    case = await open_case(api, home, kept["case"], state)
    if request.case_id != case.case_id:
        raise ProofError("the server answered with a request for another case")
    header, _vouching = case.identity_header(state)
    identity_key = combine_reveal(
        request,
        Blinding.decode(b64u_decode(kept["blinding"])),
        partials,
        record=record,
        header=header.header if isinstance(header, AttestedHeader) else header,
    )
    identity = json.loads(open_identity(case.envelope, identity_key, case.signed))
    checked = check_listing(case.case_id, case.signed, case.signed.reply_sign_key, await list_attachments(api, case.case_id))
    openers = [Opener.for_identity(case.case_id, identity_key), Opener.for_case(case.case_id, case.case_key)]
    rows = describe_all(checked.rows, case_id=case.case_id, openers=openers, reply_sign_key=case.signed.reply_sign_key)
    files: list[OpenedFile] = []
    left: list[str] = []
    for row in rows:
        if row["kind"] != "identity":
            continue
        if not row["complete"] or int(row["size"]) > max_file:
            left.append(str(row["name"]))
            continue
        descriptor, data = await read_attachment(
            api,
            case_id=case.case_id,
            attachment_id=b64u_decode(str(row["attachment_id"]), length=16),
            openers=openers,
            reply_sign_key=case.signed.reply_sign_key,
            max_size=max_file,
        )
        files.append(OpenedFile(str(row["attachment_id"]), descriptor.name, descriptor.media_type, data))
    still = bool(left or checked.hidden)
    if not still:
        del home.section("reveals")[request_id]  # erase b: this request is spent
        home.save()
    return Revealed(
        request_id, case.text_id, identity if isinstance(identity, dict) else {}, files, left, list(checked.hidden), still
    )


def my_requests(home: Home) -> list[dict[str, str]]:
    """The reveal requests this device made and can still open."""
    return [{"request_id": rid, "case_id": str(v.get("case"))} for rid, v in home.section("reveals").items()]
