"""Where a report's case records come from: the server's cases, opened on this device.

`open_record` is the one place the report reaches a case. Today it calls `client.casefiles.open_as_member`
and checks the author against the verified key directory itself; when the checked opener lands, only this
function changes. What it verified before a case counts: the case-key wrap opened with this member's key,
the case file's AEAD and the helper's signature over it (open_case_file), the helper's signing key in the
pinned directory, and each decision's signatures and votes against the current council (OpenedCase.decisions),
with its action and its case read from the signed proposal. The server's `state` and `day` are taken as the
server says; an approval needs verified votes.

Nothing decrypted is written anywhere: records live in memory for one run and hold no free text.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from client.api import Api, ApiError
from client.casefiles import open_as_member
from client.home import Home
from client.report import strings as s
from client.report.records import CaseRecord, Decision, RecordError, Unreadable, case_record, day_of
from keys.decisions import Proposal
from keys.directory import DirectoryState
from keys.errors import DecryptionError, DirectoryError, ProofError, ProtocolError, TesseraError
from keys.wire import from_wire

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
        case = await open_as_member(api, home, case_id)
        author = state.accounts.get(case.signed.author)
        if author is None or not author.signed_with(case.signed.author_sign_key):
            raise UnreadableCaseError(s.REASON_UNKNOWN_SIGNER)
        checked = case.decisions(state.council)
        decisions = []
        for raw, seen in zip(case.raw["decisions"], checked, strict=True):
            # the action and the case come from what the proposer signed, not from the server's copy of them:
            # a genuine adopted approval of another case must not approve this one
            proposal = from_wire(Proposal, raw["proposal"])
            verified = bool(seen["verified"]) and proposal.case_id == case.case_id and proposal.action == raw["action"]
            decisions.append(Decision(action=proposal.action, state=str(raw["state"]), verified=verified, day=int(raw["day"])))
        return case_record(
            case_id=case_id, body=case.form, state=str(case.raw["state"]), day=int(case.raw["day"]), decisions=decisions
        )
    except ApiError as exc:
        if exc.status == 404:
            raise UnreadableCaseError(s.REASON_NOT_SERVED) from exc
        raise
    except DecryptionError as exc:
        raise UnreadableCaseError(s.REASON_DOES_NOT_OPEN) from exc
    except ProofError as exc:
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
        page = await api.call("GET", "/v1/cases", query={"cursor": cursor, "limit": PAGE})
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
