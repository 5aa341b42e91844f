"""The app's languages: complete catalogs whose translations keep every {field}, a catalog that is current with
the code, the language taken from the system locale or the person's choice, dates and numbers for the locale,
and form errors in the person's language."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from client.app.i18n import LANGUAGES, LOCALE_DIR, Speaker, from_environment, load_catalog
from client.app.pages import LANG_COOKIE
from client.app.security import CSRF_FIELD
from tests.support.app import App

ROOT = Path(__file__).resolve().parents[2]
FIELD = re.compile(r"\{([a-z_]+)\}")
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]


def messages(path: Path) -> dict[object, object]:
    with path.open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id}


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_and_keeps_its_fields(language: str) -> None:
    template = messages(LOCALE_DIR / "tessera.pot")
    catalog = messages(LOCALE_DIR / language / "LC_MESSAGES" / "tessera.po")
    assert set(catalog) == set(template), "run `make catalogs` and translate what is new"
    for msgid, text in catalog.items():
        source = msgid if isinstance(msgid, str) else msgid[-1]
        strings = [text] if isinstance(text, str) else list(text)  # type: ignore[call-overload]
        for translated in strings:
            assert translated, (language, msgid)
            assert set(FIELD.findall(translated)) == set(FIELD.findall(str(source))), (language, msgid, translated)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_catalog_passes_babels_checks(language: str) -> None:
    """What `pybabel compile` (make) refuses: e.g. a message Babel reads as a %-format ("% of target") whose
    translation does not keep its placeholders."""
    with (LOCALE_DIR / language / "LC_MESSAGES" / "tessera.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check()]
    assert not problems, problems


def test_the_template_is_current_with_the_code(tmp_path: Path) -> None:
    out = tmp_path / "now.pot"
    extract = [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "N_", "-k", "_"]
    result = subprocess.run([*extract, "-o", str(out), "."], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert set(messages(out)) == set(messages(LOCALE_DIR / "tessera.pot")), "run `make catalogs`"


def test_a_catalog_not_compiled_is_read_from_its_po(tmp_path: Path) -> None:
    folder = tmp_path / "ko"
    shutil.copytree(LOCALE_DIR / "ko" / "LC_MESSAGES", folder)
    for mo in folder.glob("*.mo"):
        mo.unlink()
    assert load_catalog(folder, "ko").gettext("Outbox") == "보낼편지함"


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({"LANG": "ko_KR.UTF-8"}, "ko"),
        ({"LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "zh_CN.UTF-8"}, "zh_Hans"),
        ({"LANG": "zh_TW.UTF-8"}, "zh_Hans"),
        ({"LC_ALL": "C", "LANG": "ko_KR.UTF-8"}, "ko"),
        ({"LANGUAGE": "fr:ja", "LANG": "fr_FR.UTF-8"}, "ja"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_the_language_comes_from_the_system_locale(environ: dict[str, str], language: str) -> None:
    assert from_environment(environ) == language


def test_dates_and_numbers_are_formatted_for_the_locale() -> None:
    day = 20_791  # 2026-12-04
    assert Speaker("en").day(day) == "Dec 4, 2026"
    assert Speaker("ko").day(day) == "2026. 12. 4."
    assert Speaker("ja").day(day) == "2026/12/04"
    assert Speaker("zh_Hans").day(day) == "2026年12月4日"
    assert Speaker("en").number(5200) == "5,200"
    assert Speaker("ko").usd(1500) == "US$1,500.00"
    assert Speaker("ko")("Outbox") == "보낼편지함" and Speaker("ja")("Outbox") == "送信箱"
    assert Speaker("ko").day("not a day") == "?"


async def test_the_person_chooses_the_language_and_form_errors_speak_it(
    app_for: Callable[..., Awaitable[App]],
) -> None:
    hana = await app_for("hana", "en")
    chosen = await hana.post("/language", {"language": "ko", "back": "/helper/new/food"})
    assert chosen.status == 303 and chosen.headers["Location"] == "/helper/new/food"
    hana.client.session.cookie_jar.update_cookies({LANG_COOKIE: "ko"})
    page = await hana.page("/helper/new/food")
    assert '<html lang="ko">' in page and "긴급도" in page and "도움이 얼마나 급한가" in page
    assert '<option value="critical">매우 긴급</option>' in page
    form = {CSRF_FIELD: hana.gate.csrf, "full_name": "김영희", "exact_location": "쉼터", "people": "여섯"}
    response = await hana.client.post("/helper/new/food", data=form, headers=hana.good())
    errors = await response.text()
    assert response.status == 400
    assert "0 이상의 정수가 필요합니다" in errors and "필수 항목 (도움이 얼마나 급한가)" in errors
    assert "expected a whole number" not in errors
    foreign = await hana.post("/language", {"language": "../../etc", "back": "//evil.example/"})
    assert foreign.headers["Location"] == "/" and LANG_COOKIE not in foreign.cookies
