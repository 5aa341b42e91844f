"""Server configuration: one TOML file in the data directory plus environment overrides, loaded and
validated once at start-up into a frozen object. A wrong value stops start-up with a message naming it."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from keys.decisions import ACTIONS, CASE_STATES
from server.errors import ConfigError

CONFIG_NAME = "tessera-server.toml"
KEY_NAME = "server.key"
DB_NAME = "tessera.db"

TEMPLATE = """\
# Tessera server configuration. Environment variables override these values:
# TESSERA_DB_URL, TESSERA_LISTEN, TESSERA_METRICS, TESSERA_RATE_LIMIT; and TESSERA_DB_PASSWORD_FILE names a
# file whose first line is the database password (so no password needs to be written here).

# Where the database is. SQLite (a file in this directory) is the default: a relative path such as
# "sqlite:///tessera.db" is inside this data directory, so a copy of this file in another data directory (the
# restore drill) uses that directory's database. For several server processes use PostgreSQL:
# "postgresql://user@host:5432/tessera".
db_url = "{db_url}"

# Address to listen on. Keep it on loopback and publish it through Tor or a reverse proxy.
listen = "{listen}"

# Requests per principal per minute before 429 answers.
rate_limit = 600

# Anonymous submission tokens a helper may be issued per token period (7 days): each intake spends one.
token_budget = 100

# Accepted clock difference between a client and this server, in seconds.
clock_skew = 300

# Prometheus metrics: "off", or a loopback address of their own, e.g. "127.0.0.1:9464", never the API's
# (the reverse proxy and Tor forward only the API's port). With --workers they are the sum over the processes.
metrics = "off"

# Largest request body in bytes (an intake is a few KiB; attachments use their own route).
max_body = 1048576

# Memory for request bodies being read or handled at once, per server process, in bytes; past it new
# requests wait a few seconds for room, then get 503 with Retry-After.
body_memory = 33554432

# Open connections per server process; past it a new connection gets 503 and is closed.
max_connections = 4096

# Largest attachment (photo, document) in bytes after padding; uploads stream in parts, never whole.
max_attachment = 2147483648

[quorum]
# Votes needed to adopt a decision, per action: "majority" (of the current council) or a number.
approve = "majority"
decline = "majority"
request-info = "majority"
close = "majority"

[retention]
# Days after its intake day that a case in this state is crypto-shredded (its ciphertext, key wraps,
# identity header, messages and decisions deleted; the audit entries remain). 0 keeps it forever.
# `tessera-server shred` applies it; a running server applies it once a day.
open = 0
decided = 0
closed = 0
"""


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: Path
    db_url: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    rate_limit: int = 600
    token_budget: int = 100  # anonymous submission tokens per helper per token period
    clock_skew: int = 300
    metrics: str = "off"
    max_body: int = 1024 * 1024
    max_attachment: int = 2 * 1024**3
    body_memory: int = 32 * 1024 * 1024
    max_connections: int = 4096
    quorum: Mapping[str, str | int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, "majority"))
    retention: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(CASE_STATES, 0))

    @property
    def key_path(self) -> Path:
        return self.data_dir / KEY_NAME

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """Where the metrics listener listens, or None when metrics are off."""
        return None if self.metrics == "off" else _parse_listen(self.metrics, "metrics")

    def with_listen(self, listen: str) -> Config:
        host, port = _parse_listen(listen, "--listen")
        return replace(self, listen_host=host, listen_port=port)


RELATIVE_DB_URL = f"sqlite:///{DB_NAME}"  # what `init` writes: the database file inside the data directory
DEFAULT_LISTEN = "127.0.0.1:8080"


def default_db_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / DB_NAME).resolve()}"


def sqlite_path(db_url: str) -> Path | None:
    """The file of a SQLite URL as written (relative or absolute); None for another database."""
    return Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite:///") else None


def resolve_db_url(db_url: str, data_dir: Path) -> str:
    """A SQLite URL with a relative path made absolute inside `data_dir`; any other URL unchanged."""
    path = sqlite_path(db_url)
    if path is None or path.is_absolute():
        return db_url
    return f"sqlite:///{(data_dir / path).resolve()}"


def write_template(data_dir: Path, db_url: str, listen: str = DEFAULT_LISTEN) -> None:
    _parse_listen(listen, "listen")
    path = data_dir / CONFIG_NAME
    path.write_text(TEMPLATE.format(db_url=db_url.replace('"', '\\"'), listen=listen), encoding="utf-8")
    path.chmod(0o600)


def _parse_listen(value: str, name: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}: expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _metrics(value: object) -> str:
    """ "off" or a loopback HOST:PORT of the metrics' own listener."""
    if value == "off":
        return "off"
    if value == "loopback":
        raise ConfigError(
            'metrics: "loopback" is no longer accepted (behind a local reverse proxy or Tor every caller is loopback); '
            'give the metrics a port of their own, e.g. metrics = "127.0.0.1:9464"'
        )
    host, port = _parse_listen(str(value), "metrics")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ConfigError(f"metrics: expected a loopback address such as 127.0.0.1:9464, got {value!r}")
    return f"{host}:{port}"


