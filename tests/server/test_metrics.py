from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import load_config
from server.http.keys import SERVICES

from .conftest import FakeClock, World


async def test_metrics_are_off_by_default(world: World) -> None:
    async with world.client.get("/v1/metrics") as response:
        assert response.status == 404


async def test_metrics_on_loopback_count_route_templates_only(  # type: ignore[no-untyped-def]
    server_dir: tuple[Path, str], clock: FakeClock, aiohttp_client
) -> None:
    config = replace(load_config(server_dir[0]), metrics="loopback")
    client: TestClient = await aiohttp_client(create_app(config, clock=clock))
    async with client.get("/v1/cases/AAAAAAAAAAAAAAAAAAAAAA") as response:
        assert response.status == 401
    async with client.get("/v1/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert 'tessera_requests_total{route="/v1/cases/{case_id}",status="401"} 1' in text
    assert "AAAAAAAAAAAAAAAAAAAAAA" not in text
    if config.db_url.startswith("sqlite"):
        db = client.app[SERVICES].db
        assert f"tessera_sqlite_commits_total {db.commits}\n" in text
        assert f"tessera_sqlite_committed_writes_total {db.committed_writes}\n" in text
        assert 1 <= db.commits <= db.committed_writes  # start-up registered this server instance
        assert "tessera_sqlite_checkpoints_total " in text and "tessera_sqlite_wal_restarts_total 0\n" in text
        assert "tessera_sqlite_checkpoint_failures_total 0\n" in text
    else:
        assert "tessera_sqlite" not in text
