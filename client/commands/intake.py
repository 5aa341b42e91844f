"""intake new / submit / amend / withdraw; outbox flush / list / drop: forms are sealed at once, kept in the encrypted outbox, and
uploaded when the server answers. An outbox copy is deleted only after the server's signed receipt for exactly
that case id and envelope verified under the server key of the verified key directory; then only the case id
(and the receipt's day) stays on the device, and `tessera sync` checks the server still serves the case."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import aiohttp

from client.api import ServerUnreachableError
from client.attaching import plan_files
from client.attachments import PendingUpload
from client.casefiles import OpenedCase, open_case
from client.commands.attachments import add_attach_options, report_plan
from client.forms import kinds_help, parse_amendment, parse_form, template
from client.home import Home
from client.i18n import N_, _, pgettext
from client.net import isolated
from client.sealing import cached_council, seal_form
from client.session import Session, UsageError
from client.submit import (
    BOUND,
    anonymous_directory,
    bind,
    case_council,
    flush,
    flush_case_uploads,
    send_sealed,
    token_for,
)
from client.terminal import emit_json, say, table
from client.triage import outbox_view
from keys.addenda import Addendum, AddendumField, addendum_text
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.messages import seal_message
from keys.tokens import Token

ALLOW_LINKED = N_(
    "when this device has no submission token left, send signed by your account instead of keeping the intake in "
    "the outbox (the server then knows the case is yours)"
)


def register(sub: Any) -> None:
    intake = sub.add_parser("intake", help=_("record a case")).add_subparsers(dest="intake_command", required=True)
    p = intake.add_parser("new", help=_("print an empty form for a kind of case"))
    p.add_argument("kind", help=_("one of: {kinds}", kinds=kinds_help()))
    p.set_defaults(run=cmd_new)
    p = intake.add_parser("submit", help=_("check, seal and send a filled-in form; prints the case id"))
    p.add_argument("--kind", required=True, help=_("one of: {kinds}", kinds=kinds_help()))
    p.add_argument("--form", required=True, type=Path, help=_("the filled-in form file"))
    p.add_argument("--offline", action="store_true", help=_("only seal it into the outbox; send later with `outbox flush`"))
    p.add_argument("--keep-form", action="store_true", help=_("do not delete the form file after sealing"))
    p.add_argument("--allow-linked", action="store_true", help=_(ALLOW_LINKED))
    p.add_argument(
        "--attach",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help=_("a photo or document to seal with the case (repeatable); photos lose their metadata first"),
    )
    add_attach_options(p)
    p.set_defaults(run=cmd_submit)
    p = intake.add_parser(
        "amend",
        help=_("add to one of your cases: case-file fields and/or a note (what the council asked for)"),
        description=_(
            "Seal an amendment to a case you sent: case-file fields from a TOML file with a [case] table "
            "(some fields of the case's form; `intake new KIND` shows them) and/or a note. Every council member can "
            "read it, so it never carries identity details. The form file is deleted once the server has it."
        ),
    )
    p.add_argument("case", help=_("the case id"))
    p.add_argument("--form", type=Path, help=_("a TOML file with a [case] table of the fields to add or correct"))
    p.add_argument("--note", default="", help=_("what you add, in words (e.g. the answer to the council's question)"))
    p.add_argument("--keep-form", action="store_true", help=_("do not delete the form file after sending"))
    p.set_defaults(run=cmd_amend)
    p = intake.add_parser("withdraw", help=_("ask the council to close one of your cases (it sees your signed request)"))
    p.add_argument("case", help=_("the case id"))
    p.add_argument("--reason", default="", help=_("why (the council reads it)"))
    p.add_argument("--yes", action="store_true", help=_("send without asking (needed when not at a terminal)"))
    p.set_defaults(run=cmd_withdraw)
    outbox = sub.add_parser("outbox", help=_("sealed intakes waiting to be sent")).add_subparsers(
        dest="outbox_command", required=True
    )
    p = outbox.add_parser(
        "flush",
        help=_("send everything in the outbox (safe to repeat)"),
        description=_(
            "Send every sealed intake, each on a connection of its own and paid with an anonymous submission "
            "token instead of your account's signature, so the server cannot tell which cases are yours; then the "
            "unfinished attachment uploads, each case's on its own connection."
        ),
    )
    p.add_argument("--allow-linked", action="store_true", help=_(ALLOW_LINKED))
    p.set_defaults(run=cmd_flush)
    p = outbox.add_parser("list", help=_("what waits in the outbox: intakes not sent yet, unfinished uploads"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_outbox_list)
    p = outbox.add_parser(
        "drop",
        help=_("remove one item from the outbox for good (asks first; says what is lost)"),
        description=_(
            "Remove an intake that was never sent (the case is lost: the outbox holds its only copy) or an "
            "unfinished attachment upload. ITEM is the id `tessera outbox list` shows."
        ),
    )
    p.add_argument("item", help=_("a case id (an intake) or an attachment id (an upload), as `outbox list` shows"))
    p.add_argument("--yes", action="store_true", help=_("drop it without asking (needed when not at a terminal)"))
    p.set_defaults(run=cmd_outbox_drop)


async def cmd_new(session: Session, args: argparse.Namespace) -> int:
    print(template(args.kind), end="")
    return 0


async def cmd_submit(session: Session, args: argparse.Namespace) -> int:
    try:
        text = args.form.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(_("cannot read the form {path}: {problem}", path=args.form, problem=exc.strerror)) from exc
    form = parse_form(text, args.kind)
    home = session.open_home()
    if home.role != "helper":
        raise UsageError(_("intakes are submitted by field helpers"))
    plans = plan_files(args.attach, keep_metadata=args.keep_metadata)  # refuse before anything is sealed
    for p in plans:
        report_plan(p)
    if args.offline:
        case_id = seal_form(home, form, cached_council(home), plans, attach_as=args.attach_as)
        return _sealed_only(args, plans, case_id)
    try:
        token = await token_for(session, home)
    except ServerUnreachableError:
        token = None
    # everything about this case goes on a connection of its own (its own Tor circuit), never the account's
    async with isolated(session.args.proxy) as http:
        state = await _verified_directory(session, home, http, token)
        if state is None:
            print(_("the server does not answer: sealing with the council key verified last time."))
        record = state.council if state is not None and state.council is not None else cached_council(home)
        case_id = seal_form(home, form, record, plans, attach_as=args.attach_as, state=state)
        if token is not None:
            bind(home, case_id, token)
        if state is None:
            # sealed to the council this device verified last: if the directory answers now and names another
            # council (a cut connection must not make a new intake go to a council that removed someone), seal again
            state = await _verified_directory(session, home, http, token)
            now = state.council if state is not None else None
            if now is not None and (now.kid, now.epoch) != (record.kid, record.epoch):
                drop_intake(home, case_id)
                case_id = seal_form(home, form, now, plans, attach_as=args.attach_as, state=state)
                if token is not None:
                    bind(home, case_id, token)
                print(
                    _(
                        "the council changed since this device last verified it: sealed again to council epoch {epoch}.",
                        epoch=now.epoch,
                    )
                )
        if not args.keep_form:
            args.form.unlink()
        if state is None:
            return _sealed_only(args, plans, case_id)
        if plans:
            print(_(SEALED_FILES, count=len(plans)))
        if token is None and not args.allow_linked:
            print(_(KEPT_UNPAID, case=b64u_encode(case_id), flag="tessera outbox flush --allow-linked"), file=sys.stderr)
            print(b64u_encode(case_id))
            return 1
        try:
            sent = await send_sealed(session, home, case_id, _sealed(home, case_id), http=http, token=token, state=state)
        except ServerUnreachableError:
            print(_("the server did not answer; the intake is sealed in the outbox. Run `tessera outbox flush` later."))
            print(b64u_encode(case_id))
            return 1
    if sent.linked:
        print(_("sent signed by your account (--allow-linked): the server knows this case is yours."), file=sys.stderr)
    if sent.uploads_waiting:
        print(_("the server stopped answering; what is left is sealed in the outbox. Run `tessera outbox flush` later."))
    print(b64u_encode(case_id))
    return 0


SEALED_FILES = N_("sealed {count} file(s) into the outbox: the originals are no longer needed by Tessera.")
KEPT_UNPAID = N_(
    "intake {case} stays sealed in your outbox: this device has no submission token to send it without your "
    "account (the server gives each helper a few a week; `tessera sync` fetches them). Send it later with "
    "`tessera outbox flush`, or now signed by your account with `{flag}` (then the server knows it is yours)."
)


def _sealed_only(args: argparse.Namespace, plans: list[Any], case_id: bytes) -> int:
    if plans:
        print(_(SEALED_FILES, count=len(plans)))
    if not args.keep_form:
        args.form.unlink(missing_ok=True)
    if plans:
        said = _(
            "sealed into the outbox with {count} attachment(s); send it with `tessera outbox flush`. case id: {case}",
            count=len(plans),
            case=b64u_encode(case_id),
        )
    else:
        said = _("sealed into the outbox; send it with `tessera outbox flush`. case id: {case}", case=b64u_encode(case_id))
    print(said)
    print(b64u_encode(case_id))
    return 0


async def _verified_directory(
    session: Session, home: Home, http: aiohttp.ClientSession, token: Token | None
) -> DirectoryState | None:
    """The key directory verified from this device's pin, read on the intake's connection (with its token when
    there is one: no account named); None when the server does not answer."""
    try:
        if token is not None:
            return await anonymous_directory(session, home, http, token)
        return await session.directory(home, session.api(home))
    except ServerUnreachableError:
        return None


def _sealed(home: Home, case_id: bytes) -> bytes:
    for pending, sealed in home.outbox():
        if pending == case_id:
            return sealed
    raise UsageError(_("intake {case} is not in the outbox", case=b64u_encode(case_id)))


async def cmd_flush(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    result = await flush(session, home, allow_linked=args.allow_linked)
    if result.waiting:
        print(
            _(
                "sent {sent}; {waiting} still waiting: the server does not answer. Try again later.",
                sent=result.sent,
                waiting=result.waiting,
            )
        )
        return 1
    try:
        done, unfinished = await flush_case_uploads(session, home)
    except ServerUnreachableError:
        done, unfinished = 0, len(list(home.pending_uploads()))
    uploaded, unfinished = result.uploaded + done, unfinished
    if result.linked:
        print(
            _(
                "{count} intake(s) sent signed by your account (--allow-linked): the server knows they are yours.",
                count=result.linked,
            )
        )
    if result.no_token:
        print(
            _(
                "sent {sent} intake(s); {kept} kept sealed in the outbox: no submission token to send them without "
                "your account. `tessera sync` fetches tokens (a few each week); `tessera outbox flush --allow-linked` "
                "sends them signed by your account (then the server knows they are yours).",
                sent=result.sent,
                kept=result.no_token,
            )
        )
        return 1
    if unfinished:
        print(
            _(
                "sent {sent} intake(s) and {uploaded} attachment(s); {unfinished} attachment(s) still waiting: the "
                "server stopped answering. Try again later; uploads resume where they stopped.",
                sent=result.sent,
                uploaded=uploaded,
                unfinished=unfinished,
            )
        )
        return 1
    print(_("sent {sent} intake(s) and {uploaded} attachment(s); the outbox is empty.", sent=result.sent, uploaded=uploaded))
    return 0


def outbox_items(home: Home) -> list[dict[str, Any]]:
    """Everything in this device's outbox, described from the sealed copies (opened with this device's keys)."""
    uploads = [PendingUpload.from_json(data) for _id, data in home.pending_uploads()]
    items: list[dict[str, Any]] = []
    for case_id, body in home.outbox():
        view = outbox_view(home, case_id, body)
        waiting = sum(1 for u in uploads if u.case_id == case_id)
        items.append(
            {
                "item": view.case_id,
                "what": "intake",
                "case_id": view.case_id,
                "details": f"{view.kind or '?'}, {view.urgency or '?'} urgency, {view.region or '?'}; not sent yet"
                + (f"; {waiting} attachment(s) wait with it" if waiting else ""),
                "attachments": waiting,
            }
        )
    for u in uploads:
        layout = u.descriptor.layout
        sent = max(u.sent) + 1 if u.sent else 0
        copy = "sealed copy in the outbox" if u.spooled else f"needs the original at {u.path}"
        items.append(
            {
                "item": b64u_encode(u.descriptor.attachment_id),
                "what": "upload",
                "case_id": b64u_encode(u.case_id),
                "details": f"{u.name}, {u.descriptor.size / (1 << 20):.1f} MiB, up to {sent} of {layout.count} chunks "
                f"sent; {copy}",
                "name": u.name,
                "size": u.descriptor.size,
            }
        )
    return items


async def cmd_outbox_list(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    items = outbox_items(home)
    if args.json:
        emit_json({"items": items})
        return 0
    headers = (_("item"), _("what"), pgettext("column", "case"), _("details"))
    table([(i["item"], i["what"], i["case_id"], i["details"]) for i in items], headers)

    if items:
        print(_("send them with `tessera outbox flush`; remove one for good with `tessera outbox drop ITEM`."))
    return 0


async def cmd_outbox_drop(session: Session, args: argparse.Namespace) -> int:
    """Drop one outbox item after saying what is lost, on a typed yes or --yes (refused without a terminal)."""
    if not args.yes and not sys.stdin.isatty():
        raise UsageError(_("not at a terminal, so nobody can be asked: to drop it, run this again with --yes"))
    home = session.open_home()
    items = {i["item"]: i for i in outbox_items(home)}
    item = items.get(args.item.strip())
    if item is None:
        raise UsageError(
            _("nothing in the outbox is called {item}; `tessera outbox list` shows what is there", item=repr(args.item))
        )
    if item["what"] == "intake" and item["attachments"]:
        warning = _(
            "Intake {case} ({details}) was never sent. Dropping it loses this case for good: the outbox holds its only "
            "copy (the form was deleted when it was sealed), and its {count} attachment upload(s) go with it.",
            case=item["case_id"],
            details=item["details"],
            count=item["attachments"],
        )
    elif item["what"] == "intake":
        warning = _(
            "Intake {case} ({details}) was never sent. Dropping it loses this case for good: the outbox holds its only "
            "copy (the form was deleted when it was sealed).",
            case=item["case_id"],
            details=item["details"],
        )
    else:
        warning = _(
            "The upload of {name} to case {case} stops for good and its sealed copy is deleted. The case names this "
            "attachment, so the council will see it listed as missing.",
            name=item["name"],
            case=item["case_id"],
        )
    say(warning)
    if not args.yes and input(_("Drop it? Type yes: ")).strip().lower() != "yes":
        print(_("nothing dropped."))
        return 1
    if item["what"] == "intake":
        drop_intake(home, b64u_decode(item["case_id"], length=16))
    else:
        home.drop_pending_upload(b64u_decode(item["item"], length=16))
    print(_("dropped {what} {item}.", what=item["what"], item=item["item"]))
    return 0


def drop_intake(home: Home, case_id: bytes) -> None:
    """Remove an intake never sent from the outbox, with its attachments' uploads and the submission token bound
    to it (not put back: the server may have seen it with this intake, and would refuse it for another)."""
    for u in [PendingUpload.from_json(d) for _i, d in home.pending_uploads()]:
        if u.case_id == case_id:
            home.drop_pending_upload(u.descriptor.attachment_id)
    home.drop_outbox(case_id)
    if home.section(BOUND).pop(b64u_encode(case_id), None) is not None:
        home.save()


async def _send_addendum(session: Session, home: Home, case_text: str, make: Any) -> tuple[OpenedCase, Addendum]:
    """Seal `make(case)`'s addendum to the verified council and the case's reply key, signed with the case's reply
    key, and post it on the case thread through the case principal (protocol doc §8c). The case goes through the
    checked opener first: nothing is sealed on a case the server made up."""
    if home.role != "helper":
        raise UsageError(_("addenda are sent by the helper who sent the case"))
    state, record = await case_council(session, home)
    case = await open_case(session.api(home), home, case_text, state)
    addendum = make(case)
    message = seal_message(
        case_id=case.case_id,
        thread="case",
        text=addendum_text(addendum),
        author="helper",
        author_keys=case.keys,
        readers=[*(m.box_key for m in record.members), case.signed.reply_box_key],
    )
    await case.api.post_message(case.case_id, message)
    return case, addendum


async def cmd_amend(session: Session, args: argparse.Namespace) -> int:
    if args.form is None and not args.note.strip():
        raise UsageError(_("give --form FILE (case-file fields) and/or --note TEXT"))
    text = None
    if args.form is not None:
        try:
            text = args.form.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(_("cannot read the form {path}: {problem}", path=args.form, problem=exc.strerror)) from exc
    home = session.open_home()

    def make(case: OpenedCase) -> Addendum:
        kind = str(case.form.get("kind"))
        fields = parse_amendment(text, kind) if text is not None else {}
        if text is not None and not fields:
            raise UsageError(_("the form names no field: put the fields to add or correct under [case]"))
        items = tuple(AddendumField(v=1, name=name, value=str(value)) for name, value in fields.items())
        return Addendum(v=1, case_id=case.case_id, kind="amendment", fields=items, note=args.note.strip())

    case, addendum = await _send_addendum(session, home, args.case, make)
    if args.form is not None and not args.keep_form:
        args.form.unlink()
    names = ", ".join(f.name for f in addendum.fields) or _("a note")
    say(
        _(
            "amended case {case} ({names}); the council sees it in `tessera todo` and `tessera cases show`.",
            case=case.text_id,
            names=names,
        )
    )
    return 0


async def cmd_withdraw(session: Session, args: argparse.Namespace) -> int:
    if not args.yes and not sys.stdin.isatty():
        raise UsageError(_("not at a terminal, so nobody can be asked: to ask the council to close it, run this with --yes"))
    home = session.open_home()
    if not args.yes:
        say(
            _(
                "This asks the council to close case {case}; they decide (a `close` decision), and nothing is deleted now.",
                case=args.case,
            )
        )
        if input(_("Send the request? Type yes: ")).strip().lower() != "yes":
            print(_("nothing sent."))
            return 1

    def make(case: OpenedCase) -> Addendum:
        return Addendum(v=1, case_id=case.case_id, kind="withdrawal", fields=(), note=args.reason.strip())

    case, _addendum = await _send_addendum(session, home, args.case, make)
    say(_("asked the council to close case {case}; `tessera cases show {case}` shows their decision.", case=case.text_id))

    return 0
