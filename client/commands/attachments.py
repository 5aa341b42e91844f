"""attach / cases attachments / cases fetch-attachment: photos and documents, cleaned of metadata and
sealed on the device, uploaded in resumable parts through the case's reply key, read back as a stream."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from client.attaching import plan_files, prepare_all, send_all, signed_list_for
from client.attachments import (
    check_listing,
    describe_all,
    download,
    list_attachments,
)
from client.casefiles import OpenedCase, open_case, parse_case_id
from client.forms import ATTACHMENT_DEFAULT, attachment_default
from client.home import Home
from client.i18n import _
from client.session import Session, UsageError
from client.submit import case_directory
from client.terminal import clean, emit_json, say, table
from keys.attachments import Opener, new_attachment_id
from keys.encoding import b64u_decode
from keys.errors import DecryptionError


def add_attach_options(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--identity",
        dest="attach_as",
        action="store_const",
        const="identity",
        help=_(
            "seal with the identity: it opens only when k members reveal it (faces, papers with names); "
            "the default for most kinds of case"
        ),
    )
    which.add_argument(
        "--case-file",
        dest="attach_as",
        action="store_const",
        const="case",
        help=_(
            "seal with the case file: every council member can open it (receipts, goods); the default for {kinds}",
            kinds=", ".join(k for k, v in ATTACHMENT_DEFAULT.items() if v == "case"),
        ),
    )
    p.add_argument(
        "--keep-metadata",
        action="store_true",
        help=_("send photos as they are, with EXIF/GPS and other metadata (by default it is removed)"),
    )


def register(sub: Any) -> None:
    p = sub.add_parser(
        "attach",
        help=_("add photos or documents to one of your cases (cleaned of metadata, sealed, resumable upload)"),
        description=_(
            "Seal files on this device and upload them to a case you submitted. Photos (JPEG, PNG) lose "
            "their EXIF, GPS and other metadata first. The default seal depends on the kind of case; an upload "
            "that is cut off resumes with `tessera outbox flush`."
        ),
    )
    p.add_argument("case", help=_("the case id `intake submit` printed"))
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add_attach_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_attach)


def register_cases(cases: Any) -> None:
    p = cases.add_parser("attachments", help=_("a case's attachments: names, sizes, how each is sealed"))
    p.add_argument("case", help=_("the case id"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_list)
    p = cases.add_parser(
        "fetch-attachment",
        help=_("download and open one attachment into a file"),
        description=_(
            "Download, check and decrypt one attachment. Identity attachments open only with the identity: "
            "use `tessera reveal open REQUEST --attachments-to DIR` once k members approved."
        ),
    )
    p.add_argument("case", help=_("the case id"))
    p.add_argument("attachment", help=_("the attachment id, as `tessera cases attachments CASE` shows it"))
    p.add_argument("--out", required=True, type=Path, help=_("file to write (refused if it exists)"))
    p.set_defaults(run=cmd_fetch)


# -- helper side -----------------------------------------------------------------------------------


def report_plan(p: Any) -> None:
    if p.removed:
        say(_("{file}: removed {what}", file=p.path.name, what=", ".join(p.removed)), one_line=True)
    elif p.media_type in ("image/jpeg", "image/png"):
        say(_("{file}: no metadata found", file=p.path.name), one_line=True)
    if p.warning:
        say(f"{p.path.name}: {p.warning}", one_line=True)


async def cmd_attach(session: Session, args: argparse.Namespace) -> int:
    """Attach files to one of the helper's own cases: only after the case passed the checked opener (her own,
    with her reply keys), so nothing is sealed to keys the server chose (tests/hostile/test_cases.py,
    test_a_helper_does_not_attach_to_a_case_the_server_made_up)."""
    home = session.open_home()
    if home.role != "helper":
        raise UsageError(_("attachments are added by the helper who submitted the case"))
    case_id = parse_case_id(args.case)
    plans = plan_files(args.files, keep_metadata=args.keep_metadata)
    api = session.api(home)
    state = await case_directory(session, home)
    case = await open_case(api, home, case_id, state)
    kind = args.attach_as or attachment_default(str(case.form.get("kind")))
    for p in plans:
        report_plan(p)
    ids = [new_attachment_id() for _plan in plans]
    listing = await signed_list_for(home, case, ids)
    pending = prepare_all(home, case_id, case.case_key, case.signed.attachment_key, plans, kind, ids, listing)
    sent = await send_all(session, home, pending, state.server_key)
    if args.json:
        emit_json({"case_id": case.text_id, "kind": kind, "attachments": sent})
        return 0
    if kind == "identity":
        print(_("attached {count} file(s), sealed with the identity (k members must approve to open).", count=len(sent)))
    else:
        print(_("attached {count} file(s), sealed with the case file.", count=len(sent)))
    print(_("The original files are no longer needed by Tessera: delete them if this device could be seized."))
    for attachment_id in sent:
        print(attachment_id)
    return 0


# -- reading ---------------------------------------------------------------------------------------


async def _open_case(session: Session, home: Home, case_text: str) -> OpenedCase:
    if home.role not in ("council", "helper"):
        raise UsageError(_("attachments are read by council members and by the case's helper"))
    return await open_case(session.api(home), home, case_text, await case_directory(session, home))


async def cmd_list(session: Session, args: argparse.Namespace) -> int:
    """The case's attachments that the case file or the helper's signed list names; rows nothing names are
    left out and ids the server leaves out are named, both with a warning (`check_listing`)."""
    home = session.open_home()
    case = await _open_case(session, home, args.case)
    checked = check_listing(case.case_id, case.signed, case.signed.reply_sign_key, await list_attachments(case.api, case.case_id))
    rows = describe_all(
        checked.rows,
        case_id=case.case_id,
        openers=[Opener.for_case(case.case_id, case.case_key)],
        reply_sign_key=case.signed.reply_sign_key,
    )
    for row in rows:
        if row["kind"] == "sealed":
            row["kind"], row["name"] = "identity", "(sealed with the identity: opens after a reveal)"
    for warning in checked.warnings():
        print(_("warning: {problem}", problem=clean(warning)), file=sys.stderr)
    if args.json:
        emit_json({"case_id": case.text_id, "attachments": rows, "hidden": checked.hidden, "injected": checked.injected})
        return 0
    table(
        [
            (
                r["attachment_id"],
                r["kind"],
                r["name"],
                r.get("size", f"~{r['padded_size']}"),
                _("yes") if r["complete"] else _("uploading"),
            )
            for r in rows
        ],
        (_("attachment"), _("sealed with"), _("name"), _("bytes"), _("complete")),
    )
    return 0


async def cmd_fetch(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if args.out.exists():
        raise UsageError(_("{path} exists; choose another --out", path=args.out))
    attachment_id = _parse_attachment_id(args.attachment)
    case = await _open_case(session, home, args.case)
    try:
        descriptor = await download(
            case.api,
            case_id=case.case_id,
            attachment_id=attachment_id,
            openers=[Opener.for_case(case.case_id, case.case_key)],
            reply_sign_key=case.signed.reply_sign_key,
            out=args.out,
        )
    except DecryptionError as exc:
        if "keys you hold" in str(exc):
            how = (
                _("through `tessera reveal request` and then `tessera reveal open REQUEST --attachments-to DIR`")
                if home.role == "council"
                else _("by council members together; not from this device")
            )
            raise UsageError(
                _("this attachment is sealed with the identity: it opens only with k approvals, {how}", how=how)
            ) from exc
        raise
    say(
        _(
            "wrote {path} ({size} bytes, {type}, sent as {name})",
            path=args.out,
            size=descriptor.size,
            type=descriptor.media_type,
            name=repr(descriptor.name),
        ),
        one_line=True,
    )
    if descriptor.removed:
        say(_("removed on the helper's device before sealing: {what}", what=", ".join(descriptor.removed)), one_line=True)
    return 0


def _done(complete: bool) -> str:
    return "yes" if complete else "uploading"


def _parse_attachment_id(text: str) -> bytes:
    try:
        return b64u_decode(text.strip(), length=16, what="attachment id")
    except Exception as exc:
        raise UsageError(
            _("{text} is not an attachment id (as `tessera cases attachments CASE` shows)", text=repr(text))
        ) from exc


