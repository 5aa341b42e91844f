"""The program starts unlocking the home before it loads (client/launch.py), and the command uses that unlock:
still one Argon2id derivation per command (issue 21), the same errors, nothing started where no home opens."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

from client.home import HomeError
from client.launch import EarlyUnlock, start
from client.main import main
from keys.errors import WrongPassphraseError
from keys.keystore import KeystorePolicy
from tests.support.harness import ENV, Org, cli_environment


def _argv(org: Org, who: str, *command: str) -> list[str]:
    return ["--home", str(org.home_path(who)), "--server", org.stack.url, *command]


def _main(argv: list[str], early: EarlyUnlock | None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, early=early)
    return code, out.getvalue(), err.getvalue()


def test_the_command_uses_the_home_unlocked_early(org: Org, derivations: list[KeystorePolicy]) -> None:
    argv = _argv(org, "kim", "cases", "list")
    with cli_environment():
        early = start(argv)
        assert early is not None
        code, out, err = _main(argv, early)
    assert code == 0, err
    assert org.case in out
    assert len(derivations) == 1  # the early one, not a second in the session


def test_a_passphrase_file_starts_it_too_and_a_wrong_one_fails_as_always(org: Org, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all, no\n", encoding="utf-8")
    argv = ["--passphrase-file", str(wrong), *_argv(org, "kim", "cases", "list")]
    with cli_environment():
        os.environ.pop("TESSERA_PASSPHRASE", None)
        early = start(argv)
        assert early is not None
        code, _out, err = _main(argv, early)
    assert code == 1 and "wrong passphrase" in err


@pytest.mark.parametrize(
    "command",
    [("--help",), ("cases", "--help"), ("--version",), ("demo",), ("app", "--no-browser"), ("join", "INVITE"), ()],
)
def test_nothing_starts_where_no_home_opens(org: Org, command: tuple[str, ...]) -> None:
    with cli_environment():
        assert start(_argv(org, "kim", *command)) is None


def test_nothing_starts_without_a_keystore_or_a_passphrase_that_needs_no_prompt(org: Org, tmp_path: Path) -> None:
    with cli_environment():
        assert start(["--home", str(tmp_path), "cases", "list"]) is None  # no keystore there
        os.environ.pop("TESSERA_PASSPHRASE", None)
        assert start(_argv(org, "kim", "cases", "list")) is None  # it will be typed at the prompt
        assert start(["--passphrase-file", str(tmp_path / "missing"), *_argv(org, "kim", "cases", "list")]) is None
    assert "TESSERA_PASSPHRASE" in ENV


def test_an_early_unlock_serves_only_its_own_home_and_passphrase(org: Org) -> None:
    path = org.home_path("kim")
    passphrase = ENV["TESSERA_PASSPHRASE"]
    early = EarlyUnlock(path, passphrase)
    early.run()
    assert early.take(org.home_path("lee"), passphrase) is None
    assert early.take(path, passphrase + " ") is None
    home = early.take(path, passphrase)
    assert home is not None and home.account == "kim"
    wrong = EarlyUnlock(path, "another passphrase of six words here")
    wrong.run()
    with pytest.raises(WrongPassphraseError):
        wrong.take(path, "another passphrase of six words here")


def test_an_error_from_the_early_unlock_speaks_the_commands_language(tmp_path: Path) -> None:
    """The thread has a context of its own: without the command's language its errors would be English."""
    early = EarlyUnlock(tmp_path, "any passphrase", "ko")
    early.run()
    with pytest.raises(HomeError) as raised:
        early.take(tmp_path, "any passphrase")
    assert "no account in" not in str(raised.value) and str(tmp_path) in str(raised.value)
    assert start(["--lang", "ja", "--home", str(tmp_path), "cases", "list"]) is None  # no keystore: nothing started
