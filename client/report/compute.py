"""The figures of a programme report: pure functions of opened case records, a period and the day.

No network, no files, no clock: the command, the tests and the benchmark feed the same function. Every
figure is exact here; small counts are hidden later, when the tables are shown (client/report/privacy.py).

Which cases count: a food-distribution report by the month it covers, every other case by the day it was
received. Approved and declined come only from decisions this device verified (CaseRecord.outcome); a
decision does not record an amount, so the amount approved or declined is the amount the case file requests.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from client.forms import KINDS, URGENCY
from client.report import strings as s
from client.report.records import CaseRecord, Period, Unreadable, date_of
from client.report.table import Column, Table, Value

AID_KINDS: Final = ("shelter", "clothing", "food", "medical", "financial-support", "schooling", "self-reliance", "relocation")
AGE_LIMITS: Final = (7, 30, 90)  # days: the age buckets are under 7, 7 to 29, 30 to 89, 90 or more


def _choices(kind: str, name: str) -> tuple[str, ...]:
    return next(f.choices for f in KINDS[kind][1] if f.name == name)


def _has_amount(kind: str) -> bool:
    return any(f.name == "amount_usd" for f in KINDS[kind][1])


ROUTES: Final = _choices("food-distribution", "route")
TREATMENTS: Final = _choices("medical", "treatment")
PRODUCTS: Final = _choices("self-reliance", "product")
RELOCATION_STAGES: Final = _choices("relocation", "stage")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    rice_target_kg: int = 5000  # for all routes together, per month
    threshold: int = 3  # a count below it is shown as "<3"

    def __post_init__(self) -> None:
        if self.rice_target_kg < 0:
            raise ValueError("the rice target is a number of kilograms from 0")
        if self.threshold < 3:
            raise ValueError("small counts are hidden below 3 at least")


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    period: Period
    today: int
    settings: Settings
    tables: tuple[Table, ...]
    cases_read: int  # case files of the period that were read
    unreadable: tuple[Unreadable, ...]
    unverified_decisions: int
    doubled_rice: tuple[tuple[str, str, int], ...]  # (route, month, reports) where one route reported twice

    def table(self, key: str) -> Table:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(f"the report has no table {key}")


def in_period(case: CaseRecord, period: Period) -> bool:
    if case.kind == "food-distribution":
        return period.holds_month(str(case.fields["month"]))
    return period.holds_day(case.day)


def _sum_rows(rows: Sequence[tuple[Value, ...]], columns: Sequence[Column]) -> tuple[Value, ...]:
    """The total row: every figure column summed; a column with nothing recorded stays None."""
    out: list[Value] = [s.TOTAL]
    for i, c in enumerate(columns[1:], start=1):
        if c.kind in ("label", "code"):
            out.append(None)
            continue
        values = [r[i] for r in rows if isinstance(r[i], int)]
        out.append(sum(values) if values else None)  # type: ignore[arg-type]
    return tuple(out)


def _amount(case: CaseRecord, name: str = "amount_usd") -> int:
    value = case.fields.get(name, 0)
    return value if isinstance(value, int) else 0


def rice_table(cases: Sequence[CaseRecord], period: Period, settings: Settings) -> tuple[Table, list[tuple[str, str, int]]]:
    kg: dict[tuple[str, str], int] = defaultdict(int)
    shelters: dict[str, int] = defaultdict(int)
    reports: Counter[tuple[str, str]] = Counter()
    for c in cases:
        key = (str(c.fields["route"]), str(c.fields["month"]))
        kg[key] += int(c.fields["rice_kg"])
        shelters[key[1]] += int(c.fields["shelters"])
        reports[key] += 1
    columns = (
        Column(key="month", title=s.COL_MONTH, kind="code"),
        *(Column(key=r, title=r, kind="logistics") for r in ROUTES),
        Column(key="total_kg", title=s.COL_TOTAL_KG, kind="logistics"),
        Column(key="target_kg", title=s.COL_TARGET_KG, kind="logistics"),
        Column(key="percent", title=s.COL_PERCENT, kind="logistics"),
        Column(key="shelters", title=s.COL_SHELTERS, kind="logistics"),
    )
    months = list(period.months())
    rows = []
    for month in months:
        per_route = [kg[(r, month)] if reports[(r, month)] else None for r in ROUTES]
        reported = [v for v in per_route if v is not None]
        total = sum(reported) if reported else None  # no report yet is not "no rice"
        percent = _percent(total, settings.rice_target_kg) if total is not None else None
        rows.append((month, *per_route, total, settings.rice_target_kg, percent, shelters.get(month)))
    sums = _sum_rows(rows, columns)
    target = settings.rice_target_kg * len(months)
    total_kg = sums[1 + len(ROUTES)]
    total_row = (*sums[: 2 + len(ROUTES)], target, _percent(int(total_kg or 0), target), sums[-1])
    doubled = sorted((route, month, n) for (route, month), n in reports.items() if n > 1)
    return Table(key="rice", title=s.RICE_TABLE, columns=columns, rows=tuple(rows), total=total_row), doubled


def _percent(kg: int, target: int) -> int | None:
    """Whole percent, halves rounded up (48.5 % is 49 %, as people round; Python's round() would say 48)."""
    return (200 * kg + target) // (2 * target) if target else None


def _outcome_counts(cases: Sequence[CaseRecord], amount: bool) -> tuple[Value, ...]:
    by = {o: [c for c in cases if c.outcome == o] for o in ("open", "approved", "declined")}
    counts = (len(cases), len(by["open"]), len(by["approved"]), len(by["declined"]))
    if not amount:
        return (*counts, None, None, None)
    return (
        *counts,
        sum(_amount(c) for c in cases),
        sum(_amount(c) for c in by["approved"]),
        sum(_amount(c) for c in by["declined"]),
    )


def aid_table(cases: Sequence[CaseRecord]) -> Table:
    columns = (
        Column(key="kind", title=s.COL_KIND, kind="label"),
        Column(key="cases", title=s.COL_CASES),
        Column(key="open", title=s.COL_OPEN, part_of="cases"),
        Column(key="approved", title=s.COL_APPROVED, part_of="cases"),
        Column(key="declined", title=s.COL_DECLINED, part_of="cases"),
        Column(key="requested_usd", title=s.COL_REQUESTED_USD, kind="amount", drawn_from="cases"),
        Column(key="approved_usd", title=s.COL_APPROVED_USD, kind="amount", drawn_from="approved"),
        Column(key="declined_usd", title=s.COL_DECLINED_USD, kind="amount", drawn_from="declined"),
    )
    rows = tuple((kind, *_outcome_counts([c for c in cases if c.kind == kind], _has_amount(kind))) for kind in AID_KINDS)
    return Table(key="aid", title=s.AID_TABLE, columns=columns, rows=rows, total=_sum_rows(rows, columns))


def medical_table(cases: Sequence[CaseRecord]) -> Table:
    columns = (
        Column(key="treatment", title=s.COL_TREATMENT, kind="label"),
        Column(key="cases", title=s.COL_CASES),
        Column(key="approved", title=s.COL_APPROVED),
        Column(key="requested_usd", title=s.COL_REQUESTED_USD, kind="amount", drawn_from="cases"),
        Column(key="approved_usd", title=s.COL_APPROVED_USD, kind="amount", drawn_from="approved"),
    )
    rows = []
    for treatment in TREATMENTS:
        mine = [c for c in cases if c.kind == "medical" and c.fields["treatment"] == treatment]
        approved = [c for c in mine if c.outcome == "approved"]
        rows.append((treatment, len(mine), len(approved), sum(map(_amount, mine)), sum(map(_amount, approved))))
    return Table(key="medical", title=s.MEDICAL_TABLE, columns=columns, rows=tuple(rows), total=_sum_rows(rows, columns))


def schooling_table(cases: Sequence[CaseRecord]) -> Table:
    columns = (
        Column(key="decision", title=s.COL_OUTCOME, kind="label"),
        Column(key="children", title=s.COL_CHILDREN),
        Column(key="need_sponsor", title=s.COL_NEED_SPONSOR),
    )
    rows = []
    for outcome, label in (("approved", s.OUTCOME_APPROVED), ("open", s.OUTCOME_OPEN)):
        mine = [c for c in cases if c.kind == "schooling" and c.outcome == outcome]
        rows.append((label, len(mine), sum(1 for c in mine if c.fields["sponsor_needed"] is True)))
    return Table(key="schooling", title=s.SCHOOLING_TABLE, columns=columns, rows=tuple(rows), total=_sum_rows(rows, columns))


def self_reliance_table(cases: Sequence[CaseRecord]) -> Table:
    columns = (
        Column(key="product", title=s.COL_PRODUCT, kind="label"),
        Column(key="cases", title=s.COL_CASES),
        Column(key="production", title=s.COL_PRODUCTION, part_of="cases"),
        Column(key="distribution", title=s.COL_DISTRIBUTION, part_of="cases"),
        Column(key="sale", title=s.COL_SALE, part_of="cases"),
        Column(key="items", title=s.COL_ITEMS, kind="amount", drawn_from="cases"),
        Column(key="sales_usd", title=s.COL_SALES_USD, kind="amount", drawn_from="cases"),
        Column(key="requested_usd", title=s.COL_REQUESTED_USD, kind="amount", drawn_from="cases"),
    )
    rows = []
    for product in PRODUCTS:
        mine = [c for c in cases if c.kind == "self-reliance" and c.fields["product"] == product]
        stages = Counter(str(c.fields["stage"]) for c in mine)
        rows.append(
            (
                product,
                len(mine),
                stages["production"],
                stages["distribution"],
                stages["sale"],
                sum(_amount(c, "items") for c in mine),
                sum(_amount(c, "sales_usd") for c in mine),
                sum(map(_amount, mine)),
            )
        )
    return Table(
        key="self_reliance", title=s.SELF_RELIANCE_TABLE, columns=columns, rows=tuple(rows), total=_sum_rows(rows, columns)
    )


def relocation_table(cases: Sequence[CaseRecord]) -> Table:
    columns = (
        Column(key="stage", title=s.COL_STAGE, kind="label"),
        Column(key="cases", title=s.COL_CASES),
        Column(key="people", title=s.COL_PEOPLE, drawn_from="cases"),
        Column(key="open", title=s.COL_OPEN, part_of="cases"),
        Column(key="approved", title=s.COL_APPROVED, part_of="cases"),
        Column(key="declined", title=s.COL_DECLINED, part_of="cases"),
    )
    rows = []
    for stage in (*RELOCATION_STAGES, s.NOT_RECORDED):  # case files from before the field existed: not recorded
        mine = [c for c in cases if c.kind == "relocation" and c.fields.get("stage", s.NOT_RECORDED) == stage]
        counts = _outcome_counts(mine, amount=False)
        rows.append((stage, counts[0], sum(_people(c) for c in mine), *counts[1:4]))
    return Table(key="relocation", title=s.RELOCATION_TABLE, columns=columns, rows=tuple(rows), total=_sum_rows(rows, columns))


def _people(case: CaseRecord) -> int:
    return int(case.fields["household_size"])


def age_bucket(age_days: int) -> int:
    """0: under 7 days, 1: 7 to 29, 2: 30 to 89, 3: 90 or more."""
    return sum(1 for limit in AGE_LIMITS if age_days >= limit)


def open_table(cases: Sequence[CaseRecord], today: int) -> Table:
    columns = (
        Column(key="urgency", title=s.COL_URGENCY, kind="label"),
        *(Column(key=f"age{i}", title=title, part_of="cases") for i, title in enumerate(s.AGE_BUCKETS)),
        Column(key="cases", title=s.COL_CASES),
    )
    waiting = [c for c in cases if c.kind != "food-distribution" and c.outcome == "open" and c.state != "closed"]
    grid: Counter[tuple[str, int]] = Counter((str(c.fields["urgency"]), age_bucket(today - c.day)) for c in waiting)
    rows = []
    for urgency in reversed(URGENCY):  # the most urgent first
        cells = [grid[(urgency, b)] for b in range(len(s.AGE_BUCKETS))]
        rows.append((urgency, *cells, sum(cells)))
    return Table(key="open", title=s.OPEN_TABLE, columns=columns, rows=tuple(rows), total=_sum_rows(rows, columns))


def unreadable_table(unreadable: Sequence[Unreadable]) -> Table:
    columns = (
        Column(key="case", title=s.COL_CASE, kind="code"),
        Column(key="day", title=s.COL_DAY, kind="code"),
        Column(key="reason", title=s.COL_REASON, kind="label"),
    )
    rows = tuple((u.case_id, date_of(u.day).isoformat(), u.reason) for u in sorted(unreadable, key=lambda u: (u.day, u.case_id)))
    return Table(key="not_read", title=s.NOT_READ_TABLE, columns=columns, rows=rows)


def compute_report(
    cases: Iterable[CaseRecord], unreadable: Iterable[Unreadable], *, period: Period, today: int, settings: Settings
) -> Report:
    """Every table of the report for `period`, from the case records this device read and the cases it could
    not read. Unreadable cases received before the period are left out (they cannot belong to it)."""
    mine = [c for c in cases if in_period(c, period)]
    food = [c for c in mine if c.kind == "food-distribution"]
    others = [c for c in mine if c.kind != "food-distribution"]
    rice, doubled = rice_table(food, period, settings)
    builders: tuple[Callable[[Sequence[CaseRecord]], Table], ...] = (
        aid_table,
        medical_table,
        schooling_table,
        self_reliance_table,
        relocation_table,
    )
    not_read = tuple(u for u in unreadable if u.day >= period.first_day)
    tables = (rice, *(build(others) for build in builders), open_table(others, today), unreadable_table(not_read))
    return Report(
        period=period,
        today=today,
        settings=settings,
        tables=tables,
        cases_read=len(mine),
        unreadable=not_read,
        unverified_decisions=sum(c.unverified_decisions for c in mine),
        doubled_rice=tuple(doubled),
    )
