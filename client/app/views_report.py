"""A council member's programme report (`tessera report`, issue 23) in the app: the period chosen on a form, the
report made on this device by the CLI's own code (client/report/build.py: the case files opened and checked
here, identities never opened), its tables shown with small counts hidden exactly as the CLI hides them (the same
`Shown` tables), and its files (a CSV per table, the charts as PNG and SVG, the printable page) offered for
download, all in the app's language.

Nothing decrypted is written to disk: the files are made in memory and kept there, for the latest report only,
until the app is locked; every answer is no-store (security.py) and the files are sandboxed."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Any, Final

from aiohttp import web

from client.app.i18n import translations
from client.app.pages import render, speaker, work
from client.app.security import SANDBOX_CSP
from client.app.state import VAULT
from client.report import strings as s
from client.report.build import build_report, choose_period
from client.report.charts import Chart, draw_charts
from client.report.compute import Report, Settings
from client.report.html import render_html
from client.report.records import PeriodError
from client.report.render import Shown, csv_text, show_report, summary
from client.report.strings import N_, Catalog

routes = web.RouteTableDef()
DAY: Final = 86_400
NAME: Final = re.compile(r"[a-z_]{1,40}\.(csv|png|svg|html)")
BAD_TARGET: Final = N_("Give the council's monthly rice target in kilograms: a whole number, 0 or more.")
BAD_MIN_COUNT: Final = N_("Counts under {threshold} are always hidden: give a whole number, {threshold} or more.")
GONE: Final = "This report is no longer in the app's memory (a newer one was made, or the app was locked): make it again.\n"


def _whole(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 9 else None


def _form(query: Any) -> dict[str, str]:
    defaults = Settings()
    return {
        "from": str(query.get("from", ""))[:7],
        "to": str(query.get("to", ""))[:7],
        "target": str(query.get("target", defaults.rice_target_kg))[:12],
        "min": str(query.get("min", defaults.threshold))[:12],
    }


@routes.get("/council/report")
async def report_page(request: web.Request) -> web.StreamResponse:
    """The form; with `make` in the query, the report for the period asked (a GET: it changes nothing)."""
    w = work(request, "council")
    _ = speaker(request)
    form = _form(request.query)
    if "make" not in request.query:
        return render(request, "council_report.html", form=form, error=None, made=None)
    catalog = Catalog(translations(_.language))
    today = int(time.time()) // DAY  # the server's days, UTC
    target, threshold, least = _whole(form["target"]), _whole(form["min"]), Settings().threshold
    try:
        period = choose_period(form["from"] or None, form["to"] or None, today)
    except PeriodError as exc:
        return render(request, "council_report.html", status=400, form=form, error=catalog(exc.message, **exc.values), made=None)
    if target is None:
        return render(request, "council_report.html", status=400, form=form, error=_(BAD_TARGET), made=None)
    if threshold is None or threshold < least:
        error = _(BAD_MIN_COUNT, threshold=least)
        return render(request, "council_report.html", status=400, form=form, error=error, made=None)
    settings = Settings(rice_target_kg=target, threshold=threshold)
    state = await w.directory()
    report = await build_report(w.api, w.home, state, period=period, settings=settings, today=today)
    shown = show_report(report, catalog)
    html_lang = _.language.replace("_", "-")
    # matplotlib draws for a second or two: off the event loop
    charts, page = await asyncio.to_thread(_draw, report, shown, catalog, w.home.account, _.language, html_lang)
    files: dict[str, tuple[str, bytes]] = {f"{t.key}.csv": ("text/csv", csv_text(t).encode()) for t in shown}
    for chart in charts:
        files[f"{chart.key}.png"] = ("image/png", chart.png)
        files[f"{chart.key}.svg"] = ("image/svg+xml", chart.svg.encode())
    files["report.html"] = ("text/html", page.encode())
    token = secrets.token_urlsafe(18)
    vault = request.app[VAULT]
    vault.reports.clear()  # only the latest report is kept
    vault.reports[token] = files
    made = {
        "token": token,
        "period": period,
        "summary": summary(report, catalog, account=w.home.account),
        "tables": [t for t in shown if t.key != "not_read"],
        "not_read": next(t for t in shown if t.key == "not_read"),
        "not_read_text": catalog(s.NOT_READ_HINT) if report.unreadable else catalog(s.NOT_READ_NONE),
        "charts": [(c.key, c.title) for c in charts],
    }
    return render(request, "council_report.html", form=form, error=None, made=made)


def _draw(
    report: Report, shown: list[Shown], catalog: Catalog, account: str, language: str, html_lang: str
) -> tuple[list[Chart], str]:
    settings = report.settings
    charts = draw_charts(
        shown, target_kg=settings.rice_target_kg, threshold=settings.threshold, catalog=catalog, language=language
    )
    return charts, render_html(report, shown, charts, catalog, account=account, language=html_lang)


@routes.get("/council/report/{token}/{name}")
async def report_file(request: web.Request) -> web.StreamResponse:
    """One file of the latest report, from memory: charts (PNG) and the printable page shown, the rest (CSV, SVG,
    and the page with ?download) as downloads; sandboxed, no-store."""
    work(request, "council")
    name = request.match_info["name"]
    files = request.app[VAULT].reports.get(request.match_info["token"])
    if files is None or not NAME.fullmatch(name) or name not in files:
        raise web.HTTPGone(text=GONE)
    media_type, data = files[name]
    inline = (name.endswith(".png") or name == "report.html") and "download" not in request.query
    return web.Response(
        body=data,
        content_type=media_type,
        charset=None if media_type == "image/png" else "utf-8",
        headers={
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
            "Content-Security-Policy": SANDBOX_CSP,
        },
    )
