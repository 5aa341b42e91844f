"""What a report is computed from: opened cases reduced to the fields it counts, and the period.

A `CaseRecord` is built only from a case file whose fields fit its form (`case_record` checks the types of
every field the report reads): a case file that does not fit is counted as unreadable, never guessed at.
Decisions carry their verification: only a decision this device verified counts as approved or declined.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from client.forms import KINDS, Field
from client.report import strings as s

DAY_ZERO: Final = datetime.date(1970, 1, 1)  # the server's `day` counts days since then (UTC)
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


class RecordError(Exception):
    """A case file does not fit its form."""


class PeriodError(Exception):
    """The period is not a pair of months, the first not after the last."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message.format(**values))
        self.message, self.values = message, values  # a catalog message and its values, for the command


def date_of(day: int) -> datetime.date:
    return DAY_ZERO + datetime.timedelta(days=day)


def day_of(date: datetime.date) -> int:
    return (date - DAY_ZERO).days


def month_of(day: int) -> str:
    return date_of(day).strftime("%Y-%m")


def parse_month(text: str) -> tuple[int, int]:
    """`YYYY-MM` as (year, month); raises PeriodError."""
    match = _MONTH.fullmatch(text)
    if match is None:
        raise PeriodError(s.BAD_MONTH, text=text)
    return int(match[1]), int(match[2])


def _index(month: str) -> int:
    year, number = parse_month(month)
    return year * 12 + number - 1


def _month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True, slots=True)
class Period:
    """Whole months, `first` to `last` inclusive, as YYYY-MM."""

    first: str
    last: str

    def __post_init__(self) -> None:
        if parse_month(self.first) > parse_month(self.last):
            raise PeriodError(s.PERIOD_BACKWARDS, first=self.first, last=self.last)

    @classmethod
    def ending(cls, last: str, months: int = 12) -> Period:
        """The `months` months up to and including `last` (YYYY-MM). Raises PeriodError."""
        end = _index(last)
        return cls(_month(end - (months - 1)), _month(end))

    def months(self) -> Iterator[str]:
        for index in range(_index(self.first), _index(self.last) + 1):
            yield _month(index)

    @property
    def first_day(self) -> int:
        year, month = parse_month(self.first)
        return day_of(datetime.date(year, month, 1))

    @property
    def last_day(self) -> int:
        year, month = parse_month(self.last)
        following = datetime.date(year + month // 12, month % 12 + 1, 1)
        return day_of(following) - 1

    def holds_day(self, day: int) -> bool:
        return self.first_day <= day <= self.last_day

    def holds_month(self, month: str) -> bool:
        return self.first <= month <= self.last


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    action: str  # approve | decline | request-info
    state: str  # open | adopted | rejected, as this device counted the signed votes (unverified: not counted)
    verified: bool  # the proposal's signature checked, and the server's "adopted" (if it says so) is borne out
    day: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseRecord:
    case_id: str
    kind: str
    fields: Mapping[str, Any]  # numbers, choices, months and flags that fit the form; never free text
    state: str  # open | decided | closed, as the server reports it
    day: int  # the day the case was received
    decisions: tuple[Decision, ...] = ()

    @property
    def outcome(self) -> str:
        """approved, declined or open: the last decision this device verified as adopted decides."""
        for d in reversed(self.decisions):
            if d.verified and d.state == "adopted" and d.action in ("approve", "decline"):
                return "approved" if d.action == "approve" else "declined"
        return "open"

    @property
    def unverified_decisions(self) -> int:
        return sum(1 for d in self.decisions if not d.verified)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unreadable:
    """A case this device could not read: counted as such and listed, never guessed at."""

    case_id: str
    day: int
    reason: str  # a catalog message: strings.REASON_*


def _fits(f: Field, value: Any) -> bool:
    if f.kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**9
    if f.kind == "bool":
        return isinstance(value, bool)
    if not isinstance(value, str) or len(value) > f.max_len:
        return False
    if f.kind == "choice":
        return value in f.choices
    if f.kind == "month":
        return _MONTH.fullmatch(value) is not None
    return True


def case_record(*, case_id: str, body: Mapping[str, Any], state: str, day: int, decisions: Sequence[Decision]) -> CaseRecord:
    """The record of one opened case file (`body`: {"kind", "schema", "fields"} as the helper signed it).

    Raises RecordError when its kind is unknown or a case-file field is missing or of the wrong type."""
    kind = body.get("kind")
    fields = body.get("fields")
    if not isinstance(kind, str) or kind not in KINDS:
        raise RecordError(f"case {case_id}: unknown kind {kind!r}")
    if not isinstance(fields, dict):
        raise RecordError(f"case {case_id}: the case file has no fields")
    kept: dict[str, Any] = {}
    for f in KINDS[kind][1]:
        if f.section != "case":
            continue
        value = fields.get(f.name)
        if value is None or (value == "" and not f.required):  # the form's template leaves optional text empty
            if f.required:
                raise RecordError(f"case {case_id}: {f.name} is missing")
            continue
        if not _fits(f, value):
            raise RecordError(f"case {case_id}: {f.name} does not fit the {kind} form")
        if f.kind not in ("text", "date"):  # free text is checked, then dropped: no report reads it
            kept[f.name] = value
    return CaseRecord(case_id=case_id, kind=kind, fields=kept, state=state, day=day, decisions=tuple(decisions))
