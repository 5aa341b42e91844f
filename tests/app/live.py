"""The app on a real port on 127.0.0.1, served from a background event loop, for the browser tests: what
`tessera app` runs, with the opening link handed to the test instead of a browser."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from client.app.security import Gate
from client.app.server import create_app
from client.app.state import AppConfig


@contextmanager
def live_app(config: AppConfig) -> Iterator[Gate]:
    """Serve the app for `config` until the block ends; yields its gate (`gate.open_url` opens it)."""
    loop = asyncio.new_event_loop()
    gate = Gate(port=0, clock=time.time)
    ready = threading.Event()
    runner: web.AppRunner | None = None

    async def start() -> None:
        nonlocal runner
        runner = web.AppRunner(create_app(config, gate), access_log=None)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        gate.port = int(sock.getsockname()[1])
        await web.SockSite(runner, sock).start()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="tessera-app", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise AssertionError("the app did not start")
    try:
        yield gate
    finally:
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
