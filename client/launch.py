"""The `tessera` program's entry point: it starts unlocking the keystore before the rest of the program loads.

Unlocking is one Argon2id derivation, about a second on purpose; loading the program (aiohttp, the commands, the
API contract) is about half a second more. The derivation runs in C without Python's lock, so when the passphrase
comes without a prompt (`--passphrase-file`, TESSERA_PASSPHRASE: scripts, the demo) it starts here, in a thread,
and the program loads on the other core meanwhile; `Session.open_home` then takes the unlocked home instead of
deriving again (issue 21's target: `tessera cases list` within 1.3 times one unlock plus the interpreter's start,
bench/cli.py). A passphrase typed at the prompt is asked for after the program loaded, as before: the person's
typing hides the loading.

Only what the arguments say for sure starts early: a home that exists, a passphrase that needs no prompt, a
command that opens the home. A guess that turns out unused costs one derivation in a thread nobody waits for;
it changes nothing the command does (the session still reads the passphrase and compares it with the early one).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from client.home import KEYSTORE, PASSPHRASE_ENV, Home, default_home
from client.i18n import asked_for, speaking

# commands that never open an existing home: nothing to start for them
NO_HOME = frozenset({"demo", "app", "join"})


@dataclass
class EarlyUnlock:
    """A home being unlocked in a thread; `take` returns it (or raises what unlocking raised) when asked for the
    same home with the same passphrase, and None otherwise."""

    path: Path
    passphrase: str
    language: str = "en"  # what the command speaks: an error raised here is worded as main() would word it
    _done: threading.Event = field(default_factory=threading.Event)
    _home: Home | None = None
    _error: BaseException | None = None

    def run(self) -> None:
        try:
            with speaking(self.language):  # a thread starts with its own context: English unless told
                self._home = Home.open(self.path, self.passphrase)
        except BaseException as exc:  # handed to the main thread as it is, raised there
            self._error = exc
        finally:
            self._done.set()

    def take(self, path: Path, passphrase: str) -> Home | None:
        if path.resolve() != self.path.resolve() or passphrase != self.passphrase:
            return None
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._home


class _Quiet(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def _globals() -> argparse.ArgumentParser:
    """The options before the command (client/main.py build_parser), and the rest."""
    parser = _Quiet(add_help=False, allow_abbrev=False)
    for option in ("--home", "--server", "--proxy", "--passphrase-file", "--lang"):
        parser.add_argument(option)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def start(argv: list[str]) -> EarlyUnlock | None:
    """Start unlocking the home `argv` names when it is sure to be opened; None otherwise."""
    if any(a in ("-h", "--help", "--version") for a in argv):
        return None
    try:
        args, _unknown = _globals().parse_known_args(argv)
    except ValueError:
        return None
    if not args.rest or args.rest[0] in NO_HOME or args.rest[0].startswith("-"):
        return None
    path = Path(args.home) if args.home else default_home()
    if not (path / KEYSTORE).is_file():
        return None
    if args.passphrase_file:
        try:
            passphrase = Path(args.passphrase_file).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError, UnicodeDecodeError):
            return None  # the session says what is wrong with it, as without this
    elif os.environ.get(PASSPHRASE_ENV):
        passphrase = os.environ[PASSPHRASE_ENV]
    else:
        return None
    early = EarlyUnlock(path, passphrase, asked_for(argv))
    threading.Thread(target=early.run, name="tessera-unlock", daemon=True).start()
    return early


def run() -> None:
    argv = sys.argv[1:]
    early = start(argv)
    from client.main import main  # loads while the thread derives the key

    sys.exit(main(argv, early=early))
