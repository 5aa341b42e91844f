"""join, whoami, verify: enrolment and safety numbers."""

from __future__ import annotations

import argparse
import time
from typing import Any

from nacl.utils import random

from client.enrol import join
from client.home import KEYSTORE, Home
from client.rotation import rotate_keys
from client.session import KeyChangedError, Session, UsageError, check_passphrase, read_passphrase
from client.terminal import clean, emit_json, say
from client.tokens import held, top_up_quietly
from keys.accounts import AccountKeys, fingerprint, safety_number
from keys.encoding import b64u_encode
from keys.invites import Invite


def register(sub: Any) -> None:
    p = sub.add_parser("join", help="join with an invite; creates your keys and keystore in --home")
    p.add_argument("invite", help="the invite line you were given (starts with tessera-invite:)")
    p.add_argument("--name", required=True, help="your account name, as written in the invite")
    p.set_defaults(run=cmd_join)
    p = sub.add_parser("whoami", help="your account and the safety number others compare with you")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_whoami)
    p = sub.add_parser("sync", help="fetch and verify the key directory now (do it before going offline)")
    p.set_defaults(run=cmd_sync)
    p = sub.add_parser("rotate-keys", help="replace this device's keys (council members: then a membership change)")
    p.set_defaults(run=cmd_rotate_keys)
    p = sub.add_parser("verify", help="show a person's safety number; --accept after comparing it in person")
    p.add_argument("member", help="account name")
    p.add_argument("--accept", action="store_true", help="you compared the numbers in person and they match")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_verify)


async def cmd_join(session: Session, args: argparse.Namespace) -> int:
    invite = Invite.decode(args.invite)
    if (session.home_path / KEYSTORE).exists():  # before the invite is spent
        raise UsageError(f"{session.home_path} holds an account already; use another --home")
    passphrase = read_passphrase(args, confirm=True)
    keys = AccountKeys.generate()
    api = session.api(server=invite.server)
    grant, _ = await join(  # checks the grant and the name, then the passphrase against the role, before registering
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
    say(f"Joined as {grant.account} ({grant.role}). Your keys are in {session.home_path}.")
    say(f"Your safety number: {fingerprint(keys.public(), grant.account)}")
    return 0


async def cmd_sync(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    state = await session.directory(home, session.api(home))
    council = state.council
    say(f"key directory verified up to entry {state.seq}.")
    if council is None:
        say("no council key yet: the council has not held its key ceremony.")
    else:
        say(
            f"council key of epoch {council.epoch}: {council.threshold} of {len(council.members)} members "
            f"({', '.join(m.account for m in council.members)}); saved for sealing offline."
        )
    if home.role == "helper":
        # submission tokens fetched now, signed in, so that an intake later needs no signed-in request (§10.6).
        # Her cases are not read here: reads of them right after her account's would tie them to her by their
        # timing; `tessera inbox` reads each as itself and says when the server lost one (issue 24)
        now = int(time.time())
        have = await top_up_quietly(session.api(home), home, state, now=now)
        if have is None:
            say(f"no new submission tokens now (the server refused); {held(home, now)} left on this device.")
        else:
            say(f"{have} submission token(s) on this device: each sends one intake without naming you.")
    return 0


async def cmd_rotate_keys(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    done = await rotate_keys(
        session, home, on_retry=lambda: say("an earlier key rotation did not finish: trying it again with the same new keys.")
    )
    if done.finished:
        say("finished the interrupted key rotation; the new keys are in place.")
    else:
        say(f"new keys in place (key directory entry {done.directory_seq}); the old ones can no longer sign in.")
    if done.resigned:
        say(f"signed your {done.resigned} pending invite(s) again with the new keys: the invites you handed out still work.")
    if done.finished:
        return 0
    say(f"Your new safety number: {done.safety_number}. Others will be asked to compare it with you.")
    if done.council:
        say("You are on the council: your new keys count there after the next membership change. Ask an administrator")
        say("to run `tessera council redistribute` with the same members; then a member runs `tessera council rewrap`.")
    return 0


async def cmd_whoami(session: Session, args: argparse.Namespace) -> int:
    home = session.open_home()
    public = home.keys.public()
    data = {"account": home.account, "role": home.role, "server": home.server, "safety_number": fingerprint(public, home.account)}
    if args.json:
        emit_json(data)
    else:
        say(f"{home.account} ({home.role}) on {home.server}")
        say(f"safety number: {data['safety_number']}")
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
        raise UsageError(f"no active account named {args.member!r}")
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
            status = "verified in person"
        elif data["rotated"]:
            status = "new keys from a rotation signed with the keys you knew; not verified in person yet"
        else:
            status = "not verified yet"
        name = clean(args.member, one_line=True)
        say(f"{name}: {data['safety_number']}  ({status})")
        if not data["verified"]:
            say("Compare it with the number their `tessera whoami` shows, in person or on a call you trust;")
            say(f"if they match, run `tessera verify {name} --accept`.")
    if unexplained:
        raise KeyChangedError(
            f"the keys of {args.member} changed since you last saw them, and the key directory does not show a rotation "
            f"signed with the keys you knew. Compare the number above with {args.member} in person before you accept it"
        )
    return 0
