"""What every page handler uses: the language of the request, rendering, the unlocked work, notices."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any, Final, NoReturn

import aiohttp_jinja2
from aiohttp import BodyPartReader, web
from multidict import MultiDictProxy

from client.app.i18n import LANGUAGES, Speaker, from_environment, native_name
from client.app.security import CSRF_FIELD
from client.app.state import CONFIG, GATE, HTTP, ISOLATION, NOTICES, VAULT, Work, make_session
from client.home import Home
from client.session import UsageError

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
    return Work(home, make_session(request.app[CONFIG], request.app[HTTP], request.app.get(ISOLATION)))


def notice(request: web.Request, text: str, kind: str = "ok") -> None:
    request.app[NOTICES].add(text, kind)


def go(to: str) -> NoReturn:
    raise web.HTTPSeeOther(to)


async def fields(request: web.Request) -> MultiDictProxy[Any]:
    return await request.post()


def text(data: MultiDictProxy[Any], name: str, default: str = "") -> str:
    value = data.get(name, default)
    return value[:FIELD_LIMIT] if isinstance(value, str) else default


FILE_LIMIT: Final = 200 * 1024 * 1024  # one attached file (the app's request cap)


async def read_multipart(request: web.Request, uploads: Path | None) -> tuple[dict[str, str], list[Path]]:
    """A form sent with files: its text fields, and each file written to `uploads` (a folder in memory: the
    browser's copy of a photo is cleaned and sealed from there and deleted once uploaded). Raises UsageError
    when files come and there is no such folder."""
    values: dict[str, str] = {}
    files: list[Path] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is None:
            chunks, size = [], 0
            while chunk := await part.read_chunk():
                size += len(chunk)
                if size > FIELD_LIMIT:
                    raise UsageError(f"the field {part.name} is too long")
                chunks.append(chunk)
            values[part.name] = b"".join(chunks).decode("utf-8", "replace")
            continue
        name = _safe_name(part.filename)
        if not name:
            await part.release()  # an empty file input
            continue
        if uploads is None:
            raise UsageError(
                "this computer has no folder in memory for attachments, so the app does not take them: attach the "
                "files with `tessera attach CASE FILE`"
            )
        folder = Path(tempfile.mkdtemp(dir=uploads))
        path = folder / name
        size = 0
        with path.open("wb") as out:
            while chunk := await part.read_chunk(1 << 20):
                size += len(chunk)
                if size > FILE_LIMIT:
                    raise UsageError(f"{name} is larger than {FILE_LIMIT // (1 << 20)} MiB: attach it with `tessera attach`")
                out.write(chunk)
        files.append(path)
    return values, files


def _safe_name(filename: str) -> str:
    """The file's own name, without any folder a browser put in it, at most 200 characters."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    return "".join(c for c in name if c.isprintable())[:200]


def tidy_uploads(home: Home, uploads: Path | None) -> None:
    """Delete the browser's copies whose upload finished (no pending upload record names them any more)."""
    if uploads is None or not uploads.exists():
        return
    wanted = set()
    for _id, record in home.pending_uploads():
        wanted.add(str(json.loads(record).get("path")))
    for path in uploads.glob("*/*"):
        if str(path) not in wanted:
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()
