"""The shape every report table has: labelled rows of exact figures, before small counts are hidden.

A column says what its figures are, so that suppression (client/report/privacy.py) knows what to hide:
a count of cases or people, an amount drawn from some count of cases, or programme logistics (rice in kg)
that describe no person. Titles and labels are catalog messages (client/report/strings.py). The first
column labels the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Value = int | str | None  # str: a row label; None: nothing recorded or not applicable
# label: a catalog message; code: shown as it is (a month, a route, a case id); count: of cases or people;
# amount: dollars or items summed over cases; logistics: figures about goods, not people (rice, shelters)
ColumnKind = Literal["label", "code", "count", "amount", "logistics"]
TOTAL_ROW: Final = "total"


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    key: str
    title: str  # a catalog message
    kind: ColumnKind = "count"
    part_of: str | None = None  # a count that adds up with its siblings to this column of the same row
    drawn_from: str | None = None  # the count column that says how many cases this figure sums


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    key: str  # also the CSV file's name
    title: str  # a catalog message
    columns: tuple[Column, ...]
    rows: tuple[tuple[Value, ...], ...]
    total: tuple[Value, ...] | None = None  # sums of the body rows, shown last

    def __post_init__(self) -> None:
        width = len(self.columns)
        if any(len(r) != width for r in self.rows) or (self.total is not None and len(self.total) != width):
            raise ValueError(f"table {self.key}: every row needs {width} cells")
        keys = {c.key for c in self.columns}
        for c in self.columns:
            if (c.part_of is not None and c.part_of not in keys) or (c.drawn_from is not None and c.drawn_from not in keys):
                raise ValueError(f"table {self.key}: column {c.key} refers to a column the table does not have")

    def index(self, key: str) -> int:
        for i, c in enumerate(self.columns):
            if c.key == key:
                return i
        raise KeyError(f"table {self.key} has no column {key}")

    def value(self, row: str, key: str) -> Value:
        """The figure in the row labelled `row` ("total" for the total row) and the column `key`."""
        if row == TOTAL_ROW and self.total is not None:
            return self.total[self.index(key)]
        for r in self.rows:
            if r[0] == row:
                return r[self.index(key)]
        raise KeyError(f"table {self.key} has no row {row}")
