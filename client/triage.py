"""Cases as a person sees them on the device: a council member's triage over every case, and a helper's own
cases through her per-case keys. Everything shown comes from cases opened through the checked opener
(client/casefiles.py): kind, urgency, region and the rest of the case file, decisions counted from signed votes
(`read_decision`), the helper's addenda (client/threads.py). The server's word is taken only for what it says
about itself: a case's state, the day it stored it, how many messages it holds (shown as such).

A council member reads whole cases a page at a time (`GET /v1/case-pages`, up to PAGE per request): one request
per case would spend the account's per-minute request budget (600 by default) on a few hundred cases. The next
page is fetched while this one is opened. A helper's cases are opened one request each through their reply keys
(each case is its own principal on the server), WORKERS at a time.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from client.api import Api, ApiError
from client.casefiles import CaseMissingError, NotForYouError, OpenedCase, open_case, open_served
from client.home import Home
from client.threads import open_thread
from keys.directory import DirectoryState
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope, open_case_file, reply_keys, unwrap_case_key
from keys.errors import DirectoryError, ProofError, TesseraError
from keys.wire import decode_json

PAGE: Final = 100
WORKERS: Final = 4
RATE_WAITS: Final = 5  # minutes to wait, at most, past the server's per-minute request budget
DAY_ZERO: Final = datetime.date(1970, 1, 1)
URGENCY_ORDER: Final = {"critical": 0, "high": 1, "medium": 2, "low": 3}

Progress = Callable[[int, int | None], None]


def date_text(day: object) -> str:
    """A day number (days since 1970-01-01, how the server dates things) as YYYY-MM-DD; "?" for anything else."""
    if isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 2_900_000:
        return (DAY_ZERO + datetime.timedelta(days=day)).isoformat()
    return "?"


def parse_date(text: str, *, option: str) -> int:
    """YYYY-MM-DD as a day number. Raises ValueError with a sentence for the user."""
    try:
        return (datetime.date.fromisoformat(text.strip()) - DAY_ZERO).days
    except ValueError:
        raise ValueError(f"{option} takes a date written YYYY-MM-DD, e.g. 2026-03-01 (not {text!r})") from None


def fold(text: object) -> str:
    """Text for comparing: Unicode NFKC (full-width and half-width forms alike) and case-folded."""
    return unicodedata.normalize("NFKC", str(text)).casefold()


@dataclass
class CaseView:
    """One case as this device read it. `problem` set: it did not open or check, and nothing else of it is shown."""

    case_id: str
    state: str  # the server's
    day: int | None  # the server's (a helper's: the day of the server's signed receipt)
    kind: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # opened (a helper's view, `cases show`)
    message_count: int = 0  # the server's count (a council member's list)
    last_seq: int = 0
    problem: str | None = None
    sent: bool = True  # False: still in this device's outbox
    opened: OpenedCase | None = field(default=None, repr=False, compare=False)
    withdrawal_noted: bool = False  # a withdrawal this device opened earlier (`scan_addenda`)
    amendments_noted: int = 0

    @property
    def date(self) -> str:
        return date_text(self.day) if self.sent else "not sent"

    @property
    def urgency(self) -> str:
        return str(self.fields.get("urgency", ""))

    @property
    def region(self) -> str:
        return str(self.fields.get("region", ""))

    @property
    def addenda(self) -> list[dict[str, Any]]:
        return [m["addendum"] for m in self.messages if m.get("addendum")]

    @property
    def withdrawal_asked(self) -> bool:
        return self.withdrawal_noted or any(a["kind"] == "withdrawal" for a in self.addenda)

    @property
    def amendments(self) -> int:
        return max(self.amendments_noted, sum(1 for a in self.addenda if a["kind"] == "amendment"))

    def decision_summary(self) -> str:
        """The decisions in a few words, from signed votes only: "approve adopted", "1 open", "-"."""
        if self.problem is not None:
            return "-"
        adopted = [d for d in self.decisions if d["verified"] and d["state"] == "adopted"]
        open_ = [d for d in self.decisions if d["verified"] and d["state"] == "open"]
        unverified = [d for d in self.decisions if not d["verified"]]
        parts = [f"{adopted[-1]['action']} adopted"] if adopted else []
        if open_:
            parts.append(f"{len(open_)} open")
        if unverified:
            parts.append(f"{len(unverified)} UNVERIFIED")
        return ", ".join(parts) or "-"

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "state": self.state,
            "date": self.date,
            "day": self.day,
            "kind": self.kind,
            "urgency": self.urgency or None,
            "region": self.region or None,
            "case_file": self.fields,
            "decisions": self.decisions,
            "messages": self.messages,
            "message_count": self.message_count,
            "withdrawal_asked": self.withdrawal_asked,
            "amendments": self.amendments,
            "problem": self.problem,
            "sent": self.sent,
        }


@dataclass(frozen=True)
class Filters:
    """What `cases list` keeps; an empty tuple or None keeps everything. Compared after `fold`."""

    kinds: tuple[str, ...] = ()
    urgencies: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    since: int | None = None
    until: int | None = None
    search: str | None = None

    def keeps(self, case: CaseView) -> bool:
        if self.states and fold(case.state) not in self.states:
            return False
        if self.since is not None and (case.day is None or case.day < self.since):
            return False
        if self.until is not None and (case.day is None or case.day > self.until):
            return False
        if case.problem is not None:  # nothing of it can match a field; kept unless a field is asked for
            return not (self.kinds or self.urgencies or self.regions or self.search)
        if self.kinds and fold(case.kind or "") not in self.kinds:
            return False
        if self.urgencies and fold(case.urgency) not in self.urgencies:
            return False
        if self.regions and fold(case.region) not in self.regions:
            return False
        if self.search:
            haystack = " ".join(fold(v) for v in (case.kind, *case.fields.values(), *(m["text"] for m in case.messages)))
            return self.search in haystack
        return True


def split_option(value: str | None) -> tuple[str, ...]:
    """A comma-separated option as folded words ("high,critical")."""
    return tuple(fold(v).strip() for v in (value or "").split(",") if v.strip())


def sort_cases(cases: Iterable[CaseView]) -> list[CaseView]:
    """Most urgent first, then newest first; cases that did not open last."""
    return sorted(cases, key=lambda c: (c.problem is not None, URGENCY_ORDER.get(c.urgency, 4), -(c.day or 0), c.case_id))


def view_of(case: OpenedCase, *, day: int | None = None) -> CaseView:
    form = case.form
    fields = form.get("fields", {})
    counts = case.raw.get("messages")
    count = counts.get("count") if isinstance(counts, dict) else 0
    last = counts.get("last_seq") if isinstance(counts, dict) else 0
    server_day = case.raw.get("day")
    return CaseView(
        case_id=case.text_id,
        state=str(case.raw.get("state", "?")),
        day=day if day is not None else (server_day if isinstance(server_day, int) else None),
        kind=str(form.get("kind")) if form.get("kind") is not None else None,
        fields=dict(fields) if isinstance(fields, dict) else {},
        decisions=case.decisions(),
        message_count=count if isinstance(count, int) else 0,
        last_seq=last if isinstance(last, int) else 0,
        opened=case,
    )


def unreadable(case_id: str, raw: Any, problem: str) -> CaseView:
    state = raw.get("state") if isinstance(raw, dict) else None
    day = raw.get("day") if isinstance(raw, dict) else None
    return CaseView(case_id=case_id, state=str(state or "?"), day=day if isinstance(day, int) else None, problem=problem)


FORK = "FORK"


def _reason(exc: Exception) -> str:
    if isinstance(exc, DirectoryError):  # its author or a voter saw another key directory than this device
        return f"NOT SHOWN, {FORK}: {exc}. Do not act on it; tell your council"
    if isinstance(exc, NotForYouError):
        return f"does not open for you: {exc}"
    if isinstance(exc, ProofError):
        return f"NOT SHOWN, it does not verify (forged or altered by the server): {exc}"
    return f"NOT SHOWN, malformed: {exc}"


async def within_budget(call: Callable[[], Awaitable[Any]], *, on_wait: Callable[[int], None], sleep: Any = asyncio.sleep) -> Any:
    """`call()`; past the server's per-minute request budget (429), wait for the next minute, RATE_WAITS times."""
    for attempt in range(RATE_WAITS + 1):
        try:
            return await call()
        except ApiError as exc:
            if exc.status != 429 or attempt == RATE_WAITS:
                raise
            seconds = 61 - int(time.time()) % 60  # the server counts requests per clock minute
            on_wait(seconds)
            await sleep(seconds)
    raise AssertionError("unreachable")  # pragma: no cover


