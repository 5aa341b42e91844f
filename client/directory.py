"""Fetching the key directory and verifying it on this device, from a pinned head (protocol doc §7).

Nothing here trusts the server: the chain is replayed from genesis and must pass through the pinned head
(a fork or rollback is refused), its checkpoint must verify and be dated today, and the council's witnesses
must vouch for it: cosignatures by k current council members made within the last week, none of them on a
head this chain does not have (keys/witness.py). A council member's device cosigns the head it verified.

Hostile tests: tests/hostile/test_directory.py.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from client.api import Api, ApiError
from keys.accounts import AccountKeys
from keys.checkpoints import Checkpoint, verify_checkpoint
from keys.directory import DirectoryEntry, DirectoryState, replay_to_pin
from keys.encoding import b64u_encode
from keys.errors import DirectoryError, TesseraError
from keys.wire import from_wire
from keys.witness import DAY, Cosignature, check_witnesses, cosign

T = TypeVar("T")
COSIGN_EVERY = 6 * 3600  # a member's device cosigns again after this long, or when the head moved
HOUR = 3600


async def fetch_verified(
    api: Api,
    *,
    pinned_seq: int,
    pinned_head: bytes,
    now: int,
    witness: AccountKeys | None = None,
    require_witnesses: bool = True,
    known: list[Any] | None = None,
) -> Verified:
    """The directory as this device verifies it. `witness`: this council member's keys, to cosign the head.
    `known`: the entries up to the pin as this device verified them before (their JSON, from its sealed home):
    then only the entries after the pin are fetched, and the chain is replayed from `known` and them.

    Raises DirectoryError on a fork, a rollback, a bad or stale checkpoint, or too few fresh witnesses."""
    answer = await api.directory(after=pinned_seq if known else None)  # its shape checked in client/api.py
    entries = answer["entries"]
    if known and not (entries and entries[0]["seq"] <= pinned_seq):  # else the whole chain after all: from genesis
        answer = {**answer, "entries": [*known, *entries]}
    state, cosignatures = verify_answer(answer, pinned_seq=pinned_seq, pinned_head=pinned_head, now=now)
    if witness is not None:
        mine = await _cosign(api, state, cosignatures, witness, now)
        if mine is not None:
            cosignatures.append(mine)
    if require_witnesses:
        check_witnesses(state, cosignatures, now=now)
    return Verified(state, list(answer["entries"]))


@dataclass(frozen=True)
class Verified:
    """A verified directory and the entries it was replayed from (their JSON as served: this device's cache)."""

    state: DirectoryState
    entries: list[Any]


def verify_answer(answer: Any, *, pinned_seq: int, pinned_head: bytes, now: int) -> tuple[DirectoryState, list[Cosignature]]:
    """The chain of a directory answer replayed from the pin, with its checkpoint checked (signature and date),
    and its cosignatures parsed (not yet judged). Raises DirectoryError or EncodingError."""
    if not isinstance(answer, dict) or not isinstance(answer.get("entries"), list):
        raise DirectoryError("the server's key directory answer is malformed")
    entries = [from_wire(DirectoryEntry, e) for e in answer["entries"]]
    state = replay_to_pin(entries, pinned_seq=pinned_seq, pinned_head=pinned_head)
    checkpoint = from_wire(Checkpoint, answer.get("checkpoint"))
    verify_checkpoint(checkpoint, state, {state.seq: state.head})
    today = now // DAY
    if state.day > today + 1:
        raise DirectoryError(
            f"the key directory's last entry is dated day {state.day}, after this device's day {today}: the server "
            "dated it in the future (or this device's date is wrong)"
        )
    if abs(checkpoint.day - today) > 1:
        raise DirectoryError(
            f"the server's checkpoint is dated day {checkpoint.day}, this device's clock says day {today}: "
            "check this device's date; if it is right, the server is serving an old copy"
        )
    return state, _parse(answer.get("cosignatures"))


def _parse(items: Any) -> list[Cosignature]:
    out = []
    for item in items if isinstance(items, list) else []:
        try:
            out.append(from_wire(Cosignature, item))
        except TesseraError:
            continue  # not something a member signed: the relay's
    return out


async def _cosign(
    api: Api, state: DirectoryState, cosignatures: list[Cosignature], keys: AccountKeys, now: int
) -> Cosignature | None:
    """This member's cosignature of the head it just verified, when it has none recent for this head."""
    me = keys.public().sign_key
    if not _in_council(state, me):
        return None
    hour = now - now % HOUR
    if any(c.signer == me and c.seq >= state.seq and c.time > now - COSIGN_EVERY for c in cosignatures):
        return None
    made = cosign(state, keys, now=hour)
    await api.cosign(made)
    return made


def _in_council(state: DirectoryState, sign_key: bytes) -> bool:
    council = state.council
    if council is None:
        return False
    for m in council.members:
        account = state.active(m.account)
        if sign_key == m.sign_key or (account is not None and account.keys.sign_key == sign_key):
            return True
    return False


async def fetch_from_genesis(api: Api, *, now: int, require_witnesses: bool = False) -> DirectoryState:
    """Trust on first use of the genesis entry (tests and tools that have no pin yet)."""
    answer = await api.directory()
    first = from_wire(DirectoryEntry, answer["entries"][0])
    verified = await fetch_verified(api, pinned_seq=0, pinned_head=first.hash(), now=now, require_witnesses=require_witnesses)
    return verified.state


async def at_next_position(
    directory: Callable[[], Awaitable[DirectoryState]], post: Callable[[DirectoryState], Awaitable[T]], *, attempts: int = 5
) -> T:
    """Sign for the entry after the verified directory's head and post it (`post(state)`); when another entry
    landed first (the server answers 409 directory_moved), fetch and verify the directory again and sign again."""
    for attempt in range(attempts):
        state = await directory()
        try:
            return await post(state)
        except ApiError as exc:
            if exc.code != "directory_moved" or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def today() -> int:
    """This device's day (days since 1970): what its signatures on directory entries are dated."""
    return int(time.time()) // DAY


def position(state: DirectoryState, day: int) -> dict[str, Any]:
    """The request fields naming the position a signature was made for (the entry after `state`'s head, dated
    `day`)."""
    return {"seq": state.seq + 1, "prev": b64u_encode(state.head), "day": day}


def from_genesis(api: Api) -> Callable[[], Awaitable[DirectoryState]]:
    """`fetch_from_genesis` as the `directory` argument of the signing and ceremony helpers (tests and tools)."""
    return lambda: fetch_from_genesis(api, now=int(time.time()))