def _int(raw: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = raw.get(name, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{name}: expected a whole number from {low} to {high}, got {value!r}")
    return value


def _with_password(db_url: str, path: Path) -> str:
    try:
        password = path.read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError):
        raise ConfigError(f"TESSERA_DB_PASSWORD_FILE: cannot read a password from {path}") from None
    return make_url(db_url).set(password=password).render_as_string(hide_password=False)


def load_config(data_dir: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read DATA_DIR/tessera-server.toml and the TESSERA_* overrides; raises ConfigError naming a bad value."""
    env = os.environ if environ is None else environ
    path = data_dir / CONFIG_NAME
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: run `tessera-server init --data {data_dir}` first") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    overrides = {
        "db_url": "TESSERA_DB_URL",
        "listen": "TESSERA_LISTEN",
        "metrics": "TESSERA_METRICS",
        "rate_limit": "TESSERA_RATE_LIMIT",
    }
    for key, var in overrides.items():
        if env.get(var):
            raw[key] = env[var]
    known = {
        "db_url",
        "listen",
        "rate_limit",
        "token_budget",
        "clock_skew",
        "metrics",
        "max_body",
        "max_attachment",
        "body_memory",
        "max_connections",
        "quorum",
        "retention",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    db_url = raw.get("db_url") or default_db_url(data_dir)
    if not isinstance(db_url, str) or not db_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(f"db_url: expected sqlite:///PATH or postgresql://..., got {db_url!r}")
    db_url = resolve_db_url(db_url, data_dir)
    if env.get("TESSERA_DB_PASSWORD_FILE"):
        db_url = _with_password(db_url, Path(env["TESSERA_DB_PASSWORD_FILE"]))
    host, port = _parse_listen(str(raw.get("listen", "127.0.0.1:8080")), "listen")
    metrics = _metrics(raw.get("metrics", "off"))
    if metrics != "off" and _parse_listen(metrics, "metrics") == (host, port):
        raise ConfigError("metrics: give the metrics a port of their own, not the API's (listen)")
    quorum_raw = raw.get("quorum", {})
    if not isinstance(quorum_raw, dict) or set(quorum_raw) - set(ACTIONS):
        raise ConfigError(f"quorum: expected a table with keys {', '.join(ACTIONS)}")
    quorum: dict[str, str | int] = dict.fromkeys(ACTIONS, "majority")
    for action, value in quorum_raw.items():
        if value != "majority" and not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 255):
            raise ConfigError(f'quorum.{action}: expected "majority" or a number from 1 to 255, got {value!r}')
        quorum[action] = value
    retention_raw = raw.get("retention", {})
    if not isinstance(retention_raw, dict) or set(retention_raw) - set(CASE_STATES):
        raise ConfigError(f"retention: expected a table with keys {', '.join(CASE_STATES)}")
    retention = {state: _int(retention_raw, state, 0, 0, 100 * 365) for state in CASE_STATES}
    return Config(
        data_dir=data_dir,
        db_url=db_url,
        listen_host=host,
        listen_port=port,
        rate_limit=_int(raw, "rate_limit", 600, 1, 1_000_000),
        token_budget=_int(raw, "token_budget", 100, 1, 100_000),
        clock_skew=_int(raw, "clock_skew", 300, 30, 3600),
        metrics=str(metrics),
        max_body=_int(raw, "max_body", 1024 * 1024, 16 * 1024, 64 * 1024 * 1024),
        max_attachment=_int(raw, "max_attachment", 2 * 1024**3, 1024 * 1024, 64 * 1024**3),
        body_memory=_int(raw, "body_memory", 32 * 1024 * 1024, 16 * 1024 * 1024, 16 * 1024**3),
        max_connections=_int(raw, "max_connections", 4096, 16, 1_000_000),
        quorum=quorum,
        retention=retention,
    )
