"""Fetching the key directory and verifying it on this device, from a pinned head (protocol doc §7).

Nothing here trusts the server: the chain is replayed from genesis, must pass through the pinned head, and
its checkpoint must verify. What to do with the result (known people, the pin) is the session's job.
"""

from __future__ import annotations

from client.api import Api
from keys.checkpoints import Checkpoint, verify_checkpoint
from keys.directory import DirectoryEntry, DirectoryState, replay_to_pin
from keys.wire import from_wire


async def fetch_verified(api: Api, *, pinned_seq: int, pinned_head: bytes) -> DirectoryState:
    """The directory as this device verifies it; raises DirectoryError on a fork, a rollback or a bad checkpoint.

    Hostile tests: tests/hostile/test_directory.py."""
    answer = await api.call("GET", "/v1/directory")
    entries = [from_wire(DirectoryEntry, e) for e in answer["entries"]]
    state = replay_to_pin(entries, pinned_seq=pinned_seq, pinned_head=pinned_head)
    verify_checkpoint(from_wire(Checkpoint, answer["checkpoint"]), state, {state.seq: state.head})
    return state


async def fetch_from_genesis(api: Api) -> DirectoryState:
    """Trust on first use of the genesis entry (tests and tools that have no pin yet)."""
    answer = await api.call("GET", "/v1/directory")
    first = from_wire(DirectoryEntry, answer["entries"][0])
    return await fetch_verified(api, pinned_seq=0, pinned_head=first.hash())
