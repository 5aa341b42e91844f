"""The `tessera` command: one dispatcher that maps each error class to a message and an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from keys.errors import TesseraError
from keys.group import self_test

EXIT_USER_ERROR = 2
NOT_BUILT = "not built yet: the server and the client commands come with issues 3 and 4"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera", description="Tessera client: end-to-end encrypted case intake.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="run the whole story against a real local server (not built yet)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        self_test()
        if args.command == "demo":
            print(f"tessera demo: {NOT_BUILT}")
            return 0
        parser.print_help()
        return EXIT_USER_ERROR
    except TesseraError as exc:
        print(f"tessera: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
