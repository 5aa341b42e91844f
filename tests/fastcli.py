"""The `tessera` command in its own process with the test suite's cheap keystore cost injected (as
tests/conftest.py does in the test process). Only for tests and benches on throwaway homes."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BOOT = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from tests.fastcli import main; sys.exit(main(sys.argv[1:]))"


def command(*argv: str) -> list[str]:
    """The argv of a process running `tessera ARGV...` with the cheap cost, from any working directory."""
    return [sys.executable, "-c", _BOOT, *argv]


def main(argv: list[str]) -> int:
    from client.home import KdfPolicy, use_kdf_policy
    from client.main import main as tessera

    use_kdf_policy(KdfPolicy.insecure_fast())
    return tessera(argv)
