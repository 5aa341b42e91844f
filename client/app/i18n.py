"""The app's languages: gettext catalogs (client/locale/LANG/LC_MESSAGES/tessera.po, compiled to .mo by
`make`), the language chosen from a setting or the system locale, and dates and numbers formatted for it
(Babel).

Messages use named `{fields}` (str.format) so a translation may reorder them. A catalog whose .mo was not
compiled (a checkout installed without `make`) is compiled from its .po in memory, so the app never shows
English to a Korean helper because a build step was skipped. Translations are plain text: the templates
escape them like any other value, so a catalog cannot inject markup.
"""

from __future__ import annotations

import datetime
import gettext
import io
import os
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

from babel.core import Locale, negotiate_locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

LOCALE_DIR: Final = Path(__file__).resolve().parent.parent / "locale"
DOMAIN: Final = "tessera"
LANGUAGES: Final = ("en", "ko", "zh_Hans", "ja")
SOURCE: Final = "en"
DAY_SECONDS: Final = 86_400
# how a system locale names the languages the app speaks (Traditional Chinese readers get Simplified: the
# closest catalog there is)
_ALIASES: Final = {"zh": "zh_Hans", "zh_CN": "zh_Hans", "zh_SG": "zh_Hans", "zh_TW": "zh_Hans", "zh_HK": "zh_Hans"}


def native_name(language: str) -> str:
    """The language's name in itself (한국어, 日本語), for the language menu."""
    return str(Locale.parse(language).get_display_name(language)).capitalize() if language != "en" else "English"


def from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The app language the system locale asks for (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), else English."""
    env = os.environ if environ is None else environ
    wanted: list[str] = []
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for part in env.get(name, "").split(":"):
            code = part.split(".")[0].split("@")[0]
            if code and code not in ("C", "POSIX"):
                wanted += [code, code.split("_")[0]]
    return pick(wanted)


def pick(wanted: list[str]) -> str:
    """The first of `wanted` (language codes, most wanted first) that the app speaks, else English."""
    normalised = [_ALIASES.get(w.replace("-", "_"), w.replace("-", "_")) for w in wanted]
    found = negotiate_locale(normalised, list(LANGUAGES), sep="_")
    return found if found in LANGUAGES else SOURCE


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog for `language` (English: the messages as written). Read once per process."""
    if language not in LANGUAGES or language == SOURCE:
        return gettext.NullTranslations()
    return load_catalog(LOCALE_DIR / language / "LC_MESSAGES", language)


def load_catalog(folder: Path, language: str) -> gettext.GNUTranslations:
    """The compiled catalog in `folder`, or, where it was not compiled, its .po compiled in memory."""
    compiled = folder / f"{DOMAIN}.mo"
    if compiled.exists():
        with compiled.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    with (folder / f"{DOMAIN}.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Speaker:
    """Everything a page needs to speak one language: `_` (translate, then fill `{fields}`), dates, numbers."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else SOURCE
        self._t = translations(self.language)

    def __call__(self, message: str, **values: Any) -> str:
        text = self._t.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return self._t.ngettext(singular, plural, n).format(n=self.number(n), **values)

    def day(self, day: object) -> str:
        """A day number (days since 1970-01-01, as the server keeps them) as a date in this language."""
        if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day < 200_000:
            return "?"
        return str(format_date(datetime.date(1970, 1, 1) + datetime.timedelta(days=day), format="medium", locale=self.language))

    def date(self, text: str) -> str:
        """A YYYY-MM-DD date from a form, as a date in this language (unchanged if it is not one)."""
        try:
            return str(format_date(datetime.date.fromisoformat(text), format="medium", locale=self.language))
        except (TypeError, ValueError):
            return str(text)

    def number(self, value: object) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(format_decimal(value, locale=self.language))
        return str(value)

    def usd(self, value: object) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(format_currency(value, "USD", locale=self.language, format_type="standard"))
        return str(value)

    def helpers(self) -> dict[str, Callable[..., str] | str]:
        """What every template gets."""
        return {
            "_": self,
            "ngettext": self.ngettext,
            "fmt_day": self.day,
            "fmt_date": self.date,
            "fmt_number": self.number,
            "fmt_usd": self.usd,
            "lang": self.language,
            "html_lang": self.language.replace("_", "-"),
        }
