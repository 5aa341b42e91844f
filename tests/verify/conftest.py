"""The verification suite (`make verify`): slower, adversarial checks of what Tessera claims."""

from tests.e2e.conftest import Cli, cli

__all__ = ["Cli", "cli"]
