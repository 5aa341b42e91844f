"""What a report writes: text tables, CSV files that read back as written, PNG and SVG charts, and one
printable HTML page, all from the tables as shown (a hidden figure appears in none of them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from client.report.charts import draw_charts
from client.report.compute import Report, Settings, compute_report
from client.report.html import render_html
from client.report.render import Shown, format_text, read_csv, show_report, write_csv
from client.report.strings import Catalog
from tests.client.test_report_compute import PERIOD, PROGRAMME, TODAY, UNREADABLE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report() -> Report:
    return compute_report(PROGRAMME, UNREADABLE, period=PERIOD, today=TODAY, settings=Settings())


@pytest.fixture(scope="module")
def shown(report: Report) -> list[Shown]:
    return show_report(report, Catalog())


def test_terminal_text(report: Report, shown: list[Shown]) -> None:
    text = format_text(report, shown, Catalog(), account="kim")
    assert "Rice distributed per route and month (kg)" in text
    assert "2027-02  2,500  2,200    800     5,500      5,000          110                11" in text
    assert "Case files read: 34. Case files that could not be read: 1." in text
    assert "U1" in text and "it does not open with your key" in text
    assert "Route RN-01 has 2 reports for 2027-03" in text
    # 2 emergency operations, both approved: hidden, and so is the partner that would give them away
    medical = next(t for t in shown if t.key == "medical")
    assert [c.text for c in medical.rows[0]] == ["emergency operation", "<3", "<3", "withheld", "withheld"]


def test_csv_round_trips(shown: list[Shown], tmp_path: Path) -> None:
    for table in shown:
        path = write_csv(table, tmp_path)
        assert path.name == f"{table.key}.csv"
        assert read_csv(path) == table.csv_rows()
    rice = read_csv(tmp_path / "rice.csv")
    assert rice[0] == ["month", "RN-01", "RR-02", "RR-03", "total kg", "target kg", "percent met", "shelters reached"]
    assert rice[2] == ["2027-02", "2500", "2200", "800", "5500", "5000", "110", "11"]  # plain numbers for spreadsheets
    assert rice[-1][0] == "total"
    aid = {row[0]: row for row in read_csv(tmp_path / "aid.csv")}
    assert aid["financial support"][1] == "<3"
    assert all(cell != "500" for cell in aid["financial support"])  # the one case's amount is withheld


def test_csv_cells_never_run_as_formulas(tmp_path: Path) -> None:
    from client.report.render import Cell

    table = Shown(
        key="x",
        title="x",
        keys=("case",),
        headers=("case",),
        numeric=(False,),
        rows=((Cell("-AbC"),), (Cell("=1+1"),)),
        has_total=False,
    )
    assert read_csv(write_csv(table, tmp_path)) == [["case"], ["'-AbC"], ["'=1+1"]]


def test_charts_and_html(report: Report, shown: list[Shown], tmp_path: Path) -> None:
    charts = draw_charts(shown, target_kg=5000, threshold=3, catalog=Catalog())
    assert [c.key for c in charts] == ["rice", "aid"]
    for chart in charts:
        png, svg = chart.write(tmp_path)
        assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 5000
        assert "<svg" in svg.read_text() and svg.stat().st_size > 5000
    page = render_html(report, shown, charts, Catalog(), account="kim <admin>")
    assert page.startswith("<!DOCTYPE html>") and len(page) > 20000
    assert page.count("<svg") == 2 and page.count("<table>") == len(shown)
    assert "kim &lt;admin&gt;" in page and "kim <admin>" not in page  # everything is escaped
    for loads in ("<script", "<link", "<img", " src=", 'href="http', "@import"):  # nothing comes from elsewhere
        assert loads not in page, loads
    assert re.findall(r"url\((?!#)", page) == []  # the charts' clip paths point inside the page
    assert '<td class="figure">15,050</td>' in page
    assert "U1" in page


def test_json_is_the_shown_tables(shown: list[Shown]) -> None:
    data = json.loads(json.dumps({t.key: t.csv_rows() for t in shown}))
    assert set(data) == {"rice", "aid", "medical", "schooling", "self_reliance", "relocation", "open", "not_read"}
