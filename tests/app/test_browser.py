"""Each role's main flow in a real browser (Debian's chromium through Playwright) against a real server, in
Korean and in English, taking screenshots of the main screens.

The screenshots go to docs/screenshots/LANG/ when TESSERA_SCREENSHOTS=docs (`make screenshots`), else to the
test's temporary folder: every run takes them, so a screen that breaks fails here, but a plain `make test`
leaves the working tree as it was."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from client.app.state import AppConfig
from client.samples import photo_with_gps
from tests.app.live import live_app
from tests.support.app import PASSPHRASE
from tests.support.harness import CONFIRM, Org

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LANGUAGES = ["ko", "en"]
TEXT = {  # what the pages must say, per language (from the catalogs)
    "ko": {"required": "필수 항목", "outbox_empty": "보낼편지함이 비어 있습니다.", "identity": "신원", "done": "완료",
           "new_keys": "새 키로 교체했습니다", "aid": "지원 종류별 사건 수와 금액",
           "rewrapped": "키 감싸기 0개를 추가했습니다"},
    "en": {"required": "required", "outbox_empty": "The outbox is empty.", "identity": "Identity", "done": "Done",
           "new_keys": "New keys in place", "aid": "Cases and amounts per kind of aid",
           "rewrapped": "added 0 key wrap(s)"},
}


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return DOCS if os.environ.get("TESSERA_SCREENSHOTS") == "docs" else tmp_path / "screenshots"


def shot(page: Any, folder: Path, language: str, name: str) -> None:
    path = folder / language / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000


@contextmanager
def person(browser: Any, org: Org, who: str, language: str, tmp_path: Path) -> Iterator[Any]:
    """`who`'s app on a real port, opened in a fresh browser context from its one-time link and unlocked."""
    uploads = tmp_path / f"uploads-{who}"
    uploads.mkdir(exist_ok=True)
    config = AppConfig(home=org.home_path(who), server=org.stack.url, language=language, uploads=uploads)
    with live_app(config) as gate:
        context = browser.new_context(viewport={"width": 1100, "height": 800}, locale={"ko": "ko-KR"}.get(language, "en-GB"))
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(gate.open_url)
        assert page.url.endswith("/unlock")
        page.fill("#passphrase", PASSPHRASE)
        with page.expect_navigation():
            page.click("form[action='/unlock'] button[type=submit]")
        assert page.url == gate.origin + "/", (page.url, page.content()[:3000])
        try:
            yield page
        finally:
            context.close()


