"""The ceremony mailbox as a member's client uses it: posting, and reading the server's list of messages, of
which only those its author signed count (the rest is the relay's doing and is dropped, never complained
about). Shared by the key ceremony (ceremony.py) and the membership change (redistribution.py)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from client.api import Api
from client.directory import position, today
from keys.accounts import AccountKeys
from keys.council import EpochRecord
from keys.directory import DirectoryState, payload_for, sign_next
from keys.encoding import b64u_decode, b64u_encode, canonical_json
from keys.errors import TesseraError
from keys.group import Point, Scalar
from keys.wire import from_wire, to_wire

W = TypeVar("W")
K = TypeVar("K", bound=Hashable)


@dataclass
class StepResult:
    actions: list[str] = field(default_factory=list)
    waiting_for: str = ""
    done: bool = False
    record: EpochRecord | None = None
    dropped: int = 0  # messages the relay made up (not signed by their author)


async def post_message(api: Api, ceremony_id: str, kind: str, message: Any) -> None:
    body = canonical_json(message).decode()
    await api.post_ceremony_message(ceremony_id, kind, body)


def share_for(secrets: MutableMapping[str, Any], epoch: int) -> Scalar | None:
    """This member's share of the council key for `epoch`, if it holds one."""
    value = secrets.get(f"share:{epoch}")
    return Scalar(b64u_decode(value)) if value else None


def forget(secrets: MutableMapping[str, Any], ceremony_id: str) -> None:
    """Erase what a ceremony needed between steps (the polynomial, the share-encryption key, kept messages)."""
    for name in ("dealer", "sent", "shares", "member"):
        secrets.pop(f"{ceremony_id}:{name}", None)


def erase_old_share(secrets: MutableMapping[str, Any], state: DirectoryState, old_epoch: int, keys: AccountKeys) -> bool:
    """Erase this member's share of council epoch `old_epoch` once it is spent, and only then: the verified
    directory holds a later council, and if this member is in it, the share it holds for that council checks
    against the record (else the old share may be the only one it has). Never on the server's word; returns
    True if it erased something.

    Hostile tests: tests/hostile/test_ceremonies.py::test_a_share_is_not_erased_when_the_server_says_*."""
    current = state.council
    if f"share:{old_epoch}" not in secrets or current is None or current.epoch <= old_epoch:
        return False
    member = current.member_by_sign_key(keys.public().sign_key)
    if member is not None:
        share = share_for(secrets, current.epoch)
        if share is None or Point.base_mul(share) != current.share_key(member.index):
            return False
    del secrets[f"share:{old_epoch}"]
    return True


class Mailbox:
    """The messages the server listed, parsed; `signed` keeps, per author, the first its author signed."""

    def __init__(self, messages: list[dict[str, Any]], result: StepResult) -> None:
        self.messages = messages
        self.result = result

    def parsed(self, kind: str, cls: type[W]) -> list[W]:
        out = []
        for m in self.messages:
            if m.get("kind") != kind:
                continue
            try:
                out.append(from_wire(cls, m.get("body")))
            except TesseraError:
                self.result.dropped += 1  # malformed: not something any member sent
        return out

    def parsed_json(self, kind: str) -> list[dict[str, Any]]:
        return [m["body"] for m in self.messages if m.get("kind") == kind and isinstance(m.get("body"), dict)]

    def signed(self, kind: str, cls: type[W], author: Callable[[W], K], is_signed: Callable[[W], bool]) -> dict[K, W]:
        """The first message of `kind` per author (or per `author(message)` key) that the author signed."""
        out: dict[K, W] = {}
        for message in self.parsed(kind, cls):
            if author(message) in out:
                continue
            if is_signed(message):
                out[author(message)] = message
            else:
                self.result.dropped += 1
        return out


async def sign_epoch(
    api: Api, ceremony_id: str, keys: AccountKeys, record: EpochRecord, state: DirectoryState, box: Mailbox
) -> bool:
    """Post this member's signature on the epoch record's directory entry for the position after `state` (its
    verified directory), unless the mailbox already holds one for that position; returns whether it posted.
    A signature made for an older position (another entry landed since) is replaced (protocol doc §7)."""
    me = b64u_encode(keys.public().sign_key)
    day = today()
    where = position(state, day)
    for body in box.parsed_json("epoch-signature"):
        signer = (body.get("signature") or {}).get("signer")
        if signer == me and all(body.get(k) == where[k] for k in ("seq", "prev", "day")):
            return False
    signature = sign_next("council-epoch", payload_for("council-epoch", record=record), keys, state, day=day)
    await post_message(api, ceremony_id, "epoch-signature", {"record": to_wire(record), "signature": to_wire(signature), **where})
    return True
