"""The app in-process (aiohttp's test client) on a keystore made here, with a clock the test moves."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from client.app.security import COOKIE, CSRF_FIELD, Gate
from client.app.server import create_app
from client.app.state import VAULT, AppConfig, Vault
from client.home import FAST_KDF_ENV, Home

PASSPHRASE = "four words at least here"


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

    async def unlock(self, *, open_first: bool = True) -> None:
        if open_first:
            await self.opened()
        data = {"passphrase": PASSPHRASE, CSRF_FIELD: self.gate.csrf}
        response = await self.client.post("/unlock", data=data, headers=self.good(), allow_redirects=False)
        assert response.status == 303, await response.text()
        assert not self.vault.locked


def make_home(path: Path, role: str = "helper", account: str = "hana") -> Path:
    os.environ[FAST_KDF_ENV] = "1"
    Home.create(path, PASSPHRASE, {"v": 1, "account": account, "role": role, "server": "http://127.0.0.1:9"})
    return path


@pytest.fixture
async def app(
    tmp_path: Path, aiohttp_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[App]:
    monkeypatch.setenv(FAST_KDF_ENV, "1")
    home = make_home(tmp_path / "home")
    clock = Clock()
    gate = Gate(port=0, clock=clock)
    application = create_app(AppConfig(home=home, idle_lock=600, language="en"), gate, clock=clock)
    client = await aiohttp_client(application)
    gate.port = client.port
    yield App(client, gate, clock)
