"""The printable report: one self-contained HTML page (tables, inline SVG charts, print styles), made with a
Jinja2 template that autoescapes everything. The page loads nothing from anywhere: it prints the same on a
laptop without a network. Its words come from client/report/strings.py; the template holds only markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from client.report import strings as s
from client.report.charts import Chart
from client.report.compute import Report
from client.report.render import Shown, summary
from client.report.strings import Catalog


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("client.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    report: Report, shown: Sequence[Shown], charts: Sequence[Chart], catalog: Catalog, *, account: str, language: str = "en"
) -> str:
    tables = [t for t in shown if t.key != "not_read"]
    not_read = next(t for t in shown if t.key == "not_read")
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            language=language,
            title=catalog(s.TITLE),
            period=f"{report.period.first} – {report.period.last}",
            summary=summary(report, catalog, account=account),
            tables=tables,
            charts_title=catalog(s.CHARTS),
            # the SVG is matplotlib's output over our own labels (catalog words, route and month codes), escaped by it
            charts=[(c.title, Markup(c.inline_svg())) for c in charts],  # noqa: S704
            not_read=not_read,
            not_read_title=catalog(s.NOT_READ_TITLE),
            not_read_text=catalog(s.NOT_READ_HINT) if not_read.rows else catalog(s.NOT_READ_NONE),
        )
    )
