"""Server signing-key rotation: announced in the directory signed by old and new key; clients keep
verifying (old checkpoints under the old key, new ones under the new); an interrupted rotation finishes at
the next start; a running server makes rotate-key refuse; a wrong key file stops start-up."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.processes import BIN, Cli, build_organisation, environment, free_port, init_server, running_server, server_cli


def test_rotation_keeps_every_client_verifying(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "srv"
    port = free_port()
    invite = init_server(data, f"http://127.0.0.1:{port}")
    with running_server(data, port, env=environment()):
        build_organisation(cli, invite)
        assert "hash chain intact" in cli.ok("admin", "audit", "verify")
        refused = server_cli("rotate-key", "--data", str(data), env=environment())
        assert refused.returncode == 2 and "stop it first" in refused.stderr
    old_key = (data / "server.key").read_bytes()
    result = server_cli("rotate-key", "--data", str(data), env=environment())
    assert result.returncode == 0, result.stderr
    assert (data / "server.key").read_bytes() != old_key and not (data / "server.key.new").exists()
    with running_server(data, port, env=environment()):
        assert "hash chain intact" in cli.ok("admin", "audit", "verify")  # checkpoints now signed by the new key
        assert "key directory verified" in cli.ok("hana", "sync")
        assert "council key of epoch 1" in cli.ok("kim", "sync")


def test_an_interrupted_rotation_is_finished_at_start_and_a_wrong_key_refused(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "srv"
    port = free_port()
    invite = init_server(data, f"http://127.0.0.1:{port}")
    with running_server(data, port, env=environment()):
        cli.ok("admin", "join", invite, "--name", "admin")
    old = tmp_path / "old.key"
    shutil.copy2(data / "server.key", old)
    assert server_cli("rotate-key", "--data", str(data), env=environment()).returncode == 0
    # as if the process died after the database commit but before the key file was replaced:
    shutil.copy2(data / "server.key", data / "server.key.new")
    shutil.copy2(old, data / "server.key")
    with running_server(data, port, env=environment()):
        assert "hash chain intact" in cli.ok("admin", "audit", "verify")
    assert not (data / "server.key.new").exists()
    # a key file that the directory does not name stops start-up with a message
    (data / "server.key").write_bytes(b"\x07" * 64)
    result = subprocess.run(
        [str(BIN / "tessera-server"), "run", "--data", str(data), "--listen", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(),
        check=False,
    )
    assert result.returncode != 0 and "not the server key the key directory names" in (result.stdout + result.stderr)
