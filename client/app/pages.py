"""What every page handler uses: the language of the request, rendering, the unlocked work, notices."""

from __future__ import annotations

from typing import Any, Final, NoReturn

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from client.app.i18n import LANGUAGES, Speaker, from_environment, native_name
from client.app.security import CSRF_FIELD
from client.app.state import CONFIG, GATE, HTTP, NOTICES, VAULT, Work, make_session

LANG_COOKIE: Final = "tessera_lang"
FIELD_LIMIT: Final = 64 * 1024  # the longest text field a page sends (a narrative is at most 8,000 characters)


def language(request: web.Request) -> str:
    """The page language: the person's choice in this browser, else `--lang`, else the system locale."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return str(chosen)
    config = request.app[CONFIG]
    return config.language if config.language in LANGUAGES else from_environment()


def speaker(request: web.Request) -> Speaker:
    return Speaker(language(request))


def context(request: web.Request) -> dict[str, Any]:
    """What every template gets."""
    home = request.app[VAULT].current() if request.app[GATE].has_session(request) else None
    return {
        **speaker(request).helpers(),
        "csrf_field": CSRF_FIELD,
        "csrf": request.app[GATE].csrf,
        "account": home.account if home else None,
        "role": home.role if home else None,
        "languages": [(code, native_name(code)) for code in LANGUAGES],
        "take_notices": request.app[NOTICES].take,
        "path": request.path,
    }


def render(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, {**context(request), **values}, status=status)


def work(request: web.Request, *roles: str) -> Work:
    """The unlocked home and the CLI's Session for it; a locked app sends the person to the passphrase page.
    With `roles`, a home of another role is told this page is not for it."""
    home = request.app[VAULT].current()
    if home is None:
        raise web.HTTPSeeOther("/unlock")
    if roles and home.role not in roles:
        raise web.HTTPSeeOther("/")
    return Work(home, make_session(request.app[CONFIG], request.app[HTTP]))


def notice(request: web.Request, text: str, kind: str = "ok") -> None:
    request.app[NOTICES].add(text, kind)


def go(to: str) -> NoReturn:
    raise web.HTTPSeeOther(to)


async def fields(request: web.Request) -> MultiDictProxy[Any]:
    return await request.post()


def text(data: MultiDictProxy[Any], name: str, default: str = "") -> str:
    value = data.get(name, default)
    return value[:FIELD_LIMIT] if isinstance(value, str) else default
