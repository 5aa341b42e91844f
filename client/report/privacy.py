"""Which cells of a report table are hidden, so that a printed report left on a table names nobody.

Primary suppression: a count of cases or people from 1 to threshold-1 is shown as "<3" (0 says nothing
about anyone and is shown). A figure drawn from hidden counts (the dollars of those cases, the people in
them) is withheld with them.

Secondary suppression: a hidden cell must not be recoverable by subtraction. A shown total (in the total
row, or a count shown beside its parts, like cases = waiting + approved + declined) tells the reader what its
hidden parts add up to; where that pins a hidden cell down (it is the only one, or a "<3" that can only be 1),
one more part is withheld: the smallest non-zero one, or the total itself if there is none. This is the
usual rule for one- and two-way tables with margins, applied until nothing changes. It protects each table
on its own, not a reader combining two tables, which is why no table cuts cases by region, age or anything
finer than the kind of aid.

Written here rather than taken from a statistical-disclosure library: the maintained ones (sdcMicro, tau-
Argus) are R or Java tools for microdata and large hierarchies; this is a few dozen lines over our own tables.
Logistics columns (rice and shelters on a food route) describe goods, not people, and are never hidden.
"""

from __future__ import annotations

from typing import Final, Literal

from client.report.table import Table, Value

Hidden = Literal["small", "withheld"]
PROTECTED: Final = ("count", "amount")


def hide_small(table: Table, threshold: int) -> dict[tuple[int, int], Hidden]:
    """The hidden cells of `table`, by (row, column); the total row, if any, is row len(table.rows)."""
    grid: list[tuple[Value, ...]] = [*table.rows, *([table.total] if table.total is not None else [])]
    body = range(len(table.rows))
    total_row = len(table.rows) if table.total is not None else None
    cols = table.columns
    hidden: dict[tuple[int, int], Hidden] = {}
    for r, row in enumerate(grid):
        for i, c in enumerate(cols):
            value = row[i]
            if c.kind == "count" and isinstance(value, int) and 0 < value < threshold:
                hidden[(r, i)] = "small"

    def pinned(cells: list[tuple[int, int]]) -> bool:
        """True if the shown total of `cells` pins one of its hidden cells to a single value. A "<t" cell is
        known to lie in 1..t-1, a withheld one only to be at least 0."""
        secret = [cell for cell in cells if cell in hidden and isinstance(grid[cell[0]][cell[1]], int)]
        if len(secret) <= 1:
            return len(secret) == 1
        if any(hidden[cell] == "withheld" for cell in secret):
            return False  # a withheld part leaves the others between 1 and t-1
        total = sum(int(grid[r][i] or 0) for r, i in secret)
        smallest, largest = len(secret), len(secret) * (threshold - 1)
        return total in (smallest, largest)  # all ones, or all at the largest small value

    def hide_another(cells: list[tuple[int, int]], fallback: tuple[int, int]) -> bool:
        """Withhold the smallest shown non-zero figure among `cells` (else a shown zero, else `fallback`)."""
        shown = [(r, i) for r, i in cells if (r, i) not in hidden and isinstance(grid[r][i], int)]
        if not shown:
            hidden[fallback] = "withheld"
            return True
        nonzero = [cell for cell in shown if grid[cell[0]][cell[1]] != 0]
        r, i = min(nonzero or shown, key=lambda cell: (grid[cell[0]][cell[1]], cell))
        hidden[(r, i)] = "withheld"
        return True

    changed = True
    while changed:
        changed = False
        for i, c in enumerate(cols):  # a figure drawn from hidden counts goes with them
            if c.drawn_from is None:
                continue
            source = table.index(c.drawn_from)
            for r, row in enumerate(grid):
                if (r, source) in hidden and (r, i) not in hidden and row[i] is not None:
                    hidden[(r, i)] = "withheld"
                    changed = True
        if total_row is not None:  # a column whose shown total pins a hidden cell
            for i, c in enumerate(cols):
                if c.kind not in PROTECTED or (total_row, i) in hidden:
                    continue
                column = [(r, i) for r in body]
                if pinned(column):
                    changed = hide_another(column, (total_row, i)) or changed
        for p, parent in enumerate(cols):  # a row whose shown count pins a hidden part
            parts = [i for i, c in enumerate(cols) if c.part_of == parent.key]
            if not parts:
                continue
            for r in range(len(grid)):
                if (r, p) in hidden:
                    continue
                cells = [(r, i) for i in parts]
                if pinned(cells):
                    changed = hide_another(cells, (r, p)) or changed
    return hidden