async def council_cases(
    api: Api,
    home: Home,
    state: DirectoryState,
    *,
    server_state: str | None = None,
    on_progress: Progress = lambda done, total: None,
    on_wait: Callable[[int], None] = lambda seconds: None,
) -> list[CaseView]:
    """Every case the server serves this council member, opened and checked on the device, page by page.
    Raises ApiError; a case that does not open or verify is returned with `problem` set, never left out (one whose
    author or voters saw another key directory says FORK: the server showed people different histories)."""
    views: list[CaseView] = []
    seen: set[str] = set()

    def fetch(cursor: str | None) -> Awaitable[Any]:
        return within_budget(lambda: api.case_page(state=server_state, cursor=cursor, limit=PAGE), on_wait=on_wait)

    pending: asyncio.Future[Any] | None = asyncio.ensure_future(fetch(None))
    try:
        while pending is not None:
            page = await pending
            items, cursor = (page.get("cases"), page.get("next_cursor")) if isinstance(page, dict) else (None, None)
            if not isinstance(items, list) or not (cursor is None or isinstance(cursor, str)):
                raise ProofError("the server's page of cases is malformed")
            pending = asyncio.ensure_future(fetch(cursor)) if cursor is not None else None
            for raw in items:
                case_id = str(raw.get("case_id")) if isinstance(raw, dict) else "?"
                if case_id in seen:
                    raise ProofError(f"the server listed case {case_id} twice")
                seen.add(case_id)
                try:
                    views.append(view_of(open_served(api, home, raw, state)))
                except TesseraError as exc:
                    views.append(unreadable(case_id, raw, _reason(exc)))
                on_progress(len(views), None)
    finally:
        if pending is not None:
            pending.cancel()
    return views


