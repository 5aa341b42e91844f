"""intake new / intake submit / outbox flush: forms are sealed at once, kept in the encrypted outbox, and
uploaded when the server answers. After upload only the case id stays on the device."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from client.api import ApiError, ServerUnreachableError
from client.attachments import flush_uploads
from client.commands.attachments import add_attach_options, plan_files, prepare_all, report_plan
from client.forms import attachment_default, kinds_help, parse_form, template
from client.home import Home
from client.output import progress
from client.session import Session, UsageError
from keys.council import EpochRecord
from keys.encoding import b64u_decode, b64u_encode, canonical_json
from keys.envelope import new_case_id, open_case_file, reply_keys, seal_intake, unwrap_case_key
from keys.wire import encode_json, from_wire


def register(sub: Any) -> None:
    intake = sub.add_parser("intake", help="record a case").add_subparsers(dest="intake_command", required=True)
    p = intake.add_parser("new", help="print an empty form for a kind of case")
    p.add_argument("kind", help=f"one of: {kinds_help()}")
    p.set_defaults(run=cmd_new)
    p = intake.add_parser("submit", help="check, seal and send a filled-in form; prints the case id")
    p.add_argument("--kind", required=True, help=f"one of: {kinds_help()}")
    p.add_argument("--form", required=True, type=Path, help="the filled-in form file")
    p.add_argument("--offline", action="store_true", help="only seal it into the outbox; send later with `outbox flush`")
    p.add_argument("--keep-form", action="store_true", help="do not delete the form file after sealing")
    p.add_argument(
        "--attach",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a photo or document to seal with the case (repeatable); photos lose their metadata first",
    )
    add_attach_options(p)
    p.set_defaults(run=cmd_submit)
    outbox = sub.add_parser("outbox", help="sealed intakes waiting to be sent").add_subparsers(
        dest="outbox_command", required=True
    )
    p = outbox.add_parser("flush", help="send everything in the outbox (safe to repeat)")
    p.set_defaults(run=cmd_flush)


async def cmd_new(session: Session, args: argparse.Namespace) -> int:
    print(template(args.kind), end="")
    return 0


async def cmd_submit(session: Session, args: argparse.Namespace) -> int:
    try:
        text = args.form.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the form {args.form}: {exc.strerror}") from exc
    form = parse_form(text, args.kind)
    home = session.open_home()
    if home.role != "helper":
        raise UsageError("intakes are submitted by field helpers")
    plans = plan_files(args.attach, keep_metadata=args.keep_metadata)  # refuse before anything is sealed
    record = None
    if not args.offline:
        try:
            record = await session.council(home, session.api(home))
        except ServerUnreachableError:
            print("the server does not answer: sealing with the council key verified last time.")
    if record is None:
        record = cached_council(home)
    pin = home.state["pin"]
    case_id = new_case_id()
    envelope = seal_intake(
        case_id=case_id,
        case_file=canonical_json({"kind": form.kind, "schema": 1, "fields": dict(form.case)}),
        identity=canonical_json(dict(form.identity)),
        record=record,
        author=home.account,
        author_keys=home.keys,
        reply_secret=home.reply_secret,
        head_seq=int(pin["seq"]),
        head_hash=b64u_decode(pin["head"], length=32),
    )
    home.put_outbox(case_id, encode_json(envelope))
    if plans:
        # the helper's own copy of the case key (through the reply key) seals the attachment descriptors
        case_key = unwrap_case_key(reply_keys(home.reply_secret, case_id), case_id, envelope.reply_wrap)
        signed = open_case_file(envelope, case_key)
        kind = args.attach_as or attachment_default(form.kind)
        for p in plans:
            report_plan(p)
        prepare_all(home, case_id, case_key, signed.attachment_key, plans, kind)
    if not args.keep_form:
        args.form.unlink()
    if args.offline:
        with_files = f" with {len(plans)} attachment(s)" if plans else ""
        print(f"sealed into the outbox{with_files}; send it with `tessera outbox flush`. case id: {b64u_encode(case_id)}")
        print(b64u_encode(case_id))
        return 0
    _sent, waiting = await flush(session, home)
    if not waiting and plans:
        _done, waiting = await flush_uploads(session.api(home), home)
    if waiting:
        print("the server did not answer; what is left is sealed in the outbox. Run `tessera outbox flush` later.")
    print(b64u_encode(case_id))
    return 0


def cached_council(home: Home) -> EpochRecord:
    """The council record this device verified from its pinned head the last time it was online."""
    cached = home.state.get("council")
    if cached is None:
        raise UsageError("no verified council key on this device yet: connect to the server once before sealing offline")
    return from_wire(EpochRecord, cached)


async def flush(session: Session, home: Home) -> tuple[int, int]:
    """Send every outbox item; returns (sent, still waiting). Idempotent: the server returns the same receipt."""
    api = session.api(home)
    items = list(home.outbox())
    sent = 0
    for n, (case_id, body) in enumerate(items, start=1):
        try:
            await api.call("PUT", f"/v1/cases/{b64u_encode(case_id)}", body=json.loads(body))
        except ServerUnreachableError:
            return sent, len(items) - sent
        except ApiError as exc:
            if exc.status == 409:
                raise UsageError(f"the server holds a different intake under case id {b64u_encode(case_id)}") from exc
            raise
        home.drop_outbox(case_id)
        cases = home.state.setdefault("cases", [])
        cases.append(b64u_encode(case_id))
        home.save()
        sent += 1
        progress(n, len(items), "sending")
    return sent, 0


async def cmd_flush(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    sent, waiting = await flush(session, home)
    if waiting:
        print(f"sent {sent}; {waiting} still waiting: the server does not answer. Try again later.")
        return 1
    uploaded, unfinished = await flush_uploads(session.api(home), home)
    if unfinished:
        print(
            f"sent {sent} intake(s) and {uploaded} attachment(s); {unfinished} attachment(s) still waiting: "
            "the server stopped answering. Try again later; uploads resume where they stopped."
        )
        return 1
    print(f"sent {sent} intake(s) and {uploaded} attachment(s); the outbox is empty.")
    return 0
