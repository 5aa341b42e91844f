"""The languages Tessera speaks, for the app and the `tessera` command alike: the gettext catalogs
(client/locale/LANG/LC_MESSAGES/tessera.po, compiled to .mo by `make`), the language chosen from a setting
(`--lang`, the app's menu) or the system locale, and `_`, which translates a message into the language the
running command speaks.

Messages use named `{fields}` (str.format) so a translation may reorder them. A catalog whose .mo was not
compiled (a checkout installed without `make`) is compiled from its .po in memory, so nobody gets English
because a build step was skipped. Babel loads only then: `tessera` starts without it.


The command's language is a context variable set once by `client.main.main` (`speaking`); everything else
reads it through `_`. Outside `speaking` (a library call, a test) it is English.
"""

from __future__ import annotations

import contextlib
import gettext
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Final

LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
DOMAIN: Final = "tessera"
LANGUAGES: Final = ("en", "ko", "zh_Hans", "ja")
SOURCE: Final = "en"
# how a system locale names the languages Tessera speaks (Traditional Chinese readers get Simplified: the
# closest catalog there is)
_ALIASES: Final = {"zh": "zh_Hans", "zh_CN": "zh_Hans", "zh_SG": "zh_Hans", "zh_TW": "zh_Hans", "zh_HK": "zh_Hans"}
_LANG_OPTION: Final = "--lang"

_speaking: ContextVar[str] = ContextVar("tessera_language", default=SOURCE)


def from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The language the system locale asks for (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), else English."""
    env = os.environ if environ is None else environ
    wanted: list[str] = []
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for part in env.get(name, "").split(":"):
            code = part.split(".")[0].split("@")[0]
            if code and code not in ("C", "POSIX"):
                wanted += [code, code.split("_")[0]]
    return pick(wanted)


def pick(wanted: list[str]) -> str:
    """The first of `wanted` (language codes, most wanted first, e.g. ko_KR, zh-CN, ja) that Tessera speaks,
    else English. As Babel's negotiate_locale would, without loading Babel on every start of `tessera`: a code
    matches a language whatever its case, or by its first part (ko_KR: ko)."""
    speaks = {language.lower(): language for language in LANGUAGES}
    for code in wanted:
        code = _ALIASES.get(code.replace("-", "_"), code.replace("-", "_"))
        found = speaks.get(code.lower()) or speaks.get(code.split("_")[0].lower())
        if found is not None:
            return found
    return SOURCE



def asked_for(argv: Sequence[str]) -> str:
    """The language a command line asks for: its `--lang` if that names a language Tessera speaks, else the
    system locale's. Read before the parser is built, because the parser's help is in that language; the
    parser itself then refuses a `--lang` it does not know, in words."""
    chosen = None
    for at, word in enumerate(argv):
        if word == "--":
            break
        if word == _LANG_OPTION and at + 1 < len(argv):
            chosen = argv[at + 1]
        elif word.startswith(_LANG_OPTION + "="):
            chosen = word.partition("=")[2]
    return chosen if chosen in LANGUAGES else from_environment()


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
    from babel.messages.mofile import write_mo  # only for a checkout installed without `make`
    from babel.messages.pofile import read_po

    with (folder / f"{DOMAIN}.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """Within the block, `_` translates into `language` (one of LANGUAGES; anything else is English)."""
    token = _speaking.set(language if language in LANGUAGES else SOURCE)
    try:
        yield
    finally:
        _speaking.reset(token)


def language() -> str:
    """The language the running command speaks."""
    return _speaking.get()


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark now, translate later"
    """Marks `message` for the catalog (`pybabel extract -k N_`); `_` translates it where it is shown."""
    return message


def _(message: str, /, **values: object) -> str:

    """`message` in the running command's language, its `{fields}` filled with `values`."""
    text = translations(_speaking.get()).gettext(message)
    return text.format(**values) if values else text


def english(message: str, /, **values: object) -> str:
    """`message` as written, its `{fields}` filled: `_` for a caller that must show the source language."""
    return message.format(**values) if values else message


def pgettext(context: str, message: str) -> str:
    """`message` as used in `context`, where the same English word reads differently in another language (the
    column heading "case", a case id, is not the app's "case" of "sealed with the case file")."""
    return translations(_speaking.get()).pgettext(context, message)

