"""The client's home directory: one passphrase-protected keystore (keys, pinned directory head, known
people, council shares, pending reveals) and the encrypted outbox: sealed intakes, the records of unfinished
attachment uploads (sealed under the outbox key) and each upload's sealed chunks (secretstream ciphertext, whose
key is only in its record), so an upload never needs the original file again. Nothing else of a case is kept."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keys import aead
from keys.accounts import AccountKeys
from keys.encoding import b64u_decode, b64u_encode, canonical_json
from keys.errors import DecryptionError, KeystoreError
from keys.hashing import kdf32
from keys.keystore import KeystorePolicy, read_keystore, write_keystore, write_private_file

KEYSTORE = "keystore.tsk"
OUTBOX = "outbox"
FAST_KDF_ENV = "TESSERA_INSECURE_FAST_KDF"  # demos and tests only: a cheap Argon2id
TAG_OUTBOX = b"outbox"


class HomeError(Exception):
    """The home directory is missing or not usable."""


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tessera"


def policy_for(role: str) -> KeystorePolicy:
    if os.environ.get(FAST_KDF_ENV) == "1":
        return KeystorePolicy.for_tests()
    return KeystorePolicy.council() if role in ("council", "admin") else KeystorePolicy.helper()


@dataclass
class Home:
    """The unlocked state of one device. Call `save()` after a change (re-sealed with a fresh salt)."""

    path: Path
    passphrase: str
    state: dict[str, Any] = field(default_factory=dict)

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, passphrase: str, state: dict[str, Any]) -> Home:
        if (path / KEYSTORE).exists():
            raise HomeError(f"{path} holds an account already; use another --home")
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        home = cls(path, passphrase, state)
        home.save()
        return home

    @classmethod
    def open(cls, path: Path, passphrase: str) -> Home:
        if not (path / KEYSTORE).exists():
            raise HomeError(f"no account in {path}: join with `tessera --home {path} join INVITE --name NAME`")
        unlocked = read_keystore(path / KEYSTORE, passphrase)
        try:
            state = json.loads(unlocked.payload)
        except ValueError as exc:
            raise KeystoreError("the keystore content is damaged") from exc
        return cls(path, passphrase, state)

    def save(self) -> None:
        write_keystore(self.path / KEYSTORE, canonical_json(self.state), self.passphrase, policy_for(self.role))

    # -- identity ------------------------------------------------------------------------------
    @property
    def account(self) -> str:
        return str(self.state["account"])

    @property
    def role(self) -> str:
        return str(self.state.get("role", "helper"))

    @property
    def server(self) -> str:
        return str(self.state["server"])

    @property
    def keys(self) -> AccountKeys:
        return AccountKeys(sign_seed=b64u_decode(self.state["sign_seed"]), box_secret=b64u_decode(self.state["box_secret"]))

    @property
    def reply_secret(self) -> bytes:
        return b64u_decode(self.state["reply_secret"], length=32)

    def section(self, name: str) -> dict[str, Any]:
        value = self.state.setdefault(name, {})
        assert isinstance(value, dict)
        return value

    # -- outbox (sealed under a key kept in the keystore) --------------------------------------
    def _outbox_key(self) -> bytes:
        return kdf32(TAG_OUTBOX, b64u_decode(self.state["outbox_key"], length=32))

    def put_outbox(self, case_id: bytes, envelope_json: bytes) -> None:
        directory = self.path / OUTBOX
        directory.mkdir(exist_ok=True, mode=0o700)
        sealed = aead.seal(self._outbox_key(), envelope_json, case_id)
        write_private_file(directory / f"{b64u_encode(case_id)}.sealed", sealed)

    def outbox(self) -> Iterator[tuple[bytes, bytes]]:
        directory = self.path / OUTBOX
        if not directory.exists():
            return
        for item in sorted(directory.glob("*.sealed")):
            case_id = b64u_decode(item.name.removesuffix(".sealed"), length=16)
            try:
                yield case_id, aead.open_sealed(self._outbox_key(), item.read_bytes(), case_id)
            except DecryptionError as exc:
                raise HomeError(f"outbox item {item.name} is damaged") from exc

    def drop_outbox(self, case_id: bytes) -> None:
        (self.path / OUTBOX / f"{b64u_encode(case_id)}.sealed").unlink(missing_ok=True)

    # -- attachment uploads in progress (same sealing; they hold attachment keys) -------------
    def put_pending_upload(self, attachment_id: bytes, record_json: bytes) -> None:
        directory = self.path / OUTBOX / "attachments"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        sealed = aead.seal(self._outbox_key(), record_json, b"attachment" + attachment_id)
        write_private_file(directory / f"{b64u_encode(attachment_id)}.sealed", sealed)

    def pending_uploads(self) -> Iterator[tuple[bytes, bytes]]:
        directory = self.path / OUTBOX / "attachments"
        if not directory.exists():
            return
        for item in sorted(directory.glob("*.sealed")):
            attachment_id = b64u_decode(item.name.removesuffix(".sealed"), length=16)
            try:
                yield attachment_id, aead.open_sealed(self._outbox_key(), item.read_bytes(), b"attachment" + attachment_id)
            except DecryptionError as exc:
                raise HomeError(f"pending upload {item.name} is damaged") from exc

    def spool_path(self, attachment_id: bytes) -> Path:
        """Where the sealed chunks of a pending upload wait (ciphertext only: the stream key is in the record)."""
        return self.path / OUTBOX / "attachments" / f"{b64u_encode(attachment_id)}.stream"

    def drop_pending_upload(self, attachment_id: bytes) -> None:
        (self.path / OUTBOX / "attachments" / f"{b64u_encode(attachment_id)}.sealed").unlink(missing_ok=True)
        self.spool_path(attachment_id).unlink(missing_ok=True)
