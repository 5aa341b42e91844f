"""A computed report as people read it: cells with small counts hidden and words translated, printed as
text tables for the terminal or written as one CSV file per table.

Every output (terminal, CSV, charts, HTML) is drawn from the same `Shown` tables, so a figure hidden in
one is hidden in all. CSV cells that a spreadsheet would run as a formula (starting with = + - @) get a
leading apostrophe (OWASP's advice on CSV injection); no cell of a report table starts so today except a
case id, which may start with "-".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from client.report import strings as s
from client.report.compute import Report
from client.report.privacy import hide_small
from client.report.records import date_of
from client.report.strings import Catalog
from client.report.table import Table

FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Cell:
    text: str  # as shown on the screen and on paper
    value: int | None = None  # the figure, when it is shown

    @property
    def csv(self) -> str:
        text = str(self.value) if self.value is not None else self.text
        return "'" + text if text.startswith(FORMULA_START) else text


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    key: str
    title: str
    keys: tuple[str, ...]  # the columns' keys, as in the computed table
    headers: tuple[str, ...]
    numeric: tuple[bool, ...]  # figures, aligned right
    rows: tuple[tuple[Cell, ...], ...]  # the body, then the total row if any
    has_total: bool

    def body(self) -> tuple[tuple[Cell, ...], ...]:
        return self.rows[:-1] if self.has_total else self.rows

    def cells(self, key: str) -> list[Cell]:
        """The body's cells of the column `key` (without the total)."""
        i = self.keys.index(key)
        return [row[i] for row in self.body()]

    def csv_rows(self) -> list[list[str]]:
        return [list(self.headers), *([cell.csv for cell in row] for row in self.rows)]


def show(table: Table, catalog: Catalog, threshold: int) -> Shown:
    """The table as it may be shown: small counts hidden (client/report/privacy.py), words translated."""
    hidden = hide_small(table, threshold)
    grid = [*table.rows, *([table.total] if table.total is not None else [])]
    rows = []
    for r, row in enumerate(grid):
        cells = []
        for i, (column, value) in enumerate(zip(table.columns, row, strict=True)):
            if column.kind == "label":
                cells.append(Cell(catalog(s.LABELS.get(str(value), str(value))) if value is not None else ""))
            elif column.kind == "code":
                total_label = table.total is not None and r == len(table.rows) and value == s.TOTAL  # a month column's "total"
                cells.append(Cell(catalog(s.TOTAL) if total_label else "" if value is None else str(value)))
            elif (r, i) in hidden:
                marker = catalog(s.SMALL, threshold=threshold) if hidden[(r, i)] == "small" else catalog(s.WITHHELD)
                cells.append(Cell(marker))
            elif isinstance(value, int):
                cells.append(Cell(f"{value:,}", value))
            else:
                cells.append(Cell(catalog(s.NOT_APPLICABLE)))
        rows.append(tuple(cells))
    return Shown(
        key=table.key,
        title=catalog(table.title),
        keys=tuple(c.key for c in table.columns),
        headers=tuple(catalog(c.title) for c in table.columns),
        numeric=tuple(c.kind not in ("label", "code") for c in table.columns),
        rows=tuple(rows),
        has_total=table.total is not None,
    )


def show_report(report: Report, catalog: Catalog) -> list[Shown]:
    return [show(t, catalog, report.settings.threshold) for t in report.tables]


def summary(report: Report, catalog: Catalog, *, account: str) -> list[str]:
    """The lines above the tables: period, who prepared it, what was read, and how to read the figures."""
    t = report.settings.threshold
    lines = [
        catalog(s.PERIOD, first=report.period.first, last=report.period.last),
        catalog(s.PREPARED, day=date_of(report.today).isoformat(), account=account),
        catalog(s.CASES_READ, count=f"{report.cases_read:,}", unreadable=f"{len(report.unreadable):,}"),
        catalog(s.RICE_TARGET, kg=f"{report.settings.rice_target_kg:,}"),
        catalog(s.SUPPRESSION, limit=t - 1, threshold=t),
        catalog(s.NO_AMOUNT),
    ]
    if report.unverified_decisions:
        lines.append(catalog(s.UNVERIFIED, count=report.unverified_decisions))
    lines += [catalog(s.DOUBLE_RICE, route=r, month=m, reports=n) for r, m, n in report.doubled_rice]
    return lines


def format_table(shown: Shown) -> str:
    cells = [list(shown.headers), *([c.text for c in row] for row in shown.rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(shown.headers))]

    def line(row: Sequence[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, shown.numeric, strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [shown.title, line(cells[0]), rule]
    body = cells[1:]
    if shown.has_total:
        out += [line(r) for r in body[:-1]] + [rule, line(body[-1])]
    else:
        out += [line(r) for r in body]
    return "\n".join(out)


def format_text(report: Report, shown: Sequence[Shown], catalog: Catalog, *, account: str) -> str:
    """The whole report for a terminal."""
    parts = [catalog(s.TITLE), *summary(report, catalog, account=account), ""]
    for table in shown:
        if table.key == "not_read" and not table.rows:
            parts += [catalog(s.NOT_READ_TITLE), catalog(s.NOT_READ_NONE), ""]
            continue
        parts += [format_table(table), ""]
    return "\n".join(parts)


def csv_text(shown: Shown) -> str:
    """The table as CSV: a header row, then the rows as shown (figures without thousands separators)."""
    out = io.StringIO(newline="")
    csv.writer(out).writerows(shown.csv_rows())
    return out.getvalue()


def write_csv(shown: Shown, directory: Path) -> Path:
    """`directory`/KEY.csv: `csv_text` in UTF-8."""
    path = directory / f"{shown.key}.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(csv_text(shown))
    return path


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as source:
        return list(csv.reader(source))