def cli(org: Org, who: str, *argv: str) -> str:
    """The real CLI in a thread of its own: Playwright's synchronous API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(org.ok, who, *argv).result()


def submit(page: Any, form: str) -> None:
    """Send a form and wait for the next page."""
    with page.expect_navigation():
        page.click(f"{form} button[type=submit]")


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_helper_records_a_case_with_a_photo(browser: Any, org: Org, language: str, tmp_path: Path, shots: Path) -> None:
    words = TEXT[language]
    with person(browser, org, "hana", language, tmp_path) as page:
        shot(page, shots, language, "helper-start")
        page.click("a[href='/helper/new']")
        page.click("a[data-kind='food']")
        page.fill("#f-full_name", "김영희 (金英姬)")
        page.fill("#f-exact_location", "쉼터 D, 2층")
        page.fill("#f-region", "Jilin")
        page.fill("#f-people", "6")
        page.click("form[data-upload] button[type=submit]")  # sent by script: urgency and narrative missing
        page.wait_for_selector("[data-field-error='narrative']")
        assert words["required"] in page.inner_text("[data-field-error='urgency']")
        shot(page, shots, language, "helper-form-errors")
        page.select_option("#f-urgency", "high")
        page.fill("#f-narrative", "rice for six people for a month")
        photo = tmp_path / "rice.jpg"
        photo.write_bytes(photo_with_gps())
        page.set_input_files("input[name='files']", str(photo))
        page.click("form[data-upload] button[type=submit]")
        page.wait_for_selector("text=" + words["outbox_empty"])
        assert "GPS" in page.content()
        shot(page, shots, language, "helper-outbox")
        page.click("a[href='/helper/inbox']")
        page.wait_for_selector("section[data-case]")
        shot(page, shots, language, "helper-inbox")
    home = org.home("hana")
    assert list(home.outbox()) == [] and list(home.pending_uploads()) == []
    case = home.state["cases"][-1]
    assert "rice for six people" in cli(org, "kim", "cases", "show", case)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_council_triages_decides_and_reveals(browser: Any, org: Org, language: str, tmp_path: Path, shots: Path) -> None:
    words = TEXT[language]
    with person(browser, org, "kim", language, tmp_path) as kim:
        kim.click("a[href='/council/cases']")
        kim.wait_for_selector(f"tr[data-case='{org.case}']")
        shot(kim, shots, language, "council-cases")
        kim.select_option("#q-kind", "medical")
        submit(kim, "form.filters")
        assert kim.locator("tr[data-case]").count() == 1
        kim.click(f"a[href='/council/cases/{org.case}']")
        kim.fill("#tags", "hospital follow-up")
        submit(kim, f"form[action='/council/cases/{org.case}/tags']")
        assert kim.locator("span.tag", has_text="hospital").count() == 1
        shot(kim, shots, language, "council-case")
        kim.select_option("#action", "approve")
        kim.fill("#pnote", "800 USD to the hospital")
        submit(kim, f"form[action='/council/cases/{org.case}/propose']")
        assert "800 USD to the hospital" in kim.content()
        shot(kim, shots, language, "council-vote")
        with kim.expect_navigation():
            kim.click("button[name='choice'][value='yes']")
        kim.fill("#purpose", "arrange the hospital admission")
        submit(kim, f"form[action='/council/cases/{org.case}/reveal']")
        request = kim.url
        with person(browser, org, "lee", language, tmp_path) as lee:
            lee.click("a[href='/council/reveals']")
            lee.click("a[href$='/approve']")
            assert "kim" in lee.content() and "arrange the hospital admission" in lee.content()
            shot(lee, shots, language, "council-approve")
            submit(lee, "form[action$='/approve']")
        pending = cli(org, "park", "reveal", "pending", "--json")
        rid = re.search(r'"request_id": "([^"]+)"', pending)
        assert rid is not None and request.endswith("/council/reveals")
        cli(org, "park", "reveal", "approve", rid.group(1), "--yes")
        kim.reload()
        submit(kim, "form[action$='/open']")
        kim.wait_for_selector("[data-identity]")
        assert "박서준" in kim.inner_text("[data-identity]")
        assert words["identity"] in kim.content()
        shot(kim, shots, language, "council-identity")
        kim.click("a[href='/council/report']")
        submit(kim, "form[action='/council/report']")
        kim.wait_for_selector("[data-report] table[data-table='aid']")
        assert words["aid"] in kim.content()
        assert kim.evaluate("[...document.querySelectorAll('img.chart')].every(i => i.complete && i.naturalWidth > 0)")
        shot(kim, shots, language, "council-report")
        with kim.expect_navigation():
            kim.click("a[data-printable]")
        assert kim.locator("figure svg").count() == 2  # the printable page, its charts inline
        kim.go_back()
        kim.click("a[href='/council/ceremony']")
        submit(kim, "form[action='/council/rewrap']")
        assert words["rewrapped"] in kim.inner_text(".notice")  # every member holds every case key already


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_administrator_invites_and_runs_the_key_ceremony(
    browser: Any, bare_org: Org, language: str, tmp_path: Path, shots: Path
) -> None:
    org = bare_org
    words = TEXT[language]
    with person(browser, org, "admin", language, tmp_path) as admin:
        admin.click("a[href='/admin/people']")
        admin.fill("#name", "sora")
        admin.select_option("#role", "helper")
        submit(admin, "form[action='/admin/invite']")
        line = admin.inner_text("#invite-line").strip()
        assert line.startswith("tessera-invite:") and admin.locator(".qr svg").count() == 1
        shot(admin, shots, language, "admin-invite")
        cli(org, "sora", "join", line, "--name", "sora")
        admin.click("a[href='/admin/ceremony']")
        for name in ("kim", "lee", "park"):
            admin.check(f"input[name='members'][value='{name}']")
        admin.fill("#threshold", "2")
        submit(admin, "form[action='/admin/ceremony/start']")
        admin.wait_for_selector("[data-ceremony-state]")
        shot(admin, shots, language, "admin-ceremony")
        with person(browser, org, "kim", language, tmp_path) as kim:
            kim.click("a[href='/council/ceremony']")
            submit(kim, "form[action='/council/ceremony/step']")
            assert kim.locator("input[name='accept']").count() == 1
            shot(kim, shots, language, "council-ceremony-plan")
            for _round in range(8):
                submit(kim, "form[action='/council/ceremony/step']")
                if kim.locator("[data-ceremony-done]").count():
                    break
                for member in ("lee", "park"):
                    cli(org, member, "council", "ceremony", "step", *CONFIRM)
            else:
                raise AssertionError("the ceremony did not finish in the browser")
            assert words["done"] in kim.inner_text("[data-ceremony-done]")
        admin.click("a[href='/admin/server']")
        admin.wait_for_selector("[data-audit]")
        shot(admin, shots, language, "admin-server")
        admin.click("a[href='/account/keys']")
        submit(admin, "form[action='/account/keys/rotate']")  # not confirmed: nothing changes
        assert admin.locator("[data-rotated]").count() == 0 and admin.locator(".notice.bad").count() == 1
        admin.check("#sure")
        submit(admin, "form[action='/account/keys/rotate']")
        assert words["new_keys"] in admin.inner_text("[data-rotated]")
        shot(admin, shots, language, "admin-keys")
