"""Real processes on real ports on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import (
    PASSPHRASE,
    Cli,
    environment,
    free_port,
    init_server,
    running_server,
)
from tests.support.world import drop_pg, pg_available


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("TESSERA_PASSPHRASE", PASSPHRASE)
    return Cli(tmp_path, capsys)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (dropped after it); skips where no server answers."""
    url = pg_available()
    if url is None:
        pytest.skip("no PostgreSQL server answers (set TESSERA_TEST_PG_URL)")
    yield url
    drop_pg(url)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A fresh organisation's `tessera-server run` on SQLite in tmp_path/srv: (url, first invite, data dir)."""
    data, port = tmp_path / "srv", free_port()
    url = f"http://127.0.0.1:{port}"
    invite = init_server(data, url)
    with running_server(data, port, env=environment()):
        yield url, invite, data
