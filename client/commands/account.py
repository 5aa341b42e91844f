"""join, whoami, verify: enrolment and safety numbers."""

from __future__ import annotations

import argparse
import time
from typing import Any

from nacl.utils import random

from client.enrol import join
from client.home import KEYSTORE, Home
from client.i18n import _
from client.rotation import rotate_keys
from client.session import KeyChangedError, Session, UsageError, check_passphrase, read_passphrase
from client.terminal import clean, emit_json, say
from client.tokens import held, top_up_quietly
from keys.accounts import AccountKeys, fingerprint, safety_number
from keys.encoding import b64u_encode
from keys.invites import Invite


def register(sub: Any) -> None:
    p = sub.add_parser("join", help=_("join with an invite; creates your keys and keystore in --home"))
    p.add_argument("invite", help=_("the invite line you were given (starts with tessera-invite:)"))
    p.add_argument("--name", required=True, help=_("your account name, as written in the invite"))
    p.set_defaults(run=cmd_join)
    p = sub.add_parser("whoami", help=_("your account and the safety number others compare with you"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_whoami)
    p = sub.add_parser("sync", help=_("fetch and verify the key directory now (do it before going offline)"))
    p.set_defaults(run=cmd_sync)
    p = sub.add_parser("rotate-keys", help=_("replace this device's keys (council members: then a membership change)"))
    p.set_defaults(run=cmd_rotate_keys)
    p = sub.add_parser("verify", help=_("show a person's safety number; --accept after comparing it in person"))
    p.add_argument("member", help=_("account name"))
    p.add_argument("--accept", action="store_true", help=_("you compared the numbers in person and they match"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_verify)


async def cmd_join(session: Session, args: argparse.Namespace) -> int:
    invite = Invite.decode(args.invite)
    if (session.home_path / KEYSTORE).exists():  # before the invite is spent
        raise UsageError(_("{path} holds an account already; use another --home", path=session.home_path))
    passphrase = read_passphrase(args, confirm=True)
    keys = AccountKeys.generate()
    api = session.api(server=invite.server)
    grant, _token = await join(  # checks the grant and the name, then the passphrase against the role, before registering
        api, invite, keys, name=args.name, now=int(time.time()), before_register=lambda g: check_passphrase(passphrase, g.role)
    )
    state: dict[str, Any] = {
        "v": 1,
        "account": grant.account,
        "role": grant.role,
        "server": invite.server,
        "sign_seed": b64u_encode(keys.sign_seed),
        "box_secret": b64u_encode(keys.box_secret),
        "reply_secret": b64u_encode(random(32)),
        "outbox_key": b64u_encode(random(32)),
        "pin": {"seq": invite.head_seq, "head": b64u_encode(invite.head_hash)},
    }
    home = Home.create(session.home_path, passphrase, state)
    await session.directory(home, session.api(home))  # checks the server against the invite's pinned head
    where = session.home_path
    say(_("Joined as {account} ({role}). Your keys are in {path}.", account=grant.account, role=grant.role, path=where))

    say(_("Your safety number: {number}", number=fingerprint(keys.public(), grant.account)))
    return 0


async def cmd_sync(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    state = await session.directory(home, session.api(home))
    council = state.council
    say(_("key directory verified up to entry {seq}.", seq=state.seq))
    if council is None:
        say(_("no council key yet: the council has not held its key ceremony."))
    else:
        say(
            _(
                "council key of epoch {epoch}: {threshold} of {count} members ({members}); saved for sealing offline.",
                epoch=council.epoch,
                threshold=council.threshold,
                count=len(council.members),
                members=", ".join(m.account for m in council.members),
            )
        )
    if home.role == "helper":
        # submission tokens fetched now, signed in, so that an intake later needs no signed-in request (§10.6).
        # Her cases are not read here: reads of them right after her account's would tie them to her by their
        # timing; `tessera inbox` reads each as itself and says when the server lost one (issue 24)
        now = int(time.time())
        have = await top_up_quietly(session.api(home), home, state, now=now)
        if have is None:
            say(_("no new submission tokens now (the server refused); {count} left on this device.", count=held(home, now)))
        else:
            say(_("{count} submission token(s) on this device: each sends one intake without naming you.", count=have))
    return 0


async def cmd_rotate_keys(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    done = await rotate_keys(
        session,
        home,
        on_retry=lambda: say(_("an earlier key rotation did not finish: trying it again with the same new keys.")),
    )
    if done.finished:
        say(_("finished the interrupted key rotation; the new keys are in place."))
    else:
        say(_("new keys in place (key directory entry {seq}); the old ones can no longer sign in.", seq=done.directory_seq))
    if done.resigned:
        say(
            _(
                "signed your {count} pending invite(s) again with the new keys: the invites you handed out still work.",
                count=done.resigned,
            )
        )
    if done.finished:
        return 0
    say(_("Your new safety number: {number}. Others will be asked to compare it with you.", number=done.safety_number))
    if done.council:
        say(_("You are on the council: your new keys count there after the next membership change. Ask an administrator"))
        say(_("to run `tessera council redistribute` with the same members; then a member runs `tessera council rewrap`."))
    return 0


async def cmd_whoami(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    public = home.keys.public()
    data = {"account": home.account, "role": home.role, "server": home.server, "safety_number": fingerprint(public, home.account)}
    if args.json:
        emit_json(data)
    else:
        say(_("{account} ({role}) on {server}", account=home.account, role=home.role, server=home.server))
        say(_("safety number: {number}", number=data["safety_number"]))
    return 0


async def cmd_verify(session: Session, args: argparse.Namespace) -> int:
    """Show a person's current safety number, always first; then whether it is verified in person, changed by a
    rotation chain from the keys this device knew (continuity, noted), or changed otherwise (exit 3 unless
    --accept: the user compared the number shown here in person)."""
    home = session.open_home()
    before = dict(home.section("known").get(args.member) or {})
    state = await session.directory(
        home, session.api(home), accept=args.member if args.accept else None, inspect=args.member
    )
    account = state.active(args.member)
    if account is None:
        raise UsageError(_("no active account named {name}", name=repr(args.member)))
    entry = home.section("known").get(args.member) or {}
    public = account.keys
    unexplained = bool(before) and not args.accept and entry.get("sign_key") != b64u_encode(public.sign_key)
    data = {
        "member": args.member,
        "safety_number": fingerprint(public, args.member),
        "verified": bool(entry.get("verified")) and not unexplained,
        "rotated": bool(entry.get("rotated")),
        "changed_without_rotation": unexplained,
        "pair": safety_number((home.keys.public(), home.account), (public, args.member)),
    }
    if args.json:
        emit_json(data)
    else:
        if data["verified"]:
            status = _("verified in person")
        elif data["rotated"]:
            status = _("new keys from a rotation signed with the keys you knew; not verified in person yet")
        else:
            status = _("not verified yet")
        name = clean(args.member, one_line=True)
        say(f"{name}: {data['safety_number']}  ({status})")
        if not data["verified"]:
            say(_("Compare it with the number their `tessera whoami` shows, in person or on a call you trust;"))
            say(_("if they match, run `tessera verify {name} --accept`.", name=name))
    if unexplained:
        raise KeyChangedError(
            _(
                "the keys of {name} changed since you last saw them, and the key directory does not show a rotation "
                "signed with the keys you knew. Compare the number above with {name} in person before you accept it",
                name=args.member,
            )
        )

    return 0
