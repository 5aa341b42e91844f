"""CLI-level story tests reuse the hostile suite's organisation template (tests/hostile/conftest.py): built once
per session through the real CLI against an honest server, copied for each test. Here nothing lies: the relay
forwards every request unchanged. `derivations` counts the keystore's Argon2id runs (issue 21)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import keys.keystore
from keys.keystore import KeystorePolicy
from tests.hostile.conftest import bare_org, org, templates

__all__ = ["bare_org", "derivations", "org", "templates"]


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[KeystorePolicy]:
    """Every Argon2id derivation from here on, by its cost."""
    seen: list[KeystorePolicy] = []
    real: Callable[..., bytes] = keys.keystore._derive

    def counted(passphrase: str, salt: bytes, policy: KeystorePolicy) -> bytes:
        seen.append(policy)
        return real(passphrase, salt, policy)

    monkeypatch.setattr(keys.keystore, "_derive", counted)
    return seen
