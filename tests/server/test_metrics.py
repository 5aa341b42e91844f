"""Metrics: counted per route template, timed, never answered on the API's port."""

from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import load_config
from server.errors import ConfigError
from server.http.keys import METRICS, SERVICES

from .conftest import FakeClock, World


async def test_the_api_port_never_answers_metrics(world: World) -> None:
    async with world.client.get("/v1/metrics") as response:
        assert response.status == 404


async def test_metrics_count_and_time_route_templates_only(  # type: ignore[no-untyped-def]
    server_dir: tuple[Path, str], clock: FakeClock, aiohttp_client
) -> None:
    config = replace(load_config(server_dir[0]), metrics="127.0.0.1:9464")
    client: TestClient = await aiohttp_client(create_app(config, clock=clock))
    async with client.get("/v1/cases/AAAAAAAAAAAAAAAAAAAAAA") as response:
        assert response.status == 401
    metrics = client.app[METRICS]
    metrics.sample(client.app[SERVICES].db)
    text = metrics.render().decode()
    assert 'tessera_requests_total{route="/v1/cases/{case_id}",status="401"} 1.0' in text
    assert 'tessera_request_seconds_count{route="/v1/cases/{case_id}"} 1.0' in text
    assert "AAAAAAAAAAAAAAAAAAAAAA" not in text
    rss = next(line for line in text.splitlines() if line.startswith("tessera_process_resident_memory_bytes "))
    assert float(rss.split()[1]) > 10 * 1024 * 1024
    assert "tessera_process_cpu_seconds_total " in text
    if config.db_url.startswith("sqlite"):
        db = client.app[SERVICES].db
        assert 1 <= db.commits <= db.committed_writes  # start-up registered this server instance
        assert f"tessera_sqlite_commits_total {float(db.commits)}\n" in text
        assert f"tessera_sqlite_committed_writes_total {float(db.committed_writes)}\n" in text
        assert "tessera_sqlite_checkpoint_failures_total" in text
    else:
        assert "tessera_sqlite_commits_total 0.0\n" in text  # PostgreSQL commits each transaction itself


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("loopback", "no longer accepted"),
        ("0.0.0.0:9464", "loopback address"),
        ("192.168.1.5:9464", "loopback address"),
        ("127.0.0.1:8080", "port of their own"),
        ("nonsense", "HOST:PORT"),
    ],
)
def test_metrics_need_a_loopback_port_of_their_own(server_dir: tuple[Path, str], value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(server_dir[0], {"TESSERA_METRICS": value})
    assert says in caught.value.message
