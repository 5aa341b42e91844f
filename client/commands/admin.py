"""admin invite / admin revoke."""

from __future__ import annotations

import argparse
import time
from typing import Any

from client.enrol import make_invite, revoke_account
from client.session import Session, UsageError
from keys.encoding import b64u_decode
from keys.invites import ROLES, check_account_name


def register(sub: Any) -> None:
    admin = sub.add_parser("admin", help="administrators: invite and revoke people").add_subparsers(
        dest="admin_command", required=True
    )
    p = admin.add_parser("invite", help="print a one-time invite for a new account")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--name", required=True, help="account name for the new person (use a pseudonym)")
    p.add_argument("--days", type=int, default=7, help="days until the invite expires (1-30, default 7)")
    p.set_defaults(run=cmd_invite)
    p = admin.add_parser("revoke", help="revoke an account (a lost device, someone who left)")
    p.add_argument("name")
    p.set_defaults(run=cmd_revoke)


async def cmd_invite(session: Session, args: argparse.Namespace) -> int:
    check_account_name(args.name)
    if not 1 <= args.days <= 30:
        raise UsageError("--days must be from 1 to 30")
    home = session.open_home()
    if home.role != "admin":
        raise UsageError("only an administrator can invite")
    api = session.api(home)
    state = await session.directory(home, api)
    taken = state.accounts.get(args.name)
    if taken is not None:
        was = "a revoked account" if taken.revoked else f"the {taken.role} account"
        raise UsageError(
            f"the name {args.name!r} is {was} in the key directory, and a name is never given twice (so every signature "
            f"stays unambiguous): invite this person under another name, e.g. {args.name}2"
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
    print(invite.encode())
    return 0


async def cmd_revoke(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    api = session.api(home)
    seq = await revoke_account(api, home.keys, args.name, directory=lambda: session.directory(home, api))
    print(f"revoked {args.name} (key directory entry {seq}); it can no longer sign in.")
    return 0
