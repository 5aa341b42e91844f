"""A programme report made on this device, from the period to the computed tables: what `tessera report` and the
app's report page both run (the CLI prints it, the app shows it), so the two count and hide the same way."""

from __future__ import annotations

from collections.abc import Callable

from client.api import Api
from client.home import Home
from client.report.compute import Report, Settings, compute_report
from client.report.records import CaseRecord, Period, month_of
from client.report.source import list_cases, open_record, read_cases
from keys.directory import DirectoryState


def choose_period(first: str | None, last: str | None, today: int) -> Period:
    """From `first` to `last` (YYYY-MM); `last` defaults to this month and `first` to eleven months before
    `last`. Raises PeriodError."""
    last = last or month_of(today)
    return Period(first or Period.ending(last).first, last)


async def build_report(
    api: Api,
    home: Home,
    state: DirectoryState,
    *,
    period: Period,
    settings: Settings,
    today: int,
    on_wait: Callable[[int], None] = lambda seconds: None,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> Report:
    """Open every case of the period this member can read (client/report/source.py) and compute the report."""

    async def open_one(case_id: str) -> CaseRecord:
        return await open_record(api, home, state, case_id)

    listed = await list_cases(api)
    records, unreadable = await read_cases(listed, open_one, since_day=period.first_day, on_wait=on_wait, on_progress=on_progress)
    return compute_report(records, unreadable, period=period, today=today, settings=settings)
