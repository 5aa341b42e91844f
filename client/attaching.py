"""A helper's attachments as the command line and the app both handle them: files checked and cleaned of
metadata (client/strip.py), sealed into the outbox under the ids the case file or her signed list names, uploaded,
and her new signed list of a case's attachments; after a reveal, a case's identity attachments opened into a
folder. The protocol steps themselves are client/attachments.py; this module holds what both front ends share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from client.attachments import (
    PendingUpload,
    UploadInterruptedError,
    check_listing,
    describe_all,
    download,
    list_attachments,
    prepare_upload,
    spool,
    upload,
)
from client.casefiles import OpenedCase
from client.home import Home
from client.i18n import _
from client.session import Session, UsageError
from client.strip import StripError, plan
from client.terminal import clean
from keys.attachments import AttachmentList, Opener, sign_attachment_list
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import reply_keys


def plan_files(files: list[Path], *, keep_metadata: bool) -> list[Any]:
    plans = []
    for path in files:
        if not path.is_file():
            raise UsageError(_("{path} is not a file", path=path))
        try:
            plans.append(plan(path, keep_metadata=keep_metadata))
        except StripError as exc:
            hint = "" if "--keep-metadata" in str(exc) else " " + _("(to send it unchanged, use --keep-metadata)")
            raise UsageError(f"{path.name}: {exc}{hint}") from exc
        except OSError as exc:
            raise UsageError(_("cannot read {path}: {problem}", path=path, problem=exc.strerror)) from exc
    return plans


def prepare_all(
    home: Home,
    case_id: bytes,
    case_key: bytes,
    attachment_key: bytes,
    plans: list[Any],
    kind: str,
    ids: list[bytes],
    listing: AttachmentList | None = None,
) -> list[PendingUpload]:
    """Seal the descriptors of `plans` under the ids chosen for them (the case file or `listing` names them),
    seal each file into the outbox, and keep each upload's record there."""
    reply = reply_keys(home.reply_secret, case_id)
    pending = []
    for p, attachment_id in zip(plans, ids, strict=True):
        upload_ = prepare_upload(
            case_id=case_id,
            plan=p,
            kind=kind,
            reply=reply,
            case_key=case_key,
            identity_attachment_key=attachment_key,
            attachment_id=attachment_id,
            listing=listing,
        )
        spool(home, upload_)  # the sealed chunks wait in the outbox: the original is not needed again
        home.put_pending_upload(upload_.descriptor.attachment_id, upload_.to_json())
        pending.append(upload_)
    return pending


async def send_all(session: Session, home: Home, pending: list[PendingUpload], server_key: bytes | None) -> list[str]:
    """Upload each (receipts checked under `server_key`, the verified directory's); returns the attachment ids.
    Raises UsageError when the server stops answering (the records stay in the outbox)."""
    api = session.api(home)
    ids = []
    for item in pending:
        try:
            await upload(api, home, item, server_key=server_key)
        except UploadInterruptedError as exc:
            raise UsageError(
                _(
                    "the upload of {name} stopped ({problem}); it is sealed in the outbox and resumes where it "
                    "stopped with `tessera outbox flush`",
                    name=item.name,
                    problem=exc,
                )
            ) from exc
        ids.append(b64u_encode(item.descriptor.attachment_id))
    return ids


async def signed_list_for(home: Home, case: OpenedCase, new_ids: list[bytes]) -> AttachmentList:
    """The helper's new signed list of all the case's attachments: those the case file names, those in the
    latest list she signed that the server serves (checked against her reply key) or that this device
    remembers, and `new_ids`; its serial follows the highest she has seen, so the server keeps it as the latest.
    Kept on this device before it is sent, so an interrupted upload never reuses a serial for another list."""
    checked = check_listing(case.case_id, case.signed, case.signed.reply_sign_key, await list_attachments(case.api, case.case_id))
    remembered = home.section("attachment_lists").get(case.text_id, {"serial": 0, "ids": []})
    # a case sealed before case files listed their attachments, with no list yet: its first list names what the
    # server lists now (readers showed all of it until then; the server could have added rows before as well)
    served = [b64u_decode(str(r["attachment_id"]), length=16) for r in checked.rows] if checked.unknown else []
    ids = {
        *(case.signed.listed_attachments or ()),
        *checked.signed_ids,
        *(b64u_decode(i, length=16) for i in remembered["ids"]),
        *served,
        *new_ids,
    }
    serial = max(checked.serial, int(remembered["serial"])) + 1
    listing = sign_attachment_list(case_id=case.case_id, serial=serial, attachment_ids=ids, reply=case.keys)
    home.section("attachment_lists")[case.text_id] = {
        "serial": serial,
        "ids": [b64u_encode(i) for i in listing.attachment_ids],
    }
    home.save()
    return listing


async def fetch_identity_attachments(
    api: Any, case: OpenedCase, identity_key: bytes, directory: Path
) -> tuple[list[dict[str, Any]], list[str]]:
    """After a reveal: open every identity attachment of the case that the case file or the helper's signed
    list names into `directory` (used by `reveal open`). Returns (files written, ids the helper listed that the
    server did not serve: hidden)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    openers = [Opener.for_identity(case.case_id, identity_key), Opener.for_case(case.case_id, case.case_key)]
    checked = check_listing(case.case_id, case.signed, case.signed.reply_sign_key, await list_attachments(api, case.case_id))
    for warning in checked.warnings():
        print(_("warning: {problem}", problem=clean(warning)), file=sys.stderr)
    rows = describe_all(
checked.rows, case_id=case.case_id, openers=openers, reply_sign_key=case.signed.reply_sign_key)
    written = []
    for row in rows:
        if row["kind"] != "identity" or not row["complete"]:
            continue
        name = clean(Path(str(row["name"])).name, one_line=True) or "attachment"
        out = directory / f"{row['attachment_id'][:8]}-{name}"
        await download(
            api,
            case_id=case.case_id,
            attachment_id=b64u_decode(row["attachment_id"], length=16),
            openers=openers,
            reply_sign_key=case.signed.reply_sign_key,
            out=out,
        )
        written.append({"attachment_id": row["attachment_id"], "file": str(out), "size": row["size"]})
    return written, checked.hidden
