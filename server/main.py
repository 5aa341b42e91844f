"""The `tessera-server` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from keys.group import self_test


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tessera-server", description="Tessera server: stores only ciphertext.")
    parser.parse_args(argv)
    self_test()
    print("tessera-server: not built yet (issue 3)", file=sys.stderr)
    return 2


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
