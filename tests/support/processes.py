"""Real processes on real ports on 127.0.0.1: `tessera-server` started and stopped, and the in-process CLI
runner the e2e tests use (`Cli`). Its fixtures are in tests/e2e/conftest.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from client.main import main

BIN = Path(sys.executable).parent


PASSPHRASE = "six words at least here for everyone"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tessera-server"), *args], capture_output=True, text=True, timeout=120, env=env, check=False)


@contextmanager
def running_server(
    data: Path, port: int, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> Iterator[subprocess.Popen[str]]:
    """A `tessera-server run` process; its output goes to DATA.PORT.log (read it with `server_log`)."""
    log = data.parent / f"{data.name}.{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "tessera-server"), "run", "--data", str(data), "--listen", f"127.0.0.1:{port}", *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        try:
            wait_healthy(port, process, log)
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def server_log(data: Path, port: int) -> str:
    return (data.parent / f"{data.name}.{port}.log").read_text()


def wait_healthy(port: int, process: subprocess.Popen[str], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not become healthy")


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}


@dataclass
class Cli:
    root: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, who: str, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--home", str(self.root / who), *argv])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    def ok(self, who: str, *argv: str) -> str:
        code, out, err = self.run(who, *argv)
        assert code == 0, err
        return out


def init_server(data: Path, url: str) -> str:
    """`tessera-server init` for a server reached at `url`; returns the administrator's first invite."""
    init = server_cli("init", "--data", str(data), "--url", url, "--json", env=environment())
    assert init.returncode == 0, init.stderr
    return str(json.loads(init.stdout.strip().splitlines()[-1])["invite"])


def step_until_done(cli: Cli, members: tuple[str, ...]) -> None:
    """Each member runs `council ceremony step` in turn until all report the ceremony done."""
    for _ in range(6):
        if all(["done" in cli.ok(m, "council", "ceremony", "step", "--yes", "--accept-unverified") for m in members]):
            return
    raise AssertionError(f"the ceremony did not finish for {', '.join(members)}")


def reveal(cli: Cli, case: str, requester: str, approvers: tuple[str, ...], purpose: str = "hospital", *more: str) -> Any:
    """A whole reveal through the CLI: `requester` asks, each of `approvers` approves, `requester` opens;
    returns what `reveal open --json` printed (`more`: extra options for it)."""
    request = cli.ok(requester, "reveal", "request", case, "--purpose", purpose).strip()
    for who in approvers:
        cli.ok(who, "reveal", "approve", request, "--yes")
    return json.loads(cli.ok(requester, "reveal", "open", request, *more, "--json"))


def build_organisation(cli: Cli, invite: str, *, helper_form: str | None = None, form_dir: Path | None = None) -> str | None:
    """admin, council kim/lee/park (2 of 3) with their key ceremony, helper hana; optionally one intake."""
    cli.ok("admin", "join", invite, "--name", "admin")
    for name, role in {"kim": "council", "lee": "council", "park": "council", "hana": "helper"}.items():
        cli.ok(name, "join", cli.ok("admin", "admin", "invite", "--role", role, "--name", name).strip(), "--name", name)
    cli.ok("admin", "council", "ceremony", "start", "--threshold", "2", "--members", "kim,lee,park")
    step_until_done(cli, ("kim", "lee", "park"))
    if helper_form is None or form_dir is None:
        return None
    form = form_dir / "form.toml"
    form.write_text(helper_form)
    return cli.ok("hana", "intake", "submit", "--kind", "medical", "--form", str(form)).strip().splitlines()[-1]
