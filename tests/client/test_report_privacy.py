"""Small counts in a report: hidden as "<3", the figures drawn from them withheld, and never recoverable
from a shown total (checked against a brute-force reader who knows the rules)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from client.report.compute import Settings
from client.report.privacy import hide_small, possible_values
from client.report.render import show
from client.report.strings import Catalog
from client.report.table import Column, Table

T = 3
COUNTS = (
    Column(key="label", title="label", kind="label"),
    Column(key="cases", title="cases"),
)


def one_column(values: list[int]) -> Table:
    return Table(
        key="t", title="t", columns=COUNTS, rows=tuple((f"r{i}", v) for i, v in enumerate(values)), total=("total", sum(values))
    )


def test_counts_under_three_show_as_small_and_zero_stays() -> None:
    table = Table(key="t", title="t", columns=COUNTS, rows=(("a", 0), ("b", 1), ("c", 2), ("d", 3), ("e", 40)))
    shown = show(table, Catalog(), T)
    assert [row[1].text for row in shown.rows] == ["0", "<3", "<3", "3", "40"]
    assert [row[1].value for row in shown.rows] == [0, None, None, 3, 40]  # a hidden figure is not kept anywhere
    assert Settings().threshold == 3


def test_a_lone_small_cell_gets_a_partner() -> None:
    # 10 + 1 + 5 = 16 shown: without a second hidden cell the 1 is 16 - 10 - 5
    hidden = hide_small(one_column([10, 1, 5]), T)
    assert hidden == {(1, 1): "small", (2, 1): "withheld"}  # the smallest other non-zero cell


def test_two_ones_are_not_enough() -> None:
    # 10 + 1 + 1 = 12: the two "<3" cells add up to 2, so both are 1; a third cell must go
    assert hide_small(one_column([10, 1, 1]), T) == {(1, 1): "small", (2, 1): "small", (0, 1): "withheld"}
    # 10 + 1 + 2 = 13: 3 can be 1 + 2 or 2 + 1, nothing more to hide
    assert hide_small(one_column([10, 1, 2]), T) == {(1, 1): "small", (2, 1): "small"}


def test_a_small_total_hides_itself_and_needs_no_partner() -> None:
    assert hide_small(one_column([0, 2, 0]), T) == {(1, 1): "small", (3, 1): "small"}


def test_when_no_partner_is_left_the_total_goes() -> None:
    # 3 + 1 = 4: withholding the 3 still pins the 1 (the 3 cannot be 2), so the total is withheld
    assert hide_small(one_column([3, 1]), T) == {(1, 1): "small", (0, 1): "withheld", (2, 1): "withheld"}


def test_parts_of_a_shown_count_and_amounts_drawn_from_them() -> None:
    columns = (
        Column(key="kind", title="kind", kind="label"),
        Column(key="cases", title="cases"),
        Column(key="open", title="open", part_of="cases"),
        Column(key="approved", title="approved", part_of="cases"),
        Column(key="usd", title="usd", kind="amount", drawn_from="cases"),
        Column(key="approved_usd", title="approved usd", kind="amount", drawn_from="approved"),
        Column(key="kg", title="kg", kind="logistics"),
    )
    rows = (("a", 10, 9, 1, 1000, 40, 1), ("b", 20, 10, 10, 3000, 900, 2), ("c", 30, 20, 10, 5000, 1000, 0))
    table = Table(key="t", title="t", columns=columns, rows=rows, total=("total", 60, 39, 21, 9000, 1940, 3))
    shown = show(table, Catalog(), T)
    text = [[cell.text for cell in row] for row in shown.rows]
    assert text[0][3] == "<3"  # one approved case
    assert text[0][2] == "withheld"  # else 10 - 9 gives it away
    assert text[0][5] == "withheld"  # the dollars of that one case
    assert text[0][1] == "10" and text[0][4] == "1,000"  # the row's count and its amount are safe
    # the column total 21 would give the 1 away: the smallest other approved count (10, row b) goes too,
    # and with it its dollars; 1940 - 1000 = 940 is then what rows a and b share, not one case's amount
    assert text[1][3] == "withheld" and text[1][5] == "withheld"
    assert [row[6] for row in text] == ["1", "2", "0", "3"]  # logistics are never hidden


@st.composite
def tables(draw: st.DrawFn) -> Table:
    columns = (
        Column(key="kind", title="kind", kind="label"),
        Column(key="cases", title="cases"),
        Column(key="a", title="a", part_of="cases"),
        Column(key="b", title="b", part_of="cases"),
        Column(key="usd", title="usd", kind="amount", drawn_from="cases"),
    )
    rows = []
    for i in range(draw(st.integers(1, 4))):
        a, b, usd = draw(st.integers(0, 5)), draw(st.integers(0, 5)), draw(st.integers(0, 9))
        rows.append((f"r{i}", a + b, a, b, usd))
    total = ("total", *(sum(r[i] for r in rows) for i in range(1, 5)))
    return Table(key="t", title="t", columns=columns, rows=tuple(rows), total=total)


def brute_force_reader(values: list[int], kinds: list[str], total: int) -> list[set[int]]:
    """Every value each hidden cell can take, for a reader who knows the total and the markers: "<3" is
    1 or 2, a withheld count 0 or at least 3, a withheld amount anything from 0."""
    domains = [
        range(1, T) if kind == "small" else [0, *range(T, total + 1)] if kind == "withheld count" else range(total + 1)
        for kind in kinds
    ]
    seen: list[set[int]] = [set() for _ in values]
    for combo in itertools.product(*domains):
        if sum(combo) == total:
            for i, v in enumerate(combo):
                seen[i].add(v)
    return seen


@settings(max_examples=150, deadline=None)
@given(tables())
def test_no_shown_total_pins_a_hidden_cell(table: Table) -> None:
    hidden = hide_small(table, T)
    grid = [*table.rows, table.total]
    assert table.total is not None
    lines = [[(r, i) for r in range(len(table.rows))] for i in range(1, 5) if (len(table.rows), i) not in hidden]
    lines += [[(r, 2), (r, 3)] for r in range(len(grid)) if (r, 1) not in hidden]
    for line in lines:
        secret = [cell for cell in line if cell in hidden]
        if not secret:
            continue
        values = [int(grid[r][i]) for r, i in secret]  # type: ignore[arg-type]
        kinds = ["small" if hidden[(r, i)] == "small" else "withheld count" if i < 4 else "withheld amount" for r, i in secret]
        for cell, options in zip(secret, brute_force_reader(values, kinds, sum(values)), strict=True):
            assert len(options) >= 2, f"{cell} of {table.rows} is pinned: hidden {hidden}"


def test_possible_values_counts_the_reader_s_options() -> None:
    assert possible_values([[(1, 2)], [(1, 2)]], 2) == [1, 1]  # 1 + 1
    assert possible_values([[(1, 2)], [(1, 2)]], 3) == [2, 2]  # 1 + 2 or 2 + 1
    assert possible_values([[(1, 2)], [(0, 0), (3, 4)]], 4) == [1, 1]  # 1 + 3 only
    assert possible_values([[(1, 2)], [(0, 0), (3, 5)]], 5) == [2, 2]  # 1 + 4 or 2 + 3
