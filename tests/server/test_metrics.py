"""Metrics: counted per route template, timed, never answered on the API's port."""

import signal
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import load_config
from server.errors import ConfigError
from server.http.keys import METRICS, SERVICES
from server.http.metrics import SAMPLE_INTERVAL
from tests.support.processes import environment, free_port, running_server, server_cli, server_log
from tests.support.world import FakeClock, World


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


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if not line.startswith("#")}


def test_workers_report_the_sum_on_their_own_port(tmp_path: Path) -> None:
    data, port, metrics_port = tmp_path / "srv", free_port(), free_port()
    assert server_cli("init", "--data", str(data), env=environment()).returncode == 0
    env = {**environment(), "TESSERA_METRICS": f"127.0.0.1:{metrics_port}"}
    with running_server(data, port, env=env, extra=("--workers", "2")) as parent:
        deadline = time.monotonic() + 30  # both workers finished their start-up checks
        while server_log(data, port).count("listening on") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        health = 'tessera_requests_total{route="/v1/health",status="200"}'
        before = scrape(metrics_port).get(health, 0.0)
        for _ in range(40):  # each on a new connection: the kernel spreads them over both workers
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5) as response:
                assert response.status == 200
        after = scrape(metrics_port)
        assert after[health] - before == 40  # the sum over both processes, whichever answered
        assert after['tessera_request_seconds_count{route="/v1/health"}'] >= 40
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/metrics", timeout=5)
        caught.value.close()
        assert caught.value.code == 404  # never on the API's port
        time.sleep(SAMPLE_INTERVAL + 1)
        assert scrape(metrics_port)["tessera_process_resident_memory_bytes"] > 2 * 20 * 1024 * 1024
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0
    assert "Traceback" not in server_log(data, port)
