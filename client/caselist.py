"""The council's case list computed on the device: every case fetched and opened through the checked opener,
then searched, filtered (kind, region, urgency, state, day, tag) and sorted here. The server sees only that
the cases were fetched; it never learns what was searched for.

A case that does not open or check (a forged or altered case, one without a wrap for this member) is listed
as such with the reason, never with fields the server could have written. For the app (and, once issue 26
lands, for `tessera cases list` with filters, which should share `matches` and `sort_rows`)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Final

from client.annotations import read_annotations
from client.api import Api
from client.casefiles import NotForYouError, open_case
from client.home import Home
from client.inbox import thread_of
from keys.directory import DirectoryState
from keys.errors import ProofError, ProtocolError

URGENCY_ORDER: Final = {"critical": 0, "high": 1, "medium": 2, "low": 3}
SORTS: Final = ("newest", "oldest", "urgency", "kind")
PAGE: Final = 200


@dataclass
class CaseRow:
    case_id: str
    state: str
    day: int | None
    kind: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    problem: str | None = None  # set when the case does not open or check: nothing else of it is shown

    @property
    def urgency(self) -> str | None:
        value = self.fields.get("urgency")
        return str(value) if value is not None else None

    @property
    def region(self) -> str | None:
        value = self.fields.get("region")
        return str(value) if value is not None else None


@dataclass(frozen=True, kw_only=True)
class Filters:
    text: str = ""
    kind: str = ""
    region: str = ""
    urgency: str = ""
    state: str = ""
    tag: str = ""
    first_day: int | None = None
    last_day: int | None = None
    sort: str = "newest"


def day_of(text: str) -> int | None:
    """A YYYY-MM-DD date as a day number (days since 1970-01-01), or None."""
    try:
        return (datetime.date.fromisoformat(text) - datetime.date(1970, 1, 1)).days
    except ValueError:
        return None


async def fetch_rows(api: Api) -> list[dict[str, Any]]:
    """Every case the server lists (id, state, day), page by page."""
    rows: list[dict[str, Any]] = []
    cursor = None
    for _page in range(10_000):  # bounded: 2 million cases
        page = await api.cases(cursor=cursor, limit=PAGE)
        rows += [r for r in page.get("cases", []) if isinstance(r, dict)]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    return rows


async def open_rows(api: Api, home: Home, state: DirectoryState, *, with_tags: bool = True) -> list[CaseRow]:
    """Each listed case opened through the checked opener (and, with `with_tags`, its council tags read)."""
    out = []
    for raw in await fetch_rows(api):
        row = CaseRow(case_id=str(raw.get("case_id")), state=str(raw.get("state")), day=_int(raw.get("day")))
        try:
            case = await open_case(api, home, row.case_id, state)
        except (NotForYouError, ProofError, ProtocolError) as exc:
            row.problem = str(exc)
            out.append(row)
            continue
        form = case.form
        row.kind = str(form.get("kind"))
        row.fields = form.get("fields", {}) if isinstance(form.get("fields"), dict) else {}
        if with_tags:
            row.tags = read_annotations(await thread_of(case, state)).tags
        out.append(row)
    return out


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def matches(row: CaseRow, f: Filters) -> bool:
    """Whether `row` passes every filter; the search text is looked for, case-insensitively, in the case id,
    kind, tags and every case-file field."""
    if f.kind and row.kind != f.kind:
        return False
    if f.region and (row.region or "").casefold() != f.region.casefold():
        return False
    if f.urgency and row.urgency != f.urgency:
        return False
    if f.state and row.state != f.state:
        return False
    if f.tag and f.tag not in row.tags:
        return False
    if f.first_day is not None and (row.day is None or row.day < f.first_day):
        return False
    if f.last_day is not None and (row.day is None or row.day > f.last_day):
        return False
    if f.text:
        haystack = " ".join([row.case_id, row.kind or "", *row.tags, *(str(v) for v in row.fields.values())]).casefold()
        return all(word in haystack for word in f.text.casefold().split())
    return True


def sort_rows(rows: list[CaseRow], how: str) -> list[CaseRow]:
    if how == "oldest":
        return sorted(rows, key=lambda r: (r.day is None, r.day or 0, r.case_id))
    if how == "urgency":
        return sorted(rows, key=lambda r: (URGENCY_ORDER.get(r.urgency or "", 9), -(r.day or 0), r.case_id))
    if how == "kind":
        return sorted(rows, key=lambda r: (r.kind or "~", -(r.day or 0), r.case_id))
    return sorted(rows, key=lambda r: (r.day is None, -(r.day or 0), r.case_id))


def select(rows: list[CaseRow], f: Filters) -> list[CaseRow]:
    return sort_rows([r for r in rows if matches(r, f)], f.sort)
