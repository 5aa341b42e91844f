"""A real server (create_app on a temporary SQLite file, or PostgreSQL when TESSERA_TEST_PG_URL answers)
and real clients (client.api.Api) with their own keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Config, load_config
from server.main import initialise
from tests.conformance import Conformance
from tests.support.world import (
    PG_URL,
    FakeClock,
    World,
    drop_pg,
    pg_available,
)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    url = pg_available()
    if url is None:
        pytest.skip(f"no PostgreSQL server answers at {PG_URL} (set TESSERA_TEST_PG_URL)")
    yield url
    drop_pg(url)


@pytest.fixture
def server_dir(tmp_path: Path, backend: str | None) -> tuple[Path, str]:
    data = tmp_path / "server"
    invite, _ = initialise(data, db_url=backend, url="http://tessera.test", admin_name="admin")
    return data, invite


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(server_dir: tuple[Path, str]) -> Config:
    return load_config(server_dir[0])


@pytest.fixture
async def client(config: Config, clock: FakeClock, aiohttp_client) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    # config (and the database behind it) first: torn down after the app, which writes on shutdown
    app = create_app(config, clock=clock)
    conformance = Conformance()  # every answer is checked against the document (tests/conformance.py)
    app.middlewares.append(conformance.middleware)
    yield await aiohttp_client(app)
    assert not conformance.problems, "answers that do not conform to /v1/openapi.json:\n" + "\n".join(conformance.problems)


@pytest.fixture
async def world(client: TestClient, clock: FakeClock, server_dir: tuple[Path, str]) -> AsyncIterator[World]:
    yield World(client=client, clock=clock, first_invite=server_dir[1])
