"""reveal request / pending / approve / open: k members together open one identity."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from client.casefiles import open_as_member, parse_case_id
from client.ceremony import share_for
from client.commands.attachments import fetch_identity_attachments
from client.output import emit_json, table
from client.session import Session, UsageError
from keys.council import EpochRecord
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import open_identity
from keys.errors import TesseraError
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
from keys.wire import from_wire, to_wire

DEFAULT_HOURS = 72


def register(sub: Any) -> None:
    reveal = sub.add_parser("reveal", help="reveal an identity with the approval of k members").add_subparsers(
        dest="reveal_command", required=True
    )
    p = reveal.add_parser("request", help="ask the council to reveal a case's identity; prints the request id")
    p.add_argument("case")
    p.add_argument("--purpose", required=True, help="why (sealed: the members read it, the server cannot)")
    p.add_argument("--hours", type=int, default=DEFAULT_HOURS, help=f"how long approvals are accepted (default {DEFAULT_HOURS})")
    p.set_defaults(run=cmd_request)
    p = reveal.add_parser("pending", help="requests you may approve")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_pending)
    p = reveal.add_parser("approve", help="approve a request: your part of the decryption, with its proof")
    p.add_argument("request")
    p.set_defaults(run=cmd_approve)
    p = reveal.add_parser("open", help="your own request: combine the approvals and read the identity")
    p.add_argument("request")
    p.add_argument(
        "--attachments-to",
        type=Path,
        metavar="DIR",
        help="also open the case's identity attachments (photos, papers) into this directory",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_open)


def _requester(record: EpochRecord, request: RevealRequest) -> str:
    """Who signed the request, by the verified council record (not by the server's word)."""
    member = record.member_by_sign_key(request.requester)
    return member.account if member else "UNKNOWN (not a council member)"


async def cmd_request(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    if not 1 <= args.hours <= 24 * 30:
        raise UsageError("--hours must be from 1 to 720")
    state, record = await session.council_state(home, api)
    case = await open_as_member(api, home, args.case)
    header, _vouching = case.identity_header(state)
    request, blinding = request_reveal(
        record=record,
        header=header.header if isinstance(header, AttestedHeader) else header,
        case_id=case.case_id,
        keys=home.keys,
        purpose=args.purpose,
        case_key=case.case_key,
        expiry=int(time.time()) + args.hours * 3600,
    )
    rid = b64u_encode(request.request_id)
    home.section("reveals")[rid] = {"blinding": b64u_encode(blinding.encode()), "case": args.case}
    home.save()  # keep b before the server knows the request
    await api.call("POST", "/v1/reveals", body=to_wire(request))
    print(rid)
    return 0


async def cmd_pending(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    record = await session.council(home, api)
    answer = await api.call("GET", "/v1/reveals")
    rows = []
    for item in answer["requests"]:
        request = from_wire(RevealRequest, item["request"])
        purpose = "(cannot open)"
        try:
            case = await open_as_member(api, home, b64u_encode(request.case_id))
            purpose = open_purpose(request, case.case_key)
        except TesseraError:
            pass
        rows.append(
            {
                "request_id": b64u_encode(request.request_id),
                "case_id": b64u_encode(request.case_id),
                "requester": _requester(record, request),
                "purpose": purpose,
                "approvals": item["approvals"],
                "threshold": item["threshold"],
                "expires": request.expiry,
            }
        )
    if args.json:
        emit_json({"requests": rows})
    else:
        table(
            [(r["request_id"], r["case_id"], r["requester"], f"{r['approvals']}/{r['threshold']}", r["purpose"]) for r in rows],
            ("request", "case", "requester", "approvals", "purpose"),
        )
    return 0


async def cmd_approve(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    state, record = await session.council_state(home, api)
    share = share_for(home.section("ceremony"), record.epoch)
    member = record.member_by_sign_key(home.keys.public().sign_key)
    if share is None or member is None:
        raise UsageError(f"you hold no share of the council key of epoch {record.epoch}")
    pending = {p["request"]["request_id"]: p for p in (await api.call("GET", "/v1/reveals"))["requests"]}
    item = pending.get(args.request)
    if item is None:
        raise UsageError("no such pending request (it expired, was approved by you already, or the id is wrong)")
    request = from_wire(RevealRequest, item["request"])
    case = await open_as_member(api, home, b64u_encode(request.case_id))
    purpose = open_purpose(request, case.case_key)
    print(f"{_requester(record, request)} asks to reveal the identity in case {b64u_encode(request.case_id)}: {purpose}")
    if sys.stdin.isatty() and input("Approve? Type yes: ").strip().lower() != "yes":
        print("not approved.")
        return 1
    header, vouching = case.identity_header(state)
    partial = approve_reveal(
        request,
        record=record,
        header=header,
        index=member.index,
        share=share,
        keys=home.keys,
        now=int(time.time()),
        attested_by=vouching,
    )
    answer = await api.call("POST", f"/v1/reveals/{args.request}/partials", body=to_wire(partial))
    print(f"approved ({answer['approvals']} of {record.threshold} needed).")
    return 0


async def cmd_open(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    kept = home.section("reveals").get(args.request)
    if kept is None:
        raise UsageError("this is not a request you made on this device")
    state, record = await session.council_state(home, api)
    answer = await api.call("GET", f"/v1/reveals/{args.request}")
    request = from_wire(RevealRequest, answer["request"])
    partials = [from_wire(PartialDecryption, p) for p in answer["partials"]]
    case = await open_as_member(api, home, kept["case"])
    parse_case_id(kept["case"])
    header, _vouching = case.identity_header(state)
    identity_key = combine_reveal(
        request,
        Blinding.decode(b64u_decode(kept["blinding"])),
        partials,
        record=record,
        header=header.header if isinstance(header, AttestedHeader) else header,
    )  # QuorumError with fewer than k
    identity = json.loads(open_identity(case.envelope, identity_key, case.signed))
    files = []
    if args.attachments_to is not None:
        files = await fetch_identity_attachments(api, case, identity_key, args.attachments_to)
    del home.section("reveals")[args.request]  # erase b: this request is spent
    home.save()
    if args.json:
        emit_json({"request_id": args.request, "case_id": kept["case"], "identity": identity, "attachments": files})
    else:
        print(f"identity in case {kept['case']}:")
        for name, value in identity.items():
            print(f"  {name}: {value}")
        for f in files:
            print(f"  attachment: {f['file']} ({f['size']} bytes)")
        if args.attachments_to is not None and not files:
            print("  (no identity attachments)")
    return 0
