"""Where a report's case records come from: the server's cases, opened on this device.

`open_record` is the one place the report reaches a case, through `client.casefiles.open_case`, the checked
opener. What it verified before a case counts: the case-key wrap opened with this member's key, the case
file's AEAD and the helper's signature over it, the helper's signing key in the pinned directory, the head the
helper saw on this device's chain, and each decision's proposal and votes (casefiles.read_decision: action and
case from the proposer's signature, state from the votes counted by members of the proposal's epoch). The
server's `state` and `day` of a case are taken as the server says; an approval needs verified votes.

Nothing decrypted is written anywhere: records live in memory for one run and hold no free text.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from client.api import Api, ApiError
from client.casefiles import NotForYouError, open_case
from client.home import Home
from client.report import strings as s
from client.report.records import CaseRecord, Decision, RecordError, Unreadable, case_record, day_of
from keys.directory import DirectoryState
from keys.errors import DecryptionError, DirectoryError, ProofError, ProtocolError, TesseraError

PAGE: Final = 200
WORKERS: Final = 4  # requests in flight; the server's per-minute limit, not latency, bounds a large report
RATE_RETRIES: Final = 5  # minutes to wait for one case before giving up
LAST_DAY: Final = day_of(datetime.date.max)


class UnreadableCaseError(Exception):
    """This device cannot read the case; `reason` is a catalog message saying why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def open_record(api: Api, home: Home, state: DirectoryState, case_id: str) -> CaseRecord:
    """The case as a report record. Raises UnreadableCaseError for a case this device cannot read (not
    served to it, does not open, forged, unknown signer, malformed, or not fitting its form); ApiError for
    anything else the server refuses (the whole report stops: the member must act)."""
    if state.council is None:
        raise DirectoryError(s.NO_COUNCIL)
    try:
        case = await open_case(api, home, case_id, state)  # the checked opener: the author is a helper of `state`
        # action and state come from the proposer's signature and the counted votes (casefiles.read_decision),
        # never from the server's copy: an approval of another case does not approve this one. A decision the
        # server calls adopted that the votes do not carry counts as unverified (the report says how many).
        decisions = [
            Decision(
                action=str(d["action"] or "?"),
                state=str(d["state"]),
                verified=bool(d["verified"]) and not (d["server_state"] == "adopted" and d["state"] != "adopted"),
                day=int(d["day"]),
            )
            for d in case.decisions()
        ]
        return case_record(
            case_id=case_id, body=case.form, state=str(case.raw["state"]), day=int(case.raw["day"]), decisions=decisions
        )
    except DirectoryError:
        raise  # a fork or hidden entries: the whole report stops, the member must act
    except ApiError as exc:
        if exc.status == 404:
            raise UnreadableCaseError(s.REASON_NOT_SERVED) from exc
        raise
    except (DecryptionError, NotForYouError) as exc:
        raise UnreadableCaseError(s.REASON_DOES_NOT_OPEN) from exc
    except ProofError as exc:  # altered, or made up: not written by a helper of the verified directory
        raise UnreadableCaseError(s.REASON_FORGED) from exc
    except RecordError as exc:
        raise UnreadableCaseError(s.REASON_FORM) from exc
    except (TesseraError, KeyError, TypeError, ValueError) as exc:  # the server sent something that does not parse
        raise UnreadableCaseError(s.REASON_MALFORMED) from exc


def _is_day(value: Any) -> bool:
    """A day the calendar can show (1970-01-01 to 9999-12-31): a bigger one would only break the report."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= LAST_DAY


async def list_cases(api: Api) -> list[dict[str, Any]]:
    """Every case the server lists (id, state, day), page by page. Raises ProtocolError for a malformed list
    (a case listed twice included). A case the server leaves out cannot be noticed here."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    cursor = None
    while True:
        page = await api.cases(cursor=cursor, limit=PAGE)
        try:
            cases, cursor = page["cases"], page["next_cursor"]
            for row in cases:
                if not (isinstance(row["case_id"], str) and isinstance(row["state"], str) and _is_day(row["day"])):
                    raise TypeError
                if row["case_id"] in seen:  # listed twice, it would be counted twice
                    raise TypeError
                seen.add(row["case_id"])
        except (KeyError, TypeError) as exc:
            raise ProtocolError(s.BAD_CASE_LIST) from exc
        rows += cases
        if cursor is None:
            return rows


Opener = Callable[[str], Awaitable[CaseRecord]]


async def read_cases(
    listed: list[dict[str, Any]],
    open_one: Opener,
    *,
    since_day: int,
    on_wait: Callable[[int], None] = lambda seconds: None,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
) -> tuple[list[CaseRecord], list[Unreadable]]:
    """Open every listed case received on or after `since_day` (a food report for a month in the period is
    received in or after that month). A case that cannot be read is returned as Unreadable, never skipped.
    Past the server's per-minute request limit it waits for the next minute (`on_wait`), at most
    RATE_RETRIES times for one case."""
    todo = [row for row in listed if int(row["day"]) >= since_day]
    records: list[CaseRecord] = []
    unreadable: list[Unreadable] = []
    queue = iter(todo)

    async def worker() -> None:
        for row in queue:
            for attempt in range(RATE_RETRIES + 1):
                try:
                    records.append(await open_one(str(row["case_id"])))
                except UnreadableCaseError as exc:
                    unreadable.append(Unreadable(case_id=str(row["case_id"]), day=int(row["day"]), reason=exc.reason))
                except ApiError as exc:
                    if exc.status != 429 or attempt == RATE_RETRIES:
                        raise
                    seconds = 61 - int(clock()) % 60  # the server counts requests per clock minute
                    on_wait(seconds)
                    await sleep(seconds)
                    continue
                break
            on_progress(len(records) + len(unreadable), len(todo))

    tasks = [asyncio.ensure_future(worker()) for _ in range(WORKERS)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:  # one worker's error stops the others too
            task.cancel()
    return records, unreadable
