"""The deployment files parse and say what docs/operations.md promises; they build and run where a
container engine or systemd exists (skipped with the reason elsewhere)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from client.attachments import PART_CHUNKS
from keys.attachments import CHUNK, CHUNK_OVERHEAD
from server.config import Config, load_config
from server.http.routes import PART_LIMIT
from server.main import build_parser

DEPLOY = Path(__file__).parents[2] / "deploy"


def test_compose_publishes_no_clearnet_port_and_holds_no_secret() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "tessera", "tor"}
    assert not any("ports" in s for s in services.values()), "no service publishes a port"
    assert compose["networks"]["backend"]["internal"] is True
    tessera = services["tessera"]
    assert (
        tessera["read_only"] is True
        and "ALL" in tessera["cap_drop"]
        and tessera["depends_on"]["postgres"]["condition"] == "service_healthy"
    )
    assert compose["secrets"]["pg_password"]["file"].startswith("./secrets/")
    # a password or secret is passed only as a file from the secrets, never as a value in the file
    for name, service in services.items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):  # the "- KEY=value" form
            environment = dict(item.partition("=")[::2] for item in environment)
        for key, value in environment.items():
            if re.search(r"(?i)passw|secret|token", key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), f"{name}: {key}"
    text = (DEPLOY / "compose.yaml").read_text()
    for key, value in re.findall(r"(?i)([\w.-]*passw[\w.-]*)[ \t]*[:=][ \t]*([^\s,{}\[\]]+)", text):
        assert value.startswith("/run/secrets/"), f"{key} has a value in compose.yaml"
    assert (
        "@postgres:5432" in tessera["environment"]["TESSERA_DB_URL"]
        and ":" not in tessera["environment"]["TESSERA_DB_URL"].split("//")[1].split("@")[0]
    )
    assert (DEPLOY / "tor" / "torrc").read_text().count("HiddenServicePort 80 tessera:8080") == 1


def test_container_image_is_non_root_with_a_health_check() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/v1/health" in text
    assert re.search(r"^FROM python:3\.\d+-slim", text, re.MULTILINE)


def test_gitignore_keeps_secrets_out() -> None:
    ignored = (Path(__file__).parents[2] / ".gitignore").read_text().splitlines()
    assert "secrets/" in ignored and "*.key" in ignored


def test_systemd_unit_is_sandboxed() -> None:
    unit = (DEPLOY / "tessera-server.service").read_text()
    for line in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "User=tessera",
        "CapabilityBoundingSet=",
        "UMask=0077",
    ):
        assert line in unit, line


def test_systemd_unit_runs_a_valid_command() -> None:
    unit = (DEPLOY / "tessera-server.service").read_text()
    (line,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    program, *args = shlex.split(line.removeprefix("ExecStart="))
    assert program.endswith("/tessera-server")
    parsed = build_parser().parse_args(args)
    assert (parsed.command, str(parsed.data), parsed.workers) == ("run", "/var/lib/tessera", 2)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_units_verify(tmp_path: Path) -> None:
    for name in ("tessera-server.service", "tessera-backup.service", "tessera-backup.timer"):
        result = subprocess.run(["systemd-analyze", "verify", str(DEPLOY / name)], capture_output=True, text=True, check=False)
        errors = [
            line
            for line in result.stderr.splitlines()
            if "tessera" in line and "not found" not in line and "/opt/tessera" not in line
        ]
        assert not errors, errors


def test_reverse_proxy_logs_no_addresses() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    log_formats = re.findall(r"log_format [^;]+;", conf)
    assert log_formats and not any("remote_addr" in f or "http_user_agent" in f or "forwarded" in f for f in log_formats)
    assert 'proxy_set_header X-Forwarded-For "";' in conf


def test_reverse_proxy_passes_a_whole_upload_part_and_shows_no_version() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    (size,) = re.findall(r"^\s*client_max_body_size\s+(\d+)([kKmM]?);", conf, re.MULTILINE)
    limit = int(size[0]) * {"": 1, "k": 1024, "m": 1024**2}[size[1].lower()]
    client_part = PART_CHUNKS * (CHUNK + CHUNK_OVERHEAD)  # what `tessera attach` sends per request
    assert limit >= client_part and limit >= PART_LIMIT, (limit, client_part, PART_LIMIT)
    assert re.search(r"^\s*server_tokens\s+off;", conf, re.MULTILINE)
    assert ":9464" not in conf.split("upstream tessera", 1)[1].split("}", 1)[0], "the metrics port is never proxied"


def test_systemd_unit_allows_the_connection_cap() -> None:
    unit = (DEPLOY / "tessera-server.service").read_text()
    (limit,) = re.findall(r"^LimitNOFILE=(\d+)$", unit, re.MULTILINE)
    assert int(limit) > Config(data_dir=Path(), db_url="").max_connections + 64  # the default cap, and the database files


def test_sample_configuration_is_valid(tmp_path: Path) -> None:
    (tmp_path / "tessera-server.toml").write_text((DEPLOY / "tessera-server.example.toml").read_text())
    config = load_config(tmp_path, environ={})
    assert config.db_url.startswith("postgresql://") and config.metrics == "off" and config.listen_host == "127.0.0.1"
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    with_password = load_config(tmp_path, environ={"TESSERA_DB_PASSWORD_FILE": str(password)})
    assert "s3cret@" in with_password.db_url


def _engine_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _engine_available(), reason="no container engine runs here (the docker client alone cannot build)")
def test_image_builds_and_reports_healthy() -> None:  # pragma: no cover - needs a container engine
    root = DEPLOY.parent
    build = subprocess.run(["docker", "build", "-f", str(DEPLOY / "Containerfile"), "-t", "tessera-test", str(root)], check=False)
    assert build.returncode == 0
    version = subprocess.run(["docker", "run", "--rm", "tessera-test", "--help"], capture_output=True, text=True, check=False)
    assert "tessera-server" in version.stdout
