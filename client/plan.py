"""What a council member is shown, and must accept, before taking part in a ceremony: the new council's
members (each checked against the verified key directory, with their safety numbers and whether this member
compared them in person), the threshold, the epoch, and the council it replaces.

The server opens a ceremony and hands every member its parameters; nothing in them is believed. Each
participant must be an active council account whose keys are exactly those in this device's verified
directory (else the server substituted someone: HostileServerError), and the member must have confirmed the
plan (its session id is remembered, so a server that changes the plan later is asked about again). A session
id that this device already used in another ceremony is refused: a replay.

Hostile tests: tests/hostile/test_ceremonies.py (stand-ins, swapped keys, unconfirmed plans).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from client.api import HostileServerError
from client.i18n import english
from client.output import pad
from client.session import UsageError
from keys.accounts import AccountPublic, fingerprint
from keys.council import EpochRecord, Participant
from keys.directory import DirectoryState
from keys.encoding import b64u_encode


class NotConfirmedError(UsageError):
    """The member has not accepted the ceremony's plan (yet)."""


@dataclass(frozen=True)
class PlanMember:
    index: int
    account: str
    safety_number: str
    verified: bool  # compared in person (`tessera verify NAME --accept`)
    me: bool
    rotated: bool = False  # new keys from a rotation since this member last compared them


@dataclass(frozen=True)
class CeremonyPlan:
    kind: str  # "dkg" (the first council key), "rekey" (a new council key) or "redistribute" (same key)
    epoch: int
    threshold: int
    members: tuple[PlanMember, ...]
    current: EpochRecord | None  # the council this one replaces
    dealers: tuple[str, ...] = ()  # a redistribution: the current members who re-share

    @property
    def unverified(self) -> list[str]:
        return [m.account for m in self.members if not m.verified and not m.me]

    def describe(self, _: Callable[..., str] = english) -> list[str]:
        """The plan in lines, in English or through `_` (the `tessera` command passes client.i18n's, in its
        language; the app shows and fingerprints the English lines)."""
        what = {
            "dkg": _("the council's first key ceremony"),
            "rekey": _("a NEW council key (a re-key): every case will be switched to it"),
            "redistribute": _("a change of the council's members or threshold (the council key stays the same)"),
        }[self.kind]
        lines = [
            _(
                "This is {what}: council epoch {epoch}, {threshold} of {count} members to reveal.",
                what=what,
                epoch=self.epoch,
                threshold=self.threshold,
                count=len(self.members),
            )
        ]
        if self.current is not None:
            lines.append(
                _(
                    "It replaces the council of epoch {epoch}: {names} ({threshold} needed).",
                    epoch=self.current.epoch,
                    names=", ".join(m.account for m in self.current.members),
                    threshold=self.current.threshold,
                )
            )
        if self.dealers:
            lines.append(_("Re-sharing their shares: {names}.", names=", ".join(self.dealers)))
        lines.append(_("The new council:"))
        for m in self.members:
            status = _("you") if m.me else (_("verified in person") if m.verified else _("NOT verified in person"))
            if m.rotated and not m.verified and not m.me:
                status = _("{status}: new keys since a rotation", status=status)
            # names in any script line up by terminal columns (a Hangul name is twice as wide as its length)
            lines.append(f"  {m.index:>3}  {pad(m.account, 20)} {m.safety_number}  ({status})")
        if self.unverified:
            lines.append(
                _(
                    "You have not compared safety numbers with {names}: anyone the administrator registered could "
                    "stand behind these names. Compare them first (`tessera verify NAME`).",
                    names=", ".join(self.unverified),
                )
            )
        return lines



Confirm = Callable[[CeremonyPlan], bool]


def accept_all(plan: CeremonyPlan) -> bool:
    """For tests and tools that build their own council: accept every plan as shown."""
    return True


def check_participants(participants: Iterable[Participant], state: DirectoryState, *, what: str) -> None:
    """Every participant must be an active council account with exactly the keys the verified directory has.
    Raises HostileServerError naming the first one that is not."""
    for p in participants:
        account = state.active(p.account)
        if account is None or account.role != "council":
            raise HostileServerError(f"the server's {what} names {p.account!r}, who is not an active council account")
        if (account.keys.sign_key, account.keys.box_key) != (p.sign_key, p.box_key):
            raise HostileServerError(
                f"the server's {what} names {p.account} with keys that are not {p.account}'s in the verified key "
                "directory: it substituted someone else's keys"
            )


def make_plan(
    *,
    kind: str,
    epoch: int,
    threshold: int,
    participants: Iterable[Participant],
    me: bytes,
    known: Mapping[str, Any],
    current: EpochRecord | None,
    dealers: tuple[str, ...] = (),
) -> CeremonyPlan:
    members = tuple(
        PlanMember(
            index=p.index,
            account=p.account,
            safety_number=fingerprint(AccountPublic(sign_key=p.sign_key, box_key=p.box_key), p.account),
            verified=bool(known.get(p.account, {}).get("verified")),
            me=p.sign_key == me,
            rotated=bool(known.get(p.account, {}).get("rotated")),
        )
        for p in sorted(participants, key=lambda p: p.index)
    )
    return CeremonyPlan(kind=kind, epoch=epoch, threshold=threshold, members=members, current=current, dealers=dealers)


def settle(secrets: MutableMapping[str, Any], ceremony_id: str, sid: bytes, plan: CeremonyPlan, confirm: Confirm) -> None:
    """Refuse a replayed session; ask for confirmation once per session (the answer is kept in `secrets`).

    Raises HostileServerError (a session id used before in another ceremony) or NotConfirmedError."""
    sessions: dict[str, str] = secrets.setdefault("sessions", {})
    key = b64u_encode(sid)
    if sessions.get(key, ceremony_id) != ceremony_id:
        raise HostileServerError("the server replays a ceremony session this device took part in before")
    if secrets.get(f"{ceremony_id}:confirmed") == key:
        return
    if not confirm(plan):
        raise NotConfirmedError("you did not accept this ceremony: nothing was sent")
    sessions[key] = ceremony_id
    secrets[f"{ceremony_id}:confirmed"] = key
