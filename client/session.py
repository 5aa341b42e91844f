"""What every command gets: the unlocked home, an API client, and the verified key directory."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from client.api import Api, HostileServerError
from client.directory import fetch_verified
from client.home import PASSPHRASE_ENV, Home, default_home
from client.i18n import _
from client.terminal import clean
from keys.accounts import AccountKeys, fingerprint
from keys.council import EpochRecord
from keys.directory import AccountState, DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.errors import DirectoryError, TesseraError
from keys.wire import to_wire

if TYPE_CHECKING:
    from client.launch import EarlyUnlock
    from client.net import Isolation

DIRECTORY_CACHE = "directory"  # the verified entries up to the pin (client/directory.py fetch_verified `known`)
MAX_NOTICES = 50  # key changes noted for `tessera todo`, newest kept


class UsageError(Exception):
    """The command cannot run as given."""


class RotationInterruptedError(UsageError):
    """A key rotation on this device did not finish: only `rotate-keys` (the app's keys page) may run."""


class KeyChangedError(Exception):
    """A known person's keys changed; compare safety numbers before trusting them again."""


def read_passphrase(args: argparse.Namespace, *, confirm: bool = False) -> str:
    if args.passphrase_file:
        try:
            return Path(args.passphrase_file).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as exc:
            raise UsageError(_("cannot read a passphrase from {path}", path=args.passphrase_file)) from exc
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    if not sys.stdin.isatty():
        raise UsageError(
            _("no passphrase: type it at a terminal, or set {variable}, or use --passphrase-file", variable=PASSPHRASE_ENV)
        )
    first = getpass.getpass(_("Passphrase: "))
    if confirm:
        check_passphrase(first, "helper")
        if getpass.getpass(_("Repeat the passphrase: ")) != first:
            raise UsageError(_("the two passphrases differ"))
    return first


def check_passphrase(passphrase: str, role: str) -> None:
    """The rule for a new keystore's passphrase, wherever it comes from (the prompt, TESSERA_PASSPHRASE,
    --passphrase-file): at least four words or 20 characters for a helper; six words or 30 characters for a
    council member or an administrator, whose keystore holds a council share or the power to invite.
    Raises UsageError saying what is needed."""
    words, length = len(passphrase.split()), len(passphrase)
    if role in ("council", "admin"):
        if words < 6 and length < 30:
            raise UsageError(
                _(
                    "this account is a {role} account: choose a passphrase of at least six words (or 30 characters); "
                    "nothing was registered, the invite still works",
                    role=role,
                )
            )
    elif words < 4 and length < 20:
        raise UsageError(
            _(
                "choose a longer passphrase: at least four words (or 20 characters); nothing was registered, the "
                "invite still works"
            )
        )


def _own_sign_keys(home: Home) -> set[bytes]:
    keys = {home.keys.public().sign_key}
    pending = home.state.get("pending_keys")
    if pending is not None:  # a rotation the server may have taken before this device recorded it
        keys.add(
            AccountKeys(sign_seed=b64u_decode(pending["sign_seed"]), box_secret=b64u_decode(pending["box_secret"]))
            .public()
            .sign_key
        )
    return keys


def rotated_from(account: AccountState, seen: dict[str, Any]) -> bool:
    """True if the keys this device knew for `account` (`seen`) are an earlier signing key in its rotation chain:
    the verified directory accepted each rotation only when signed by the key it replaced (keys/directory.py)."""
    try:
        known_key = b64u_decode(seen["sign_key"], length=32)
    except (KeyError, TesseraError):
        return False
    return known_key in account.retired


def note_rotation(name: str, account: AccountState, *, was_verified: bool) -> None:
    """Say, once, that a known person rotated keys (stderr: commands keep their output for --json)."""
    number = fingerprint(account.keys, name)
    again = (
        _("you had compared the old one in person: compare this one when you can")
        if was_verified
        else _("compare it in person")
    )
    print(
        _(
            "note: {name} replaced their keys (a rotation signed with the keys you knew). New safety number: {number}; "
            "{again} (`tessera verify {name}`). Until then ceremonies show them as not verified in person.",
            name=clean(name, one_line=True),
            number=number,
            again=again,
        ),
        file=sys.stderr,
    )


@dataclass
class Session:
    args: argparse.Namespace
    http: aiohttp.ClientSession
    isolation: Isolation | None = None  # case principals' own connections (client/net.py); None: the account's
    early: EarlyUnlock | None = None  # the home being unlocked since the program started (client/launch.py)

    @property
    def home_path(self) -> Path:
        return Path(self.args.home) if self.args.home else default_home()

    def open_home(self) -> Home:
        passphrase = read_passphrase(self.args)
        early, self.early = self.early, None  # taken once: a second open derives as without it
        if early is not None:
            home = early.take(self.home_path, passphrase)
            if home is not None:
                return home
        return Home.open(self.home_path, passphrase)

    def api(self, home: Home | None = None, *, server: str | None = None) -> Api:
        base = self.args.server or server or (home.server if home else None)
        if base is None:
            raise UsageError(_("which server? give --server URL"))
        if home is None:
            return Api(base, self.http)
        if "pending_keys" in home.state and self.args.command != "rotate-keys":
            raise RotationInterruptedError(
                _("a key rotation on this device was interrupted: run `tessera rotate-keys` to finish it first")
            )
        isolate = self.isolation.http_for if self.isolation is not None else None
        return Api(base, self.http, keys=home.keys, principal=home.account, isolate=isolate)

    async def directory(
        self,
        home: Home,
        api: Api,
        *,
        accept: str | None = None,
        inspect: str | None = None,
        signing_keys: AccountKeys | None = None,
    ) -> DirectoryState:
        """Fetch the key directory, verify it from the pinned head, check known people, move the pin.

        `accept` names a person whose current keys the user compared in person (`tessera verify --accept`).
        A known person whose keys changed through the directory's rotation chain (each rotation signed by the
        key before it, starting from the keys this device knew) is noted and shown as not verified in person
        again; any other change raises KeyChangedError, except for `inspect` (`tessera verify NAME` shows the
        new number first and refuses itself). `signing_keys`: the keys `api` signs with when not the home's (the pending
        keys of a key rotation), which a council member's device also cosigns with.
        """
        pin = home.state["pin"]
        cached = home.state.get(DIRECTORY_CACHE)
        known = cached["entries"] if isinstance(cached, dict) and cached.get("seq") == pin["seq"] else None
        verified = await fetch_verified(
            api,
            pinned_seq=int(pin["seq"]),
            pinned_head=b64u_decode(pin["head"], length=32),
            now=int(time.time()),
            witness=(signing_keys or home.keys) if home.role == "council" else None,
            known=known,
        )
        state = verified.state
        known = home.section("known")
        changed = False
        mine = state.accounts.get(home.account)
        if mine is None:
            raise HostileServerError(
                f"the verified key directory has no account {home.account}: the server left your account out (or never "
                "published your joining)"
            )
        if not mine.revoked and mine.keys.sign_key not in _own_sign_keys(home):
            raise DirectoryError(
                f"the directory names keys for {home.account} that this device does not hold: someone rotated your account"
            )
        for name, account in state.accounts.items():
            if name == home.account:
                continue  # this device knows its own keys
            keys = {"sign_key": b64u_encode(account.keys.sign_key), "box_key": b64u_encode(account.keys.box_key)}
            seen = known.get(name)
            if name == accept:
                known[name] = {**keys, "verified": True}
                home.state["notices"] = [n for n in home.state.get("notices", []) if n.get("account") != name]
                changed = True
            elif seen is None:
                known[name] = {**keys, "verified": False}
                changed = True
            elif (seen["sign_key"], seen["box_key"]) != (keys["sign_key"], keys["box_key"]) and not account.revoked:
                if not rotated_from(account, seen):
                    if name == inspect:
                        continue  # `tessera verify NAME` shows the number before it refuses
                    raise KeyChangedError(
                        _(
                            "the keys of {name} changed since you last saw them, and the key directory does not show "
                            "a rotation signed with the keys you knew. Run `tessera verify {name}` to see the new "
                            "safety number, compare it with {name} in person, then run `tessera verify {name} --accept`.",
                            name=name,
                        )
                    )
                # continuity: a chain of rotations, each signed by the key before it, from the keys this device knew
                known[name] = {**keys, "verified": False, "rotated": True, "was_verified": bool(seen.get("verified"))}
                notice = {"kind": "rotated", "account": name, "seq": state.seq, "was_verified": bool(seen.get("verified"))}
                home.state["notices"] = [*home.state.get("notices", []), notice][-MAX_NOTICES:]
                note_rotation(name, account, was_verified=bool(seen.get("verified")))
                changed = True
        if state.council is not None and home.state.get("council_epoch") != state.council.epoch:
            home.state["council"] = to_wire(state.council)  # for sealing offline later
            home.state["council_epoch"] = state.council.epoch
            changed = True
        if (state.seq, b64u_encode(state.head)) != (pin["seq"], pin["head"]) or known is None:
            home.state["pin"] = {"seq": state.seq, "head": b64u_encode(state.head)}
            # the entries up to the new pin, verified: the next fetch asks only for what comes after it
            home.state[DIRECTORY_CACHE] = {"seq": state.seq, "entries": verified.entries}
            changed = True
        if changed:
            home.save()
        return state

    async def council(self, home: Home, api: Api) -> EpochRecord:
        return (await self.council_state(home, api))[1]

    async def council_state(self, home: Home, api: Api) -> tuple[DirectoryState, EpochRecord]:
        """The verified directory and its current council (earlier councils vouch for re-keyed headers)."""
        state = await self.directory(home, api)
        if state.council is None:
            raise DirectoryError(_("the council has not held its key ceremony yet: nothing can be sealed to it"))

        return state, state.council
