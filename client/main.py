"""The `tessera` command: one dispatcher that maps each error class to a message and an exit code."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from client.api import ApiError, HostileServerError, ServerUnreachableError
from client.attachments import UploadInterruptedError
from client.cliparser import Parser
from client.commands import (
    account,
    admin,
    attachments,
    audit,
    cases,
    council,
    decision,
    intake,
    messages,
    report,
    reveal,
    todo,
)
from client.forms import FormError
from client.home import HomeError
from client.i18n import LANGUAGES, SOURCE, _, asked_for, speaking
from client.net import TIMEOUT, Isolation, connector
from client.outbox import StaleIntakeError
from client.session import KeyChangedError, Session, UsageError
from client.terminal import clean
from keys.errors import (
    DirectoryError,
    KeystoreDamagedError,
    KeystoreError,
    KeystoreVersionError,
    ProofError,
    QuorumError,
    TesseraError,
    WrongPassphraseError,
)
from keys.group import self_test

if TYPE_CHECKING:
    from client.launch import EarlyUnlock  # which imports this module once it started the unlock

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SECURITY = 3


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="tessera",
        description=_("Tessera: end-to-end encrypted case intake. Identities open only with k council members."),
    )
    parser.add_argument("--home", help=_("your keystore and outbox (default: ~/.local/share/tessera)"))
    parser.add_argument("--server", help=_("server address (default: the one from your invite)"))
    parser.add_argument("--proxy", help=_("send everything through a SOCKS proxy, e.g. socks5://127.0.0.1:9050 for Tor"))
    parser.add_argument("--passphrase-file", help=_("read the passphrase from the first line of this file (for scripts)"))
    parser.add_argument(
        "--lang",
        dest="language",
        choices=LANGUAGES,
        help=_("the language of messages and help: en, ko, zh_Hans or ja (default: the system locale)"),
    )
    parser.add_argument(
        "--version", action="version", version=f"tessera {_version()}", help=_("show the version number and exit")
    )
    sub = parser.add_subparsers(
dest="command", metavar="COMMAND", required=True)
    for group in (account, todo, admin, council, intake, attachments, cases, reveal, decision, messages, audit, report):
        group.register(sub)
    p = sub.add_parser("demo", help=_("run the whole story against a real local server and explain each step"))
    p.set_defaults(run=None)
    p = sub.add_parser(
        "app",
        help=_("open the local app in your browser (Korean, Chinese, Japanese, English)"),
        description=_(
            "Serve the Tessera app on 127.0.0.1 on a random port and open it in the browser. The keys stay "
            "in this process; the page never sees them. Stop it with Ctrl+C."
        ),
    )
    p.add_argument("--lang", choices=LANGUAGES, help=_("the app's language (default: tessera's --lang, else the system locale)"))
    p.add_argument(
        "--idle-minutes", type=int, default=15, help=_("lock the keystore after this many idle minutes (default 15)")
    )
    p.add_argument("--no-browser", action="store_true", help=_("only print the link; do not open a browser"))
    p.set_defaults(run=None)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("tessera")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
        return "(not installed)"


def _interrupted(args: argparse.Namespace) -> str:
    """What ^C leaves behind, and how to go on."""
    command = (args.command, getattr(args, "intake_command", None), getattr(args, "outbox_command", None))
    if command[0] == "attach" or command[1] == "submit" or command[2] == "flush":
        return _(
            "interrupted. Nothing sealed is lost: what was not sent waits in the outbox, and `tessera outbox flush` "
            "resumes an upload where it stopped (`tessera outbox list` shows what waits)."
        )
    if command[0] == "council" and getattr(args, "ceremony_command", None) in ("run", "step"):
        return _("interrupted. Run `tessera council ceremony run` again: it resumes where it stopped.")
    return _("interrupted.")


def _api_message(exc: ApiError) -> str:
    if exc.status == 401:
        return _(
            "the server does not accept this account: it was revoked, or this device's clock is more than five "
            "minutes off. Check the clock; if it is right, ask an administrator."
        )
    if exc.status == 410:
        return f"{exc.message}."
    if exc.status == 429:
        return _("too many requests; wait a minute and try again.")
    return _("the server refused: {message}", message=exc.message)


async def _run(args: argparse.Namespace, early: EarlyUnlock | None) -> int:
    isolation = Isolation(args.proxy)
    async with aiohttp.ClientSession(connector=connector(args.proxy), timeout=TIMEOUT) as http:
        try:
            result: int = await args.run(Session(args, http, isolation, early), args)
        finally:
            await isolation.close()
        return result


def main(argv: Sequence[str] | None = None, *, early: EarlyUnlock | None = None) -> int:
    """`tessera ARGV`, in the language its --lang or else the system locale asks for; `early` is the home
    client/launch.py started unlocking before this module loaded."""
    with speaking(asked_for(sys.argv[1:] if argv is None else argv)):
        return _dispatch(argv, early)


def _dispatch(argv: Sequence[str] | None, early: EarlyUnlock | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        self_test()
        if args.command == "demo":
            from client.demo import run_demo  # loads only for the demo (it imports nothing of this module)

            return run_demo(main)
        if args.command == "app":
            return _app(args)
        return asyncio.run(_run(args, early))
    except WrongPassphraseError:
        return _fail(_("wrong passphrase. Try again (check the keyboard layout and Caps Lock)."))
    except (KeystoreDamagedError, KeystoreVersionError) as exc:
        return _fail(f"{exc}")
    except KeystoreError as exc:
        return _fail(_("keystore: {problem}", problem=exc))
    except ServerUnreachableError as exc:
        return _fail(
            _(
                "{problem}. Check the address and your connection (or --proxy); intakes wait safely in the outbox.",
                problem=exc,
            )
        )
    except ApiError as exc:
        return _fail(_api_message(exc))
    except FormError as exc:
        return _fail(_("the form has problems:") + "\n" + "\n".join(f"  - {p}" for p in exc.problems), EXIT_USAGE)
    except (UsageError, HomeError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (KeyChangedError, StaleIntakeError) as exc:
        return _fail(str(exc), EXIT_SECURITY)
    except HostileServerError as exc:
        return _fail(
            _("the server lied: {problem}. Do not go on with this; tell your council and keep this message.", problem=exc),
            EXIT_SECURITY,
        )
    except DirectoryError as exc:
        return _fail(
            _("the key directory does not verify: {problem}. Do not seal or approve anything; tell your council.", problem=exc),
            EXIT_SECURITY,
        )
    except QuorumError as exc:
        return _fail(_("not enough approvals yet: {problem}. Ask more members to run `tessera reveal approve`.", problem=exc))
    except ProofError as exc:
        # a signature or proof from the server's answer does not verify: the server lied, or passed on a forgery
        return _fail(_("refused what the server sent: {problem}.", problem=exc), EXIT_SECURITY)
    except TesseraError as exc:
        return _fail(str(exc))
    except UploadInterruptedError as exc:
        return _fail(_("the upload stopped: {problem}. It resumes where it stopped with `tessera outbox flush`.", problem=exc))
    except KeyboardInterrupt:
        return _fail(_interrupted(args), 130)


def _app(args: argparse.Namespace) -> int:
    from client.app.server import run_app  # the web stack loads only for the app
    from client.home import default_home

    if not 1 <= args.idle_minutes <= 24 * 60:
        raise UsageError(_("--idle-minutes must be from 1 to 1440"))
    home = Path(args.home) if args.home else default_home()
    # the app's pages speak the language chosen in the app; the library's own sentences it quotes (errors, a
    # ceremony's steps) stay English there, as before, whatever language the command speaks
    with speaking(SOURCE):
        return run_app(
            home,
            server=args.server,
            proxy=args.proxy,
            language=args.lang or args.language,
            idle_minutes=args.idle_minutes,
            browser=not args.no_browser,
        )



def _fail(message: str, code: int = EXIT_ERROR) -> int:
    # messages quote the server and other people (ApiError, names, ids): nothing in them may drive the terminal
    print(f"tessera: {clean(message)}", file=sys.stderr)
    return code


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
