"""The audit log's hash chain, shared by the server (which appends) and clients (which verify).

`h_n = KDF32(audit; h_{n−1}, u64 seq, u64 day, actor, action, object, detail)`; `detail` is canonical JSON.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any, Final

from keys.encoding import b64u_decode, canonical_json, u64
from keys.errors import DirectoryError
from keys.hashing import TAG_AUDIT, kdf32

GENESIS: Final = bytes(32)


def entry_hash(prev: bytes, seq: int, day: int, actor: str, action: str, obj: str, detail: str) -> bytes:
    return kdf32(TAG_AUDIT, prev, u64(seq), u64(day), actor.encode(), action.encode(), obj.encode(), detail.encode())


def verify_entries(entries: Iterable[Mapping[str, Any]], prev: bytes = GENESIS, start: int = 0) -> tuple[int, bytes]:
    """Recompute the chain over consecutive entries as the API returns them; returns (last seq, last hash).

    Raises DirectoryError naming the first entry that is missing or altered.
    """
    seq = start
    for entry in entries:
        if entry.get("seq") != seq + 1:
            raise DirectoryError(f"audit entry {seq + 1} is missing")
        detail = canonical_json(entry.get("detail", {})).decode()
        expected = entry_hash(
            prev, seq + 1, int(entry["day"]), str(entry["actor"]), str(entry["action"]), str(entry["object"]), detail
        )
        if not hmac.compare_digest(expected, b64u_decode(str(entry["hash"]), length=32, what="hash")):
            raise DirectoryError(f"audit entry {seq + 1} was altered")
        prev, seq = expected, seq + 1
    return seq, prev
