"""The app in-process (aiohttp's test client) on a keystore made here, with a clock the test moves: `App`, the
homes it opens, the Chromium settings of the browser tests. Its fixtures are in tests/app/conftest.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from nacl.utils import random

from client.app.security import COOKIE, CSRF_FIELD, Gate
from client.app.server import create_app
from client.app.state import VAULT, AppConfig, Vault
from client.home import Home
from keys.accounts import AccountKeys
from keys.encoding import b64u_encode
from tests.support.harness import PASSPHRASE as HARNESS_PASSPHRASE
from tests.support.harness import Org

PASSPHRASE = HARNESS_PASSPHRASE  # the org templates (tests/hostile) are made with it


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class App:
    client: TestClient[Any, Any]
    gate: Gate
    clock: Clock

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.gate.port}"

    @property
    def vault(self) -> Vault:
        return self.client.app[VAULT]  # type: ignore[index]

    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={self.gate.session}"}

    def good(self, **extra: str) -> dict[str, str]:
        """The headers of a request from the app's own page: its cookie and its Origin."""
        return {**self.cookie(), "Origin": self.origin, **extra}

    async def opened(self) -> None:
        response = await self.client.get(f"/open?token={self.gate.open_token}", allow_redirects=False)
        assert response.status == 303

    async def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        """A form sent from the app's own page (cookie, Origin, CSRF token); redirects not followed."""
        form = {CSRF_FIELD: self.gate.csrf, **(data or {})}
        return await self.client.post(path, data=form, headers=self.good(), allow_redirects=False, **kwargs)

    async def page(self, path: str) -> str:
        response = await self.client.get(path, headers=self.cookie())
        assert response.status == 200, (path, response.status, await response.text())
        return await response.text()

    async def unlock(self, *, open_first: bool = True) -> None:
        if open_first:
            await self.opened()
        data = {"passphrase": PASSPHRASE, CSRF_FIELD: self.gate.csrf}
        response = await self.client.post("/unlock", data=data, headers=self.good(), allow_redirects=False)
        assert response.status == 303, await response.text()
        assert not self.vault.locked


def make_home(path: Path, role: str = "helper", account: str = "hana") -> Path:
    keys = AccountKeys.generate()
    state = {
        "v": 1,
        "account": account,
        "role": role,
        "server": "http://127.0.0.1:9",  # nothing answers: the app's pages that need the server say so
        "sign_seed": b64u_encode(keys.sign_seed),
        "box_secret": b64u_encode(keys.box_secret),
        "reply_secret": b64u_encode(random(32)),
        "outbox_key": b64u_encode(random(32)),
        "pin": {"seq": 0, "head": b64u_encode(bytes(32))},
    }
    Home.create(path, PASSPHRASE, state)
    return path


def app_maker(where: Org, aiohttp_client: Callable[..., Any], tmp_path: Path) -> Callable[..., Awaitable[App]]:
    async def make(who: str, language: str = "en") -> App:
        clock = Clock()
        gate = Gate(port=0, clock=clock)
        uploads = tmp_path / f"uploads-{who}"
        uploads.mkdir(exist_ok=True)
        config = AppConfig(home=where.home_path(who), server=where.stack.url, idle_lock=600, language=language, uploads=uploads)
        client = await aiohttp_client(create_app(config, gate, clock=clock))
        gate.port = client.port
        made = App(client, gate, clock)
        await made.unlock()
        return made

    return make


# -- the browser tests: Debian's chromium driven by Playwright, one browser per session ------------------------
CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
