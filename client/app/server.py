"""`tessera app`: the local web application (docs/app.md).

`create_app(config, gate)` builds the aiohttp application: the gate's checks (security.py) before anything
else, Jinja2 templates with autoescape (the HTML sanitizer for every server-supplied and person-written
string), the pages of each role, and the assets shipped in this package. `serve` binds 127.0.0.1 on a random
port, prints the opening link and opens it in the browser. The page never sees a key: every action runs here,
through the same verified library code as the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
import webbrowser
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Final

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from client.app import views_admin, views_common, views_council, views_helper, views_report
from client.app.errors import KNOWN, explain
from client.app.pages import render, speaker
from client.app.security import Gate, gate_middleware, headers_middleware
from client.app.state import CONFIG, GATE, HTTP, ISOLATION, NOTICES, VAULT, AppConfig, Notices, Vault
from client.net import Isolation, connector

STATIC: Final = Path(__file__).resolve().parent / "static"
MAX_REQUEST: Final = 200 * 1024 * 1024  # the largest file a page may send to attach (the server's own cap applies too)
log = logging.getLogger("tessera.app")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A library error becomes a page saying what went wrong (errors.py); anything else is a bare 500 whose
    traceback goes to the terminal that runs the app, never to the page."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except KNOWN as exc:
        explained = explain(exc)
        _ = speaker(request)
        message = _(explained.message, detail=explained.detail) if "{detail}" in explained.message else _(explained.message)
        return render(
            request,
            "error.html",
            status=explained.status,
            message=message,
            security=explained.security,
            keys_link=explained.keys_link,
        )
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return web.Response(status=500, text="500: an unexpected error; the terminal running `tessera app` says more.\n")


def create_app(config: AppConfig, gate: Gate, *, clock: Callable[[], float] = time.monotonic) -> web.Application:
    app = web.Application(middlewares=[headers_middleware, gate_middleware(gate), errors_middleware], client_max_size=MAX_REQUEST)
    app[CONFIG] = config
    app[GATE] = gate
    app[VAULT] = Vault(config.idle_lock, clock)
    app[NOTICES] = Notices()
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("client.app", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )

    async def http_session(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=120, connect=30)
        isolation = Isolation(config.proxy)
        app[ISOLATION] = isolation
        async with aiohttp.ClientSession(connector=connector(config.proxy), timeout=timeout) as http:
            app[HTTP] = http
            try:
                yield
            finally:
                await isolation.close()

    app.cleanup_ctx.append(http_session)
    for module in (views_common, views_helper, views_council, views_report, views_admin):
        app.router.add_routes(module.routes)
    app.router.add_static("/static", STATIC, append_version=False)
    return app


def memory_folder() -> Path | None:
    """A private folder in memory (tmpfs) for the files a browser sends before they are cleaned and sealed:
    $XDG_RUNTIME_DIR, else /dev/shm. None where neither exists (the app then refuses attachments)."""
    for base in (os.environ.get("XDG_RUNTIME_DIR"), "/dev/shm"):  # noqa: S108 - a RAM-backed folder on purpose
        if base and Path(base).is_dir() and os.access(base, os.W_OK):
            return Path(tempfile.mkdtemp(prefix="tessera-app-", dir=base))
    return None


async def serve(config: AppConfig, *, open_browser: bool = True, port: int = 0) -> None:
    """Run the app until interrupted: bind 127.0.0.1, print the opening link, open it in the browser."""
    gate = Gate(port=0, clock=time.time)
    app = create_app(config, gate)
    runner = web.AppRunner(app, access_log=None)  # no log of requests: the opening link carries a token
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    gate.port = int(sock.getsockname()[1])
    await web.SockSite(runner, sock).start()
    print("Tessera app: open this link in your browser (it works once, for ten minutes):")
    print(f"  {gate.open_url}")
    print("Stop the app with Ctrl+C when you are done.", flush=True)
    if open_browser:
        webbrowser.open(gate.open_url)
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on some platforms: Ctrl+C still works
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run_app(home: Path, *, server: str | None, proxy: str | None, language: str | None, idle_minutes: int, browser: bool) -> int:
    """`tessera app`: serve until Ctrl+C; the folder in memory for browser uploads is removed on the way out."""
    uploads = memory_folder()
    config = AppConfig(home=home, server=server, proxy=proxy, language=language, idle_lock=idle_minutes * 60.0, uploads=uploads)
    try:
        asyncio.run(serve(config, open_browser=browser))
        print("Tessera app stopped; your keys are no longer in memory.")
    except KeyboardInterrupt:
        print("\nTessera app stopped; your keys are no longer in memory.")
    finally:
        if uploads is not None:
            shutil.rmtree(uploads, ignore_errors=True)
    return 0
