"""Which cells of a report table are hidden, so that a printed report left on a table names nobody.

Primary suppression: a count of cases or people from 1 to threshold-1 is shown as "<3" (0 says nothing
about anyone and is shown). A figure drawn from hidden counts (the dollars of those cases, the people in
them) is withheld with them.

Secondary suppression: a hidden cell must not be recoverable by subtraction. A shown total (in the total
row, or a count shown beside its parts, like cases = waiting + approved + declined) tells the reader what its
hidden parts add up to. The reader also knows that a "<3" count is 1 or 2 and that a withheld count is 0 or
at least 3. Where that leaves a hidden cell only one possible value, one more part is withheld: the smallest
non-zero one, or the total itself if there is none; repeated until no line pins a cell. This is the usual
audit of one- and two-way tables line by line; it protects each table on its own, not a reader solving
several lines or tables together, which is why no table cuts cases by region, age or anything finer than
the kind of aid.

Written here rather than taken from a statistical-disclosure library: the maintained ones (sdcMicro, tau-
Argus) are R or Java tools for microdata and large hierarchies; this is a few dozen lines over our own tables.
Logistics columns (rice and shelters on a food route) describe goods, not people, and are never hidden.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from client.report.table import Table, Value

Hidden = Literal["small", "withheld"]
PROTECTED: Final = ("count", "amount")
Span = tuple[int, int]  # a closed interval of whole numbers


def _add(a: list[Span], b: list[Span]) -> list[Span]:
    """Every sum of a value from `a` and one from `b`, as merged intervals."""
    sums = sorted((x0 + y0, x1 + y1) for x0, x1 in a for y0, y1 in b)
    merged: list[Span] = []
    for low, high in sums:
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def possible_values(domains: list[list[Span]], total: int) -> list[int]:
    """For each hidden cell, how many values it can take (0, 1 or 2 meaning "two or more") when the cells
    lie in their `domains` and add up to `total`."""
    counts = []
    for i, domain in enumerate(domains):
        others: list[Span] = [(0, 0)]
        for j, other in enumerate(domains):
            if j != i:
                others = _add(others, other)
        seen = 0
        for low, high in domain:  # v is possible when total - v is a sum of the others
            for o_low, o_high in others:
                start, end = max(low, total - o_high), min(high, total - o_low)
                seen += max(0, end - start + 1)
        counts.append(min(seen, 2))
    return counts


def hide_small(table: Table, threshold: int) -> dict[tuple[int, int], Hidden]:
    """The hidden cells of `table`, by (row, column); the total row, if any, is row len(table.rows)."""
    grid: list[tuple[Value, ...]] = [*table.rows, *([table.total] if table.total is not None else [])]
    total_row = len(table.rows) if table.total is not None else None
    cols = table.columns
    hidden: dict[tuple[int, int], Hidden] = {}
    for r, row in enumerate(grid):
        for i, c in enumerate(cols):
            value = row[i]
            if c.kind == "count" and isinstance(value, int) and 0 < value < threshold:
                hidden[(r, i)] = "small"

    def figure(cell: tuple[int, int]) -> int | None:
        value = grid[cell[0]][cell[1]]
        return value if isinstance(value, int) else None

    def pinned(cells: list[tuple[int, int]]) -> bool:
        """True if the shown total of `cells` leaves one of its hidden cells a single possible value."""
        secret = [cell for cell in cells if cell in hidden and figure(cell) is not None]
        if not secret:
            return False
        total = sum(figure(cell) or 0 for cell in secret)
        domains = []
        for cell in secret:
            if hidden[cell] == "small":
                domains.append([(1, threshold - 1)])
            elif cols[cell[1]].kind == "count":
                domains.append([(0, 0), (threshold, max(threshold, total))])
            else:
                domains.append([(0, total)])
        return 1 in possible_values(domains, total)

    def hide_another(cells: Iterable[tuple[int, int]], fallback: tuple[int, int]) -> None:
        """Withhold the smallest shown non-zero figure among `cells` (else a shown zero, else `fallback`)."""
        shown = [cell for cell in cells if cell not in hidden and figure(cell) is not None]
        nonzero = [cell for cell in shown if figure(cell) != 0]
        candidates = nonzero or shown
        hidden[min(candidates, key=lambda cell: (figure(cell), cell)) if candidates else fallback] = "withheld"

    changed = True
    while changed:
        before = len(hidden)
        for i, c in enumerate(cols):  # a figure drawn from hidden counts goes with them
            if c.drawn_from is not None:
                source = table.index(c.drawn_from)
                for r, row in enumerate(grid):
                    if (r, source) in hidden and row[i] is not None:
                        hidden.setdefault((r, i), "withheld")
        if total_row is not None:  # a column whose shown total pins a hidden cell
            for i, c in enumerate(cols):
                column = [(r, i) for r in range(total_row)]
                if c.kind in PROTECTED and (total_row, i) not in hidden and pinned(column):
                    hide_another(column, (total_row, i))
        for p, parent in enumerate(cols):  # a row whose shown count pins a hidden part
            parts = [i for i, c in enumerate(cols) if c.part_of == parent.key]
            for r in range(len(grid)):
                cells = [(r, i) for i in parts]
                if parts and (r, p) not in hidden and pinned(cells):
                    hide_another(cells, (r, p))
        changed = len(hidden) > before
    return hidden
