"""The app in-process (aiohttp's test client) on a keystore made here, with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from client.app.security import Gate
from client.app.server import create_app
from client.app.state import AppConfig
from tests.hostile.conftest import bare_org, org, templates  # noqa: F401 - the hostile suite's organisation, built once
from tests.support.app import CHROMIUM, CHROMIUM_ARGS, App, Clock, app_maker, make_home
from tests.support.harness import Org


@pytest.fixture
async def app(tmp_path: Path, aiohttp_client: Callable[..., Any]) -> AsyncIterator[App]:
    home = make_home(tmp_path / "home")
    clock = Clock()
    gate = Gate(port=0, clock=clock)
    application = create_app(AppConfig(home=home, idle_lock=600, language="en"), gate, clock=clock)
    client = await aiohttp_client(application)
    gate.port = client.port
    yield App(client, gate, clock)


@pytest.fixture
async def app_for(
    org: Org,  # noqa: F811 - the fixture imported above
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
) -> Callable[..., Awaitable[App]]:
    """`await app_for("hana")`: the app on `who`'s home in the organisation after its key ceremony, talking to
    its server through the relay, opened and unlocked (each person's app in-process, own gate and clock)."""
    return app_maker(org, aiohttp_client, tmp_path)


@pytest.fixture
async def bare_app_for(
    bare_org: Org,  # noqa: F811 - the fixture imported above
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
) -> Callable[..., Awaitable[App]]:
    """As `app_for`, in the organisation before its key ceremony (accounts only)."""
    return app_maker(bare_org, aiohttp_client, tmp_path)


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
