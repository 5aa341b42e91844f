"""The programme report in the app (`tessera report`, issue 23), in-process against a real server through the
hostile suite's relay: made on the device by the CLI's own code, the same figures hidden the same way as the
CLI's, its files (CSV, PNG, SVG, the printable page) served from memory, sandboxed and no-store, in the app's
language, and gone once the app is locked."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from client.app.security import SANDBOX_CSP
from client.report.charts import font_families
from tests.support.app import App
from tests.support.harness import Org

AppFor = Callable[..., Awaitable[App]]


async def get(app: App, path: str) -> tuple[int, dict[str, str], bytes]:
    response = await app.client.get(path, headers=app.cookie())
    return response.status, dict(response.headers), await response.read()


def files_of(page: str) -> list[str]:
    return sorted(set(re.findall(r'href="(/council/report/[^/"]+/[a-z_]+\.(?:csv|png|svg|html))"', page)))


async def test_the_report_shows_and_offers_what_the_cli_computes(org: Org, app_for: AppFor) -> None:
    kim = await app_for("kim")
    home = org.home_path("kim")
    before = sorted(p.name for p in home.rglob("*"))
    page = await kim.page("/council/report")
    assert "data-report=" not in page and 'href="/council/report"' in page
    status, headers, body = await get(kim, "/council/report?make=1&from=&to=&target=5000&min=3")
    page = body.decode()
    assert status == 200 and headers["Cache-Control"] == "no-store", page
    assert 'data-table="aid"' in page and 'data-table="rice"' in page
    assert "Case files read: 2." in page
    cli = json.loads(await asyncio.to_thread(org.ok, "kim", "report", "--json"))
    links = files_of(page)
    csvs = {link.rsplit("/", 1)[1].removesuffix(".csv"): link for link in links if link.endswith(".csv")}
    assert set(csvs) == set(cli) - {"not_read"}  # nothing unreadable: no not_read table to download
    for key, link in csvs.items():
        status, headers, body = await get(kim, link)
        assert status == 200 and headers["Content-Type"].startswith("text/csv") and "attachment" in headers["Content-Disposition"]
        assert headers["Content-Security-Policy"] == SANDBOX_CSP and headers["Cache-Control"] == "no-store"
        assert list(csv.reader(io.StringIO(body.decode(), newline=""))) == cli[key], key  # the CLI's cells, hidden alike
    aid = csvs["aid"]
    assert "<3" in (await get(kim, aid))[2].decode()  # one medical case: a count under 3 is hidden
    for key in ("rice", "aid"):
        png = next(link for link in links if link.endswith(f"/{key}.png"))
        status, headers, body = await get(kim, png)
        assert status == 200 and headers["Content-Type"] == "image/png" and body.startswith(b"\x89PNG")
        svg = next(link for link in links if link.endswith(f"/{key}.svg"))
        status, headers, body = await get(kim, svg)
        assert status == 200 and "attachment" in headers["Content-Disposition"] and b"<svg" in body
        assert headers["Content-Security-Policy"] == SANDBOX_CSP
    printable = next(link for link in links if link.endswith("/report.html"))
    status, headers, body = await get(kim, printable)
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"Programme report" in body
    assert headers["Content-Security-Policy"] == SANDBOX_CSP and "inline" in headers["Content-Disposition"]
    assert "attachment" in (await get(kim, printable + "?download=1"))[1]["Content-Disposition"]
    assert sorted(p.name for p in home.rglob("*")) == before  # nothing written into the home
    assert (await kim.post("/lock")).status == 200
    await kim.unlock(open_first=False)
    assert (await get(kim, printable))[0] == 410  # the report went with the lock


async def test_the_report_speaks_the_apps_language_and_says_what_is_wrong(org: Org, app_for: AppFor) -> None:
    kim = await app_for("kim", "ko")
    status, _, body = await get(kim, "/council/report?make=1")
    page = body.decode()
    assert status == 200 and "프로그램 보고서" in page and "Programme report" not in page
    links = files_of(page)
    printable = next(link for link in links if link.endswith("/report.html"))
    assert "프로그램 보고서" in (await get(kim, printable))[2].decode()
    aid = next(link for link in links if link.endswith("/aid.csv"))
    assert "지원 종류" in (await get(kim, aid))[2].decode()
    rice = next(link for link in links if link.endswith("/rice.csv"))
    assert (await get(kim, rice))[2].decode().splitlines()[-1].startswith("합계,")  # the month column's total too
    status, _, body = await get(kim, "/council/report?make=1&from=2027-13")
    assert status == 400 and "2027-13" in body.decode()
    status, _, body = await get(kim, "/council/report?make=1&from=2027-05&to=2027-01")
    assert status == 400 and "data-report-error" in body.decode()
    status, _, body = await get(kim, "/council/report?make=1&min=2")
    assert status == 400 and "data-report-error" in body.decode()
    status, _, body = await get(kim, "/council/report?make=1&target=lots")
    assert status == 400 and "data-report-error" in body.decode()
    hana = await app_for("hana")
    response = await hana.client.get("/council/report", headers=hana.cookie(), allow_redirects=False)
    assert response.status == 303  # not a helper's page


def test_charts_in_korean_chinese_and_japanese_use_a_cjk_font() -> None:
    if not any(Path("/usr/share/fonts").rglob("NotoSansCJK*")):
        pytest.skip("no Noto Sans CJK on this system: apt-get install -y fonts-noto-cjk")
    assert font_families("ko") == ["DejaVu Sans", "Noto Sans CJK KR"]
    assert font_families("zh_Hans") == ["DejaVu Sans", "Noto Sans CJK SC"]
    assert font_families("en") == ["DejaVu Sans"]
