"""reveal request / pending / approve / open: k members together open one identity."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from client.api import HostileServerError
from client.attaching import fetch_identity_attachments
from client.attachments import check_listing, describe_all, list_attachments
from client.casefiles import OpenedCase, open_case
from client.i18n import _, pgettext
from client.reveals import requester_of, send_approval, to_approve
from client.session import Session, UsageError
from client.terminal import clean, emit_json, say, table
from keys.attachments import Opener
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import open_identity
from keys.errors import DecryptionError, ProofError
from keys.reveal import (
    AttestedHeader,
    Blinding,
    PartialDecryption,
    RevealRequest,
    combine_reveal,
    open_purpose,
    request_reveal,
)
from keys.wire import from_wire

DEFAULT_HOURS = 72


def register(sub: Any) -> None:
    reveal = sub.add_parser("reveal", help=_("reveal an identity with the approval of k members")).add_subparsers(
        dest="reveal_command", required=True
    )
    p = reveal.add_parser("request", help=_("ask the council to reveal a case's identity; prints the request id"))
    p.add_argument("case")
    p.add_argument("--purpose", required=True, help=_("why (sealed: the members read it, the server cannot)"))
    p.add_argument("--hours", type=int, default=DEFAULT_HOURS, help=_("how long approvals are accepted (default %(default)s)"))
    p.set_defaults(run=cmd_request)
    p = reveal.add_parser("pending", help=_("requests you may approve"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_pending)
    p = reveal.add_parser("approve", help=_("approve a request: your part of the decryption, with its proof"))
    p.add_argument("request")
    p.add_argument("--yes", action="store_true", help=_("approve without asking (needed when not at a terminal)"))
    p.set_defaults(run=cmd_approve)
    p = reveal.add_parser("open", help=_("your own request: combine the approvals and read the identity"))
    p.add_argument("request")
    p.add_argument(
        "--attachments-to",
        type=Path,
        metavar="DIR",
        help=_("also open the case's identity attachments (photos, papers) into this directory"),
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_open)


async def cmd_request(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    if not 1 <= args.hours <= 24 * 30:
        raise UsageError(_("--hours must be from 1 to 720"))
    state, record = await session.council_state(home, api)
    case = await open_case(api, home, args.case, state)
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
    home.section("reveals")[rid] = {"blinding": b64u_encode(blinding.encode()), "case": case.text_id}
    home.save()  # keep b before the server knows the request
    await api.file_reveal(request)
    print(rid)
    return 0


async def cmd_pending(session: Session, args: argparse.Namespace) -> int:
    """Requests to approve, each with its purpose opened from a case that passed the checked opener; a request on
    a case the server made up or altered says so instead of a purpose."""
    home = session.open_home()
    api = session.api(home)
    state, record = await session.council_state(home, api)
    answer = await api.pending_reveals()
    rows = []
    for item in answer["requests"]:
        request = from_wire(RevealRequest, item["request"])
        try:
            case = await open_case(api, home, request.case_id, state)
            purpose = open_purpose(request, case.case_key)
        except ProofError as exc:
            purpose = f"(DO NOT APPROVE: {exc})"  # also in --json: English, as a script reads it
        except DecryptionError:
            purpose = "(cannot open)"
        rows.append(
            {
                "request_id": b64u_encode(request.request_id),
                "case_id": b64u_encode(request.case_id),
                "requester": requester_of(state, record, request),
                "purpose": purpose,
                "approvals": item.get("approvals"),
                "threshold": record.threshold,
                "expires": request.expiry,
            }
        )
    if args.json:
        emit_json({"requests": rows})
    else:
        table(
            [(r["request_id"], r["case_id"], r["requester"], f"{r['approvals']}/{r['threshold']}", r["purpose"]) for r in rows],
            (_("request"), pgettext("column", "case"), _("requester"), _("approvals"), _("purpose")),
        )
    return 0


async def cmd_approve(session: Session, args: argparse.Namespace) -> int:
    """Show who asks (from the verified council record), why (the purpose sealed under the key of a case that
    passed the checked opener) and how many approvals are still needed, then approve only on a typed yes or
    `--yes`; without a terminal `--yes` is required and nothing is sent without it
    (tests/hostile/test_terminal.py, test_reveal_approve_without_a_terminal_needs_yes)."""
    home = session.open_home()
    if not args.yes and not sys.stdin.isatty():
        raise UsageError(_("not at a terminal, so nobody can be asked: to approve, run it again with --yes"))
    api = session.api(home)
    state, record = await session.council_state(home, api)
    checked = await to_approve(api, home, state, record, args.request)
    approvals = checked.approvals
    still = max(record.threshold - approvals - 1, 0)
    say(
        _(
            "{requester} asks to reveal the identity in case {case}.",
            requester=checked.requester,
            case=checked.case.text_id,
        ),
        one_line=True,
    )
    say(_("purpose: {purpose}", purpose=clean(checked.purpose)))
    if still:
        said = _(
            "approvals so far (the server's count): {approvals} of {threshold} needed; {still} more needed after yours.",
            approvals=approvals,
            threshold=record.threshold,
            still=still,
        )
    else:
        said = _(
            "approvals so far (the server's count): {approvals} of {threshold} needed; yours completes the quorum.",
            approvals=approvals,
            threshold=record.threshold,
        )
    say(said)
    if not args.yes and input(_("Approve? Type yes: ")).strip().lower() != "yes":
        print(_("not approved."))
        return 1
    count = await send_approval(api, home, state, record, checked)
    left = max(record.threshold - count, 0)
    if left:
        done = _(
            "approved: {count} of the {threshold} approvals needed so far (the server's count); {left} more needed.",
            count=count,
            threshold=record.threshold,
            left=left,
        )
    else:
        done = _(
            "approved: {count} of the {threshold} approvals needed so far (the server's count); the requester can "
            "open it now.",
            count=count,
            threshold=record.threshold,
        )
    print(done)
    return 0


async def count_identity_attachments(case: OpenedCase) -> int:
    """How many of the case's attachments (those the case file or the helper's signed list names) are sealed with
    the identity: they open only with the identity key this request yields."""
    checked = check_listing(case.case_id, case.signed, case.signed.reply_sign_key, await list_attachments(case.api, case.case_id))
    rows = describe_all(
        checked.rows,
        case_id=case.case_id,
        openers=[Opener.for_case(case.case_id, case.case_key)],
        reply_sign_key=case.signed.reply_sign_key,
    )
    return sum(1 for r in rows if r["kind"] == "sealed")


async def cmd_open(session: Session, args: argparse.Namespace) -> int:
    """Combine the verified partials and read the identity; with --attachments-to also open the identity
    attachments the case file or the helper's signed list names. An attachment those name that the server does
    not list is reported and the command exits 3, keeping the request so it can be opened again
    (tests/hostile/test_cases.py, test_hidden_and_injected_attachments_are_noticed). Without --attachments-to the
    request is kept while the case has identity attachments, so opening them later still works."""
    home = session.open_home()
    api = session.api(home)
    kept = home.section("reveals").get(args.request)
    if kept is None:
        raise UsageError(_("this is not a request you made on this device"))
    state, record = await session.council_state(home, api)
    answer = await api.reveal(b64u_decode(args.request, what="request id"))
    request = from_wire(RevealRequest, answer["request"])
    partials = [from_wire(PartialDecryption, p) for p in answer["partials"]]
    if b64u_encode(request.request_id) != args.request:
        raise HostileServerError("asked for one reveal request, the server answered with another: nothing was combined")
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
    )  # QuorumError with fewer than k
    identity = json.loads(open_identity(case.envelope, identity_key, case.signed))
    files: list[dict[str, Any]] = []
    hidden: list[str] = []
    waiting = 0  # identity attachments not opened this time: the request stays so they can be
    if args.attachments_to is not None:
        files, hidden = await fetch_identity_attachments(api, case, identity_key, args.attachments_to)
    else:
        waiting = await count_identity_attachments(case)
    if not hidden and not waiting:
        del home.section("reveals")[args.request]  # erase b: this request is spent
        home.save()
    if args.json:
        emit_json({"request_id": args.request, "case_id": kept["case"], "identity": identity, "attachments": files})
    else:
        say(_("identity in case {case}:", case=kept["case"]), one_line=True)
        for name, value in identity.items() if isinstance(identity, dict) else []:
            say(f"  {clean(name, one_line=True)}: {clean(value)}")
        for f in files:
            say("  " + _("attachment: {file} ({size} bytes)", file=f["file"], size=f["size"]), one_line=True)
        if args.attachments_to is not None and not files and not hidden:
            print("  " + _("(no identity attachments)"))
    if waiting:
        print(
            _(
                "this case has {count} identity attachment(s) (photos, papers): the request stays on this device until "
                "you open them with `tessera reveal open {request} --attachments-to DIR`.",
                count=waiting,
                request=args.request,
            ),
            file=sys.stderr,
        )

    if hidden:
        raise ProofError(
            f"{len(hidden)} attachment(s) of this case that the helper listed were not served ({', '.join(hidden)}): the "
            "server hides them. The request is kept: open it again later, and tell your council"
        )
    return 0
