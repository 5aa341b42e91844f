"""`tessera app` as a person starts it: a real process on 127.0.0.1 that prints its one-time link, keeps a
private upload folder in memory, and removes it when stopped."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_the_app_prints_its_link_serves_only_loopback_and_cleans_up_when_stopped(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    process = subprocess.Popen(
        [str(BIN / "tessera"), "--home", str(tmp_path / "home"), "app", "--no-browser", "--lang", "ko"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        link = None
        for _line in range(10):
            found = re.search(r"http://127\.0\.0\.1:(\d+)/open\?token=([\w-]+)", process.stdout.readline())
            if found:
                link = found
                break
        assert link is not None, "no opening link printed"
        folders = list(runtime.glob("tessera-app-*"))
        assert len(folders) == 1 and oct(folders[0].stat().st_mode & 0o777) == "0o700"
        connection = http.client.HTTPConnection("127.0.0.1", int(link.group(1)), timeout=10)
        connection.request("GET", f"/open?token={link.group(2)}")
        answer = connection.getresponse()
        assert answer.status == 303 and "HttpOnly" in (answer.getheader("Set-Cookie") or "")
        answer.read()
        connection.request("GET", f"/open?token={link.group(2)}")
        again = connection.getresponse()
        assert again.status == 403  # once only
        again.read()
        connection.close()
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    assert process.returncode == 0, out
    assert not list(runtime.glob("tessera-app-*"))
