"""admin invite / revoke / accounts / invites."""

from __future__ import annotations

import argparse
import time
from typing import Any

from client.enrol import make_invite, revoke_account
from client.i18n import _
from client.session import Session, UsageError
from client.terminal import emit_json, say, table
from client.triage import date_text
from keys.accounts import fingerprint
from keys.encoding import b64u_decode
from keys.errors import TesseraError
from keys.invites import ROLES, SERVER_ISSUER, Grant, check_account_name, verify_grant
from keys.wire import from_wire


def register(sub: Any) -> None:
    admin = sub.add_parser("admin", help=_("administrators: invite, revoke and list people")).add_subparsers(
        dest="admin_command", required=True
    )
    p = admin.add_parser("invite", help=_("print a one-time invite for a new account"))
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--name", required=True, help=_("account name for the new person (use a pseudonym)"))
    p.add_argument("--days", type=int, default=7, help=_("days until the invite expires (1-30, default 7)"))
    p.set_defaults(run=cmd_invite)
    p = admin.add_parser("revoke", help=_("revoke an account (a lost device, someone who left)"))
    p.add_argument("name")
    p.set_defaults(run=cmd_revoke)
    p = admin.add_parser("accounts", help=_("every account in the verified key directory: role, active or revoked"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_accounts)
    p = admin.add_parser("invites", help=_("invites not used yet, each with the administrator who signed it"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_invites)


async def cmd_invite(session: Session, args: argparse.Namespace) -> int:
    check_account_name(args.name)
    if not 1 <= args.days <= 30:
        raise UsageError(_("--days must be from 1 to 30"))
    home = session.open_home()
    if home.role != "admin":
        raise UsageError(_("only an administrator can invite"))
    api = session.api(home)
    state = await session.directory(home, api)
    taken = state.accounts.get(args.name)
    if taken is not None:
        was = _("a revoked account") if taken.revoked else _("the {role} account", role=taken.role)
        raise UsageError(
            _(
                "the name {name} is {was} in the key directory, and a name is never given twice (so every signature "
                "stays unambiguous): invite this person under another name, e.g. {example}",
                name=repr(args.name),
                was=was,
                example=f"{args.name}2",
            )
        )
    pin = home.state["pin"]
    invite = await make_invite(
        api,
        admin_name=home.account,
        admin_keys=home.keys,
        account=args.name,
        role=args.role,
        today=int(time.time()) // 86400,
        head_seq=int(pin["seq"]),
        head_hash=b64u_decode(pin["head"], length=32),
        days=args.days,
    )
    say(invite.encode())
    return 0


async def cmd_revoke(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    seq = await revoke_account(api, home.keys, args.name, directory=lambda: session.directory(home, api))
    say(_("revoked {name} (key directory entry {seq}); it can no longer sign in.", name=args.name, seq=seq))
    return 0


async def cmd_accounts(session: Session, args: argparse.Namespace) -> int:
    """The accounts as the verified key directory has them (not the server's list): role, whether active, the
    safety number, and whether this administrator compared it in person."""
    home = session.open_home()
    if home.role != "admin":
        raise UsageError(_("only administrators list accounts"))
    state = await session.directory(home, session.api(home))
    known = home.section("known")
    council = {m.account for m in state.council.members} if state.council is not None else set()
    rows: list[dict[str, Any]] = []
    for name, account in sorted(state.accounts.items()):
        entry = known.get(name, {})
        rows.append(
            {
                "account": name,
                "role": account.role,
                "state": "revoked" if account.revoked else "active",
                "on_council": name in council,
                "safety_number": fingerprint(account.keys, name),
                "verified": name == home.account or bool(entry.get("verified")),
                "key_rotations": len(account.retired),
            }
        )
    if args.json:
        emit_json({"accounts": rows})
        return 0
    table(
        [
            (
                r["account"],
                _("{role} (on the council)", role=r["role"]) if r["on_council"] else str(r["role"]),
                r["state"],
                r["safety_number"],
                _("you") if r["account"] == home.account else (_("yes") if r["verified"] else _("no")),
            )
            for r in rows
        ],
        (_("account"), _("role"), _("state"), _("safety number"), _("verified in person")),
    )
    return 0


async def cmd_invites(session: Session, args: argparse.Namespace) -> int:
    """Pending invites as the server lists them, each grant checked against the verified directory: one that no
    active administrator signed is shown as such (the server made it up or changed it)."""
    home = session.open_home()
    if home.role != "admin":
        raise UsageError(_("only administrators list invites"))
    api = session.api(home)
    state = await session.directory(home, api)
    answer = await api.pending_invites()
    rows = []
    for item in answer.get("invites", []) if isinstance(answer, dict) else []:
        try:
            grant = from_wire(Grant, item.get("grant") if isinstance(item, dict) else None)
        except TesseraError as exc:
            rows.append({"account": "?", "role": "?", "issuer": "?", "expires": "?", "signed": False, "problem": str(exc)})
            continue
        issuer = state.active(grant.issuer)
        signed, problem = False, None
        if grant.issuer == SERVER_ISSUER:
            problem = "issued by the server key (only the first administrator's invite may be)"
        elif issuer is None or issuer.role != "admin":
            problem = f"{grant.issuer} is not an active administrator"
        else:
            try:
                verify_grant(grant, issuer.keys.sign_key)
                signed = True
            except TesseraError:
                problem = f"not signed by {grant.issuer}: the server made it up or changed it"
        rows.append(
            {
                "account": grant.account,
                "role": grant.role,
                "issuer": grant.issuer,
                "expires": date_text(grant.expires_day),
                "signed": signed,
                "problem": problem,
            }
        )
    if args.json:
        emit_json({"invites": rows})
        return 0
    table(
        [
            (r["account"], r["role"], r["issuer"], r["expires"], _("yes") if r["signed"] else _("NO: {why}", why=r["problem"]))
            for r in rows
        ],
        (_("account"), _("role"), _("invited by"), _("valid until"), _("signed")),
    )

    return 0
