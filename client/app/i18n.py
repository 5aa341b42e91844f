"""The app's languages: the catalogs and the choice of language are client/i18n.py's (shared with the `tessera`
command); here a page's `Speaker`, which also formats dates and numbers for the language (Babel).

Translations are plain text: the templates escape them like any other value, so a catalog cannot inject markup.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, Final

from babel.core import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from client.i18n import LANGUAGES, LOCALE_DIR, SOURCE, from_environment, load_catalog, pick, translations

__all__ = [
    "LANGUAGES",
    "LOCALE_DIR",
    "SOURCE",
    "Speaker",
    "from_environment",
    "load_catalog",
    "native_name",
    "pick",
    "translations",
]

DAY_SECONDS: Final = 86_400


def native_name(language: str) -> str:
    """The language's name in itself (한국어, 日本語), for the language menu."""
    return str(Locale.parse(language).get_display_name(language)).capitalize() if language != "en" else "English"


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
