"""audit verify / audit list: the audit chain, the server's checkpoints and the key directory, checked on this
device; the entries shown are those of the chain that verified."""

from __future__ import annotations

import argparse
from typing import Any

from client.api import Api
from client.i18n import _
from client.session import Session, UsageError
from client.terminal import emit_json, say, table
from client.triage import date_text
from keys.audit import verify_entries
from keys.checkpoints import Checkpoint, verify_audit_checkpoint
from keys.directory import DirectoryState
from keys.errors import DirectoryError
from keys.wire import from_wire


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help=_("check and read the audit log")).add_subparsers(
        dest="audit_command", required=True
    )
    p = audit.add_parser("verify", help=_("verify the audit chain, its signed checkpoint and the key directory"))
    p.set_defaults(run=cmd_verify)
    p = audit.add_parser(
        "list",
        help=_("council and administrators: read the audit log (verified first), newest last"),
        description=_(
            "Every entry is shown only after the whole chain and the server's signed checkpoint verified on "
            "this device. The log names accounts, actions, case ids and days; never a helper on a case."
        ),
    )
    p.add_argument("--last", type=int, default=50, metavar="N", help=_("show the last N entries (default 50; 0: all)"))
    p.add_argument("--action", help=_("only actions starting with this, e.g. decision. or account.revoked"))
    p.add_argument("--object", help=_("only entries about this case id or account"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_list)


async def read_verified(api: Api, state: DirectoryState) -> list[dict[str, Any]]:
    """Every audit entry, page by page, the hash chain recomputed and each page's checkpoint checked against the
    server key of the verified directory. Raises DirectoryError when an entry is missing or altered, or the
    signed head is not where the entries end."""
    if state.server_key is None:
        raise DirectoryError("the key directory names no server key")
    entries: list[dict[str, Any]] = []
    seq, head, retried = 0, bytes(32), False
    while True:  # page by page; each page's checkpoint is the server's signature on its last entry
        answer = await api.audit(after=seq, limit=5000)
        checkpoint = from_wire(Checkpoint, answer["checkpoint"])
        if not answer["entries"]:
            if checkpoint.seq > seq and not retried:  # an entry was appended while we read: once more
                retried = True
                continue
            if checkpoint.seq != seq:
                raise DirectoryError("the audit log's signed head is not where its entries end: entries were withheld")
            verify_audit_checkpoint(checkpoint, state.server_key, head)
            return entries
        seq, head = verify_entries(answer["entries"], head, seq)
        if checkpoint.seq != seq:
            raise DirectoryError("the audit checkpoint does not match the entries served")
        verify_audit_checkpoint(checkpoint, state.server_key, head)
        entries += answer["entries"]


async def cmd_verify(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    state = await session.directory(home, api)  # chain from the pinned head + the directory checkpoint
    entries = await read_verified(api, state)
    say(_("audit log: {count} entries, hash chain intact, head signed by the server.", count=len(entries)))
    say(_("key directory: {count} entries from your pinned head, signatures and checkpoint valid.", count=state.seq + 1))
    return 0


def _detail(detail: Any) -> str:
    if not isinstance(detail, dict):
        return str(detail)
    return ", ".join(f"{k}={v}" for k, v in sorted(detail.items()))


async def cmd_list(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    if home.role not in ("council", "admin"):
        raise UsageError(_("the audit log is read by council members and administrators"))
    if args.last < 0:
        raise UsageError(_("--last takes a number from 0 (0: every entry)"))
    api = session.api(home)
    entries = await read_verified(api, await session.directory(home, api))
    shown = [
        e
        for e in entries
        if (not args.action or str(e["action"]).startswith(args.action)) and (not args.object or e["object"] == args.object)
    ]
    if args.last:
        shown = shown[-args.last :]
    if args.json:
        emit_json({"entries": shown, "total": len(entries)})
        return 0
    table(
        [(e["seq"], date_text(e["day"]), e["actor"], e["action"], e["object"], _detail(e.get("detail"))) for e in shown],
        (_("seq"), _("date"), _("actor"), _("action"), _("object"), _("detail")),
    )
    say(_("({shown} of {count} entries; the whole chain and its signed head verified)", shown=len(shown), count=len(entries)))

    return 0
