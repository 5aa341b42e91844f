"""The verification suite (`make verify`): slower, adversarial checks of what Tessera claims.

Fixtures come from the server tests (an in-process app on SQLite or PostgreSQL) and the e2e tests
(the CLI against real processes)."""

from tests.e2e.conftest import cli, pg_url
from tests.server.conftest import backend, client, clock, config, server_dir, world

__all__ = ["backend", "cli", "client", "clock", "config", "pg_url", "server_dir", "world"]
