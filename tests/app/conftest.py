"""The app in-process (aiohttp's test client) on a keystore made here, with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from nacl.utils import random

from client.app.security import COOKIE, CSRF_FIELD, Gate
from client.app.server import create_app
from client.app.state import VAULT, AppConfig, Vault
from client.home import Home
from keys.accounts import AccountKeys
from keys.encoding import b64u_encode
from tests.hostile.conftest import PASSPHRASE as HARNESS_PASSPHRASE
from tests.hostile.conftest import Org, bare_org, org, templates  # noqa: F401 - the hostile suite's organisation, built once

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


@pytest.fixture
async def app(tmp_path: Path, aiohttp_client: Callable[..., Any]) -> AsyncIterator[App]:
    home = make_home(tmp_path / "home")
    clock = Clock()
    gate = Gate(port=0, clock=clock)
    application = create_app(AppConfig(home=home, idle_lock=600, language="en"), gate, clock=clock)
    client = await aiohttp_client(application)
    gate.port = client.port
    yield App(client, gate, clock)


def _maker(where: Org, aiohttp_client: Callable[..., Any], tmp_path: Path) -> Callable[..., Awaitable[App]]:
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


@pytest.fixture
async def app_for(
    org: Org,  # noqa: F811 - the fixture imported above
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
) -> Callable[..., Awaitable[App]]:
    """`await app_for("hana")`: the app on `who`'s home in the organisation after its key ceremony, talking to
    its server through the relay, opened and unlocked (each person's app in-process, own gate and clock)."""
    return _maker(org, aiohttp_client, tmp_path)


@pytest.fixture
async def bare_app_for(
    bare_org: Org,  # noqa: F811 - the fixture imported above
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
) -> Callable[..., Awaitable[App]]:
    """As `app_for`, in the organisation before its key ceremony (accounts only)."""
    return _maker(bare_org, aiohttp_client, tmp_path)


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


@pytest.fixture(scope="module")
def browser(templates: Any) -> Iterator[Any]:  # noqa: F811 - built first: Playwright keeps a loop running here
    """One headless chromium for all the browser tests (they live in one module: Playwright's synchronous API
    keeps an event loop running in this thread while it is open, which the async tests of other modules must
    not meet); skipped, saying why, where it cannot run."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: install it with `apt-get install -y chromium fonts-noto-cjk` (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a test dependency
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
