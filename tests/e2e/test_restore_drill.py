"""Issue 26 item 8: the restore drill runs word for word as docs/operations.md gives it, and `init --url` with a
loopback address writes the listen address the invites point to (item 7).

Against the old code: the configuration named the SQLite database by its absolute path, so the configuration
copied into NEWDIR pointed the restore at the live database, which refused ("this database holds an
organisation already"); and `init --url http://127.0.0.1:PORT` wrote `listen = "127.0.0.1:8080"`."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import CONFIG_NAME, load_config
from tests.support.processes import Cli, build_organisation, environment, free_port, init_server, running_server, server_cli

from .test_cli import MEDICAL

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
BIN = Path(sys.executable).parent


def drill_lines() -> list[str]:
    """The command lines of the drill's code block in docs/operations.md."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("**Drill, every three months**") :]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None, "the drill has no code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_restore_drill_works_word_for_word(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, port = tmp_path / "srv", free_port()
    invite = init_server(data, f"http://127.0.0.1:{port}")
    with running_server(data, port, env=environment()):
        build_organisation(cli, invite, helper_form=MEDICAL, form_dir=tmp_path)
        monkeypatch.chdir(tmp_path)
        backup = server_cli("backup", "--data", str(data), "--out", "tessera-2026-11-27.tar.gz", env=environment())
        assert backup.returncode == 0, backup.stderr
        lines = drill_lines()
        assert len(lines) == 6 and lines[3].startswith("tessera-server run")
        words = {"DIR": str(data), "NEWDIR": str(tmp_path / "drill"), "H": str(cli.root / "kim")}

        def argv(line: str) -> list[str]:
            return [re.sub(r"^(NEWDIR|DIR|H)(?=/|$)", lambda m: words[m.group(1)], w) for w in shlex.split(line)]

        for line in lines[:3]:  # mkdir, cp, restore: as a shell user types them
            command = argv(line)
            binary = str(BIN / command[0]) if command[0].startswith("tessera") else shutil.which(command[0])
            assert binary is not None
            done = subprocess.run([binary, *command[1:]], capture_output=True, text=True, env=environment(), check=False)
            assert done.returncode == 0, f"{line}: {done.stderr}"
        assert "restored" in done.stdout
        run = argv(lines[3])
        new_port = int(run[run.index("--listen") + 1].rsplit(":", 1)[1])
        with running_server(tmp_path / "drill", new_port, env=environment()):
            audit = argv(lines[4])
            assert audit[0] == "tessera" and audit[1:3] == ["--home", str(cli.root / "kim")]
            assert "hash chain intact" in cli.ok("kim", *audit[3:])
            assert "medical" in cli.ok("kim", *argv(lines[5])[3:])


def test_a_restore_with_an_old_absolute_configuration_says_what_to_change(cli: Cli, tmp_path: Path) -> None:
    data, port = tmp_path / "srv", free_port()
    init_server(data, f"http://127.0.0.1:{port}")
    backup = server_cli("backup", "--data", str(data), "--out", str(tmp_path / "b.tar.gz"), env=environment())
    assert backup.returncode == 0, backup.stderr
    new = tmp_path / "drill"
    new.mkdir(mode=0o700)
    config = (data / CONFIG_NAME).read_text().replace('"sqlite:///tessera.db"', f'"sqlite:///{data.resolve()}/tessera.db"')
    (new / CONFIG_NAME).write_text(config)  # what an earlier version wrote, copied as the drill says
    shutil.copy(data / "server.key", new / "server.key")
    refused = server_cli("restore", "--data", str(new), str(tmp_path / "b.tar.gz"), env=environment())
    assert refused.returncode != 0 and 'db_url = "sqlite:///tessera.db"' in refused.stderr and str(new) in refused.stderr


def test_init_with_a_loopback_url_listens_where_the_invites_point(tmp_path: Path) -> None:
    port = free_port()
    init_server(tmp_path / "srv", f"http://127.0.0.1:{port}")
    config = load_config(tmp_path / "srv", environ={})
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", port)
    assert config.db_url == f"sqlite:///{(tmp_path / 'srv' / 'tessera.db').resolve()}"
    onion = tmp_path / "onion"
    init_server(onion, "http://abcdefghijklmnop.onion")
    assert load_config(onion, environ={}).listen_port == 8080  # Tor forwards to the default
