"""Real processes on real ports on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tessera-server"), *args], capture_output=True, text=True, timeout=120, env=env, check=False)


@contextmanager
def running_server(data: Path, port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """A `tessera-server run` process; its output goes to DATA.PORT.log (read it with `server_log`)."""
    log = data.parent / f"{data.name}.{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "tessera-server"), "run", "--data", str(data), "--listen", f"127.0.0.1:{port}"],
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
