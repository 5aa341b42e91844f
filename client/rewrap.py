"""Giving new council members the case keys this member holds (`tessera council rewrap`, and the app's button):
one library function both call.

The server lists, page by page, the cases whose key some member of the current council lacks and the box keys
missing a wrap. A case key is opened on this device and wrapped only to keys of active members of the verified
council record, whatever the server lists; a listed key outside it stops everything before anything is wrapped.
The server sees wraps, never a case key. Hostile test: tests/hostile/test_rewrap.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from client.api import Api, HostileServerError
from client.home import Home
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import KeyWrap, unwrap_case_key, wrap_case_key

MAX_PAGES: Final = 100_000  # a server that never stops paging is not followed for ever
PAGE: Final = 500  # cases asked per page
POST_BATCH: Final = 1000  # wraps sent per request


@dataclass(frozen=True)
class Rewrapped:
    looked: int  # cases the server listed
    added: int  # key wraps the server stored


def check_recipients(recipients: list[bytes], council: set[bytes]) -> None:
    """A case key is wrapped only to active members of the verified council record, whatever the server lists.
    Hostile test: tests/hostile/test_rewrap.py."""
    outside = [r for r in recipients if r not in council]
    if outside:
        raise HostileServerError(
            f"the server asked to wrap case keys to {len(outside)} key(s) that are not in the verified council record: "
            "nothing was wrapped"
        )


async def rewrap(
    api: Api,
    home: Home,
    state: DirectoryState,
    record: EpochRecord,
    on_progress: Callable[[int], None] = lambda done: None,
) -> Rewrapped:
    """Wrap every case key this member holds to the members of `record` (verified) that lack it."""
    council = {m.box_key for m in state.active_members(record)}  # not a revoked member's (a seized device)
    after: str | None = None
    done = added = 0
    for _ in range(MAX_PAGES):
        page = (await api.wraps(after=after, limit=PAGE))["wraps"]
        if not page:
            break
        batch = []
        for item in page:
            case_id = b64u_decode(item["case_id"], length=16)
            recipients = [b64u_decode(r, length=32) for r in item["missing"]]
            check_recipients(recipients, council)
            if recipients:
                wrap = KeyWrap(recipient=home.keys.public().box_key, sealed=b64u_decode(item["sealed"]))
                case_key = unwrap_case_key(home.keys, case_id, wrap)
                for recipient in recipients:
                    made = wrap_case_key(case_id, case_key, recipient)
                    batch.append(
                        {"case_id": item["case_id"], "recipient": b64u_encode(recipient), "sealed": b64u_encode(made.sealed)}
                    )
        for start in range(0, len(batch), POST_BATCH):
            answer = await api.add_wraps(batch[start : start + POST_BATCH])
            added += int(answer["added"])
        done += len(page)
        after = page[-1]["case_id"]
        on_progress(done)
    return Rewrapped(looked=done, added=added)
