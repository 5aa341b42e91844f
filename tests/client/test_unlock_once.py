"""Issue 21, target: a council member's everyday commands each run one Argon2id derivation and no more (before,
every save of the home ran one more: `cases list` moved the directory pin and saved, a vote saved twice)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import client.home
from keys.keystore import KeystoreKey, KeystorePolicy
from tests.support.harness import Org


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real: Callable[..., bytes] = client.home.reseal

    def counted(payload: bytes, key: KeystoreKey) -> bytes:
        seen.append(len(payload))
        return real(payload, key)

    monkeypatch.setattr(client.home, "reseal", counted)
    return seen


def test_a_council_members_commands_each_run_one_argon2id(
    org: Org, derivations: list[KeystorePolicy], saves: list[int]
) -> None:
    request = org.ok("kim", "reveal", "request", org.case, "--purpose", "hospital admission").strip()
    proposal = org.ok("kim", "decision", "propose", org.case2, "--action", "approve", "--note", "rice").strip()
    commands = [
        ("cases", "list"),
        ("cases", "show", org.case),
        ("reveal", "approve", request, "--yes"),
        ("decision", "vote", proposal, "--yes"),
    ]
    for argv in commands:
        org.ok("hana", "rotate-keys")  # a new directory entry: lee's command moves its pin and notes the rotation
        derivations.clear()
        saves.clear()
        org.ok("lee", *argv)
        assert len(derivations) == 1, (argv, derivations)
        assert saves, argv  # the command saved the home (before, each save was one more Argon2id)
