"""report: the programme's figures for a council meeting, computed on this device from the case files this
member can read (never identities). Tables on the terminal; with --out, CSV files, charts and a printable page."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from client.i18n import language, translations
from client.output import progress
from client.report import strings as s
from client.report.build import build_report, choose_period
from client.report.compute import Report, Settings
from client.report.records import Period, PeriodError
from client.report.render import Shown, format_text, show_report, write_csv
from client.report.strings import Catalog
from client.session import Session, UsageError

DAY = 86400


def register(sub: Any) -> None:
    catalog = Catalog(translations(language()))
    p = sub.add_parser("report", help=catalog(s.HELP_COMMAND), description=catalog(s.HELP_DESCRIPTION))
    p.add_argument("--from", dest="first", metavar="YYYY-MM", help=catalog(s.HELP_FROM))
    p.add_argument("--to", dest="last", metavar="YYYY-MM", help=catalog(s.HELP_TO))
    default = Settings()
    p.add_argument("--rice-target-kg", type=int, metavar="KG", default=default.rice_target_kg, help=catalog(s.HELP_TARGET))
    p.add_argument("--min-count", type=int, metavar="N", default=default.threshold, help=catalog(s.HELP_MIN_COUNT))
    p.add_argument("--out", type=Path, metavar="DIR", help=catalog(s.HELP_OUT))
    p.add_argument("--json", action="store_true", help=catalog(s.HELP_JSON))
    p.set_defaults(run=cmd_report)


def _period(args: argparse.Namespace, today: int, catalog: Catalog) -> Period:
    try:
        return choose_period(args.first, args.last, today)
    except PeriodError as exc:
        raise UsageError(catalog(exc.message, **exc.values)) from None


def _settings(args: argparse.Namespace, catalog: Catalog) -> Settings:
    least = Settings().threshold
    if args.rice_target_kg < 0:
        raise UsageError(catalog(s.BAD_TARGET))
    if args.min_count < least:
        raise UsageError(catalog(s.BAD_MIN_COUNT, threshold=least))
    return Settings(rice_target_kg=args.rice_target_kg, threshold=args.min_count)


def _write_outputs(report: Report, shown: list[Shown], catalog: Catalog, out: Path, account: str) -> list[Path]:
    """CSV per table, the charts, report.html: aggregates only, small counts hidden as on the screen."""
    from client.report.charts import draw_charts  # matplotlib loads only when charts are asked for
    from client.report.html import render_html

    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        written = [write_csv(t, out) for t in shown]
        charts = draw_charts(
            shown, target_kg=report.settings.rice_target_kg, threshold=report.settings.threshold, catalog=catalog
        )
        for chart in charts:
            written += chart.write(out)
        page = out / "report.html"
        page.write_text(render_html(report, shown, charts, catalog, account=account), encoding="utf-8")
    except OSError as exc:
        raise UsageError(catalog(s.CANNOT_WRITE, path=os.fspath(out), problem=exc.strerror or exc)) from None
    return [*written, page]


async def cmd_report(session: Session, args: argparse.Namespace) -> int:
    catalog = Catalog(translations(language()))  # the report in the command's language (--lang, the locale)

    today = int(time.time()) // DAY  # the server's days, UTC
    period, settings = _period(args, today, catalog), _settings(args, catalog)
    home = session.open_home()
    if home.role != "council":
        raise UsageError(catalog(s.ONLY_COUNCIL))
    api = session.api(home)
    state = await session.directory(home, api)

    def waiting(seconds: int) -> None:
        print(catalog(s.WAITING_RATE, seconds=seconds), file=sys.stderr)

    report = await build_report(
        api,
        home,
        state,
        period=period,
        settings=settings,
        today=today,
        on_wait=waiting,
        on_progress=lambda done, total: progress(done, total, catalog(s.READING)),
    )
    shown = show_report(report, catalog)
    if args.json:  # for scripts: in English whatever the language
        english = show_report(report, Catalog())
        print(json.dumps({t.key: t.csv_rows() for t in english}, ensure_ascii=False, indent=2))

    else:
        print(format_text(report, shown, catalog, account=home.account))
    if args.out is not None:
        for path in _write_outputs(report, shown, catalog, args.out, home.account):
            print(catalog(s.WROTE, path=os.fspath(path)), file=sys.stderr if args.json else sys.stdout)
    return 0
