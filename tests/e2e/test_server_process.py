"""tessera-server init / run / migrate as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from client.api import Api, ApiError
from client.directory import from_genesis
from client.enrol import join, make_invite, revoke_account
from keys.accounts import AccountKeys
from keys.audit import verify_entries
from keys.directory import DirectoryEntry
from keys.encoding import b64u_decode, b64u_encode
from keys.invites import Invite
from keys.requests import sign_request
from keys.wire import from_wire
from tests.support.processes import BIN, environment, free_port, running_server, server_cli, server_log, wait_healthy


def test_init_prints_an_invite_and_refuses_to_overwrite(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    first = server_cli("init", "--data", str(data), "--json", env=environment())
    assert first.returncode == 0, first.stderr
    invite = Invite.decode(json.loads(first.stdout.strip().splitlines()[-1])["invite"])
    assert invite.head_seq == 0 and invite.server == "http://127.0.0.1:8080"
    plain = server_cli("init", "--data", str(data), env=environment())
    assert plain.returncode == 2 and "refusing to overwrite" in plain.stderr
    assert "Traceback" not in plain.stderr
    assert (data / "server.key").stat().st_mode & 0o077 == 0
    migrate = server_cli("migrate", "--data", str(data), env=environment())
    assert migrate.returncode == 0 and "up to date" in migrate.stdout


def test_a_wrong_setting_stops_start_up_with_its_name(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    assert server_cli("init", "--data", str(data), env=environment()).returncode == 0
    config = data / "tessera-server.toml"
    config.write_text(config.read_text().replace("rate_limit = 600", 'rate_limit = "lots"'))
    result = server_cli("run", "--data", str(data), env=environment())
    assert result.returncode == 2 and "rate_limit" in result.stderr and "Traceback" not in result.stderr
    env = {**environment(), "TESSERA_METRICS": "everyone"}
    config.write_text(config.read_text().replace('rate_limit = "lots"', "rate_limit = 600"))
    result = server_cli("run", "--data", str(data), env=env)
    assert result.returncode == 2 and "metrics" in result.stderr


def test_run_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    assert server_cli("init", "--data", str(data), env=environment()).returncode == 0
    port = free_port()
    with running_server(data, port, env=environment()) as process:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    output = server_log(data, port)
    assert "listening on" in output and "Traceback" not in output


@pytest.fixture(params=["sqlite", "postgres"])
def db_args(request: pytest.FixtureRequest) -> list[str]:
    """`init` arguments for the database several server processes share: SQLite in the data directory,
    or a fresh PostgreSQL database (skipped where none answers)."""
    return [] if request.param == "sqlite" else ["--db", request.getfixturevalue("pg_url")]


async def test_two_processes_on_one_database_behave_as_one(tmp_path: Path, db_args: list[str]) -> None:
    data = tmp_path / "srv"
    init = server_cli("init", "--data", str(data), *db_args, "--json", env=environment())
    assert init.returncode == 0, init.stderr
    invite = Invite.decode(json.loads(init.stdout.strip().splitlines()[-1])["invite"])
    port_a, port_b = free_port(), free_port()
    with running_server(data, port_a, env=environment()), running_server(data, port_b, env=environment()):
        async with aiohttp.ClientSession() as session:
            a = Api(f"http://127.0.0.1:{port_a}", session)
            b = Api(f"http://127.0.0.1:{port_b}", session)
            admin_keys = AccountKeys.generate()
            await join(a, invite, admin_keys, name=None, now=int(time.time()))
            admin_a, admin_b = a.as_principal("admin", admin_keys), b.as_principal("admin", admin_keys)
            # requests alternate between the two processes in one client session
            for api in (admin_a, admin_b, admin_a, admin_b):
                assert (await api.call("GET", "/v1/directory"))["entries"]
            # a nonce used on one process is refused by the other
            headers = sign_request(
                admin_keys, principal="admin", method="GET", path="/v1/directory", query="", body=b"", timestamp=int(time.time())
            ).as_dict()
            async with session.get(f"http://127.0.0.1:{port_a}/v1/directory", headers=headers) as response:
                assert response.status == 200
            async with session.get(f"http://127.0.0.1:{port_b}/v1/directory", headers=headers) as response:
                assert response.status == 401
            # also for a request meant to change state (refused here: an administrator submits no intakes)
            path = f"/v1/cases/{b64u_encode(bytes(16))}"
            headers = sign_request(
                admin_keys, principal="admin", method="PUT", path=path, query="", body=b"{}", timestamp=int(time.time())
            ).as_dict()
            async with session.put(f"http://127.0.0.1:{port_a}{path}", data=b"{}", headers=headers) as response:
                assert response.status == 403
            async with session.put(f"http://127.0.0.1:{port_b}{path}", data=b"{}", headers=headers) as response:
                assert response.status == 401
            # entries written through both processes chain up into one audit log
            helper = AccountKeys.generate()
            last = from_wire(DirectoryEntry, (await admin_b.call("GET", "/v1/directory"))["entries"][-1])
            hinvite = await make_invite(
                admin_b,
                admin_name="admin",
                admin_keys=admin_keys,
                account="h1",
                role="helper",
                today=int(time.time()) // 86400,
                head_seq=last.seq,
                head_hash=last.hash(),
            )
            await join(a, hinvite, helper, name=None, now=int(time.time()))
            # state changes racing through both processes: every one lands, in one chain
            today = int(time.time()) // 86400
            invites = await asyncio.gather(
                *(
                    make_invite(
                        api,
                        admin_name="admin",
                        admin_keys=admin_keys,
                        account=f"r{i}",
                        role="helper",
                        today=today,
                        head_seq=last.seq,
                        head_hash=last.hash(),
                    )
                    for i, api in enumerate([admin_a, admin_b] * 15)
                )
            )
            assert len({invite.invite_id for invite in invites}) == 30
            # revocation through A is effective at once on B
            helper_b = b.as_principal("h1", helper)
            await helper_b.call("GET", "/v1/directory")
            await revoke_account(admin_a, admin_keys, "h1", directory=from_genesis(admin_a))
            with pytest.raises(ApiError) as caught:
                await helper_b.call("GET", "/v1/directory")
            assert caught.value.status == 401
            audit = (await admin_b.call("GET", "/v1/audit"))["entries"]
            assert verify_entries(audit) == (len(audit), b64u_decode(audit[-1]["hash"]))  # one intact chain
            assert sum(e["action"] == "invite.created" for e in audit) == 1 + 1 + 30  # admin, h1, the race


def test_workers_are_counted(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    assert server_cli("init", "--data", str(data), env=environment()).returncode == 0
    result = server_cli("run", "--data", str(data), "--workers", "65", env=environment())
    assert result.returncode == 2 and "--workers must be from 2 to 64" in result.stderr


@contextlib.contextmanager
def two_workers(tmp_path: Path, db_args: list[str]) -> Iterator[tuple[subprocess.Popen[str], list[int], Path]]:
    """`tessera-server run --workers 2` on a new organisation, once healthy: (the parent, its two workers, the
    log both write). Killed at the end if it still runs."""
    data = tmp_path / "srv"
    assert server_cli("init", "--data", str(data), *db_args, env=environment()).returncode == 0
    port = free_port()
    log = tmp_path / "workers.log"
    with log.open("w") as out:
        parent = subprocess.Popen(
            [str(BIN / "tessera-server"), "run", "--data", str(data), "--listen", f"127.0.0.1:{port}", "--workers", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment(),
        )
        try:
            wait_healthy(port, parent, log)
            for _ in range(20):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5) as response:
                    assert response.status == 200
            found = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True, check=False)
            children = [int(pid) for pid in found.stdout.split()]
            assert len(children) == 2
            yield parent, children, log
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait()


def test_workers_share_one_port(tmp_path: Path, db_args: list[str]) -> None:
    with two_workers(tmp_path, db_args) as (parent, _, log):
        deadline = time.monotonic() + 30  # both workers finish their start-up checks
        while log.read_text().count("listening on") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0
    assert log.read_text().count("listening on") == 2


def test_a_worker_that_dies_stops_the_server(tmp_path: Path) -> None:
    # a server short of a worker must not look healthy: the parent stops the other one and fails, so its
    # supervisor (systemd: Restart=on-failure) starts it whole again
    with two_workers(tmp_path, []) as (parent, children, log):
        os.kill(children[0], signal.SIGKILL)
        assert parent.wait(timeout=30) == 2
    assert f"worker {children[0]} ended (exit -9); stopping the others" in log.read_text()
    with pytest.raises(ProcessLookupError):
        os.kill(children[1], 0)  # the other worker is gone too (reaped by the parent)


def test_shred_without_a_retention_period_does_nothing(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    assert server_cli("init", "--data", str(data), env=environment()).returncode == 0
    result = server_cli("shred", "--data", str(data), env=environment())
    assert result.returncode == 0 and "nothing is ever shredded" in result.stdout
    config = data / "tessera-server.toml"
    config.write_text(config.read_text().replace("decided = 0", "decided = 365"))
    result = server_cli("shred", "--data", str(data), "--dry-run", env=environment())
    assert result.returncode == 0 and "would shred 0 case(s)" in result.stdout
    config.write_text(config.read_text().replace("decided = 365", "decided = -1"))
    result = server_cli("shred", "--data", str(data), env=environment())
    assert result.returncode == 2 and "decided" in result.stderr