async def helper_cases(
    api: Api, home: Home, state: DirectoryState, *, on_progress: Progress = lambda done, total: None
) -> list[CaseView]:
    """A helper's own cases: those still in her outbox (opened from the sealed copy on this device) and those she
    sent (each opened through its reply key, with its adopted decisions and its case thread), WORKERS at a time.
    A case the server does not serve although it signed a receipt for it is returned with `problem` set."""
    views = [outbox_view(home, case_id, body) for case_id, body in home.outbox()]
    sent = [str(c) for c in home.state.get("cases", [])]
    receipts = home.section("receipts")
    queue = iter(sent)
    opened: dict[str, CaseView] = {}

    async def worker() -> None:
        for case_text in queue:
            day = receipts.get(case_text, {}).get("day")
            try:
                case = await open_case(api, home, case_text, state)
                view = view_of(case, day=day if isinstance(day, int) else None)
                thread = await case.api.messages(case.case_id)
                view.messages = open_thread(thread.get("messages") if isinstance(thread, dict) else None, case, state)
            except CaseMissingError:
                view = unreadable(
                    case_text, {"state": "missing", "day": day}, "the server does not serve it (it signed a receipt)"
                )
            except TesseraError as exc:
                view = unreadable(case_text, {"day": day}, _reason(exc))
            opened[case_text] = view
            on_progress(len(opened), len(sent))

    tasks = [asyncio.ensure_future(worker()) for _ in range(WORKERS)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return views + [opened[c] for c in sent if c in opened]


def outbox_view(home: Home, case_id: bytes, body: bytes) -> CaseView:
    """A sealed intake still in the outbox, opened with the case's reply key (this device sealed it)."""
    text = b64u_encode(case_id)
    try:
        envelope = decode_json(IntakeEnvelope, body)
        case_key = unwrap_case_key(reply_keys(home.reply_secret, case_id), case_id, envelope.reply_wrap)
        form = open_case_file(envelope, case_key).body
        data = json.loads(form)
    except (TesseraError, ValueError) as exc:
        return CaseView(case_id=text, state="outbox", day=None, problem=f"the outbox copy does not open: {exc}", sent=False)
    fields = data.get("fields", {}) if isinstance(data, dict) else {}
    return CaseView(case_id=text, state="outbox", day=None, kind=data.get("kind"), fields=dict(fields), sent=False)


async def scan_addenda(api: Api, home: Home, state: DirectoryState, views: list[CaseView]) -> None:
    """Note, on each view, the helper's withdrawal and amendments (keys/addenda.py): from what this device opened
    before (kept in the keystore: a case id and two counts, no content) and from the messages newer than that,
    fetched and opened here (only for cases the server says have newer ones). Addenda count only as
    `open_thread` verifies them: from the case's reply key."""
    memory = home.section("addenda")
    changed = False
    for view in views:
        if view.problem is not None or view.opened is None:
            continue
        known = memory.get(view.case_id, {"scanned": 0, "withdrawal": False, "amendments": 0})
        if view.last_seq > int(known["scanned"]):
            thread = await api.messages(view.opened.case_id, after=int(known["scanned"]))
            fresh = open_thread(thread.get("messages") if isinstance(thread, dict) else None, view.opened, state)
            seqs = [m["seq"] for m in fresh if isinstance(m.get("seq"), int)]
            known = {
                "scanned": max([int(known["scanned"]), *seqs]),
                "withdrawal": known["withdrawal"] or any((m["addendum"] or {}).get("kind") == "withdrawal" for m in fresh),
                "amendments": int(known["amendments"])
                + sum(1 for m in fresh if (m["addendum"] or {}).get("kind") == "amendment"),
            }
            memory[view.case_id] = known
            changed = True
        view.withdrawal_noted, view.amendments_noted = bool(known["withdrawal"]), int(known["amendments"])
    if changed:
        home.save()
