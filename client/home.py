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

from client.i18n import _
from keys import aead
from keys.accounts import AccountKeys
from keys.encoding import b64u_decode, b64u_encode, canonical_json
from keys.errors import DecryptionError, KeystoreError
from keys.hashing import kdf32
from keys.keystore import KeystoreKey, KeystorePolicy, derive_key, open_keystore, reseal
from privatefiles import write_private_file

KEYSTORE = "keystore.tsk"
PASSPHRASE_ENV = "TESSERA_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
OUTBOX = "outbox"
TAG_OUTBOX = b"outbox"


class HomeError(Exception):
    """The home directory is missing or not usable."""


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tessera"


@dataclass(frozen=True, slots=True)
class KdfPolicy:
    """The Argon2id cost a keystore must have, by role. Injected (`use_kdf_policy`, or `policy=` on `Home.create`
    and `Home.open`), never read from the environment: the standard costs unless a test or the demo says so."""

    helper: KeystorePolicy
    council: KeystorePolicy  # council members and administrators: a share, or the power to invite

    @classmethod
    def standard(cls) -> KdfPolicy:
        return cls(helper=KeystorePolicy.helper(), council=KeystorePolicy.council())

    @classmethod
    def insecure_fast(cls) -> KdfPolicy:
        """Tests and `tessera demo` only: the cheapest cost Argon2id allows here."""
        return cls(helper=KeystorePolicy.for_tests(), council=KeystorePolicy.for_tests())

    def for_role(self, role: str) -> KeystorePolicy:
        return self.council if role in ("council", "admin") else self.helper


_kdf_policy = KdfPolicy.standard()


def use_kdf_policy(policy: KdfPolicy) -> KdfPolicy:
    """Set the cost for every home this process creates or opens from now on; returns the one before."""
    global _kdf_policy
    before, _kdf_policy = _kdf_policy, policy
    return before


def kdf_policy() -> KdfPolicy:
    return _kdf_policy


def _read_keystore(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise KeystoreError(_("no keystore at {path}", path=path)) from exc
    except OSError as exc:
        raise KeystoreError(_("cannot read keystore {path}: {problem}", path=path, problem=exc.strerror)) from exc


@dataclass
class Home:
    """The unlocked state of one device. Unlocking runs Argon2id once and keeps the derived key (never the
    passphrase); call `save()` after a change: the state is sealed again under that key with a fresh nonce, no
    Argon2id. A home built without a key (`key=None`: benches and tests that never save) refuses to save."""

    path: Path
    key: KeystoreKey | None
    state: dict[str, Any] = field(default_factory=dict, repr=False)  # secrets: kept out of tracebacks and logs

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, passphrase: str, state: dict[str, Any], *, policy: KdfPolicy | None = None) -> Home:
        if (path / KEYSTORE).exists():
            raise HomeError(_("{path} holds an account already; use another --home", path=path))
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        role = str(state.get("role", "helper"))
        home = cls(path, derive_key(passphrase, (policy or _kdf_policy).for_role(role)), state)
        home.save()
        return home

    @classmethod
    def open(cls, path: Path, passphrase: str, *, policy: KdfPolicy | None = None) -> Home:
        """Unlock: one Argon2id derivation. A keystore written with a weaker cost than `policy` asks for its role
        (an older program, or the demo's) is sealed again at that cost now, under a new salt: a second derivation,
        once."""
        if not (path / KEYSTORE).exists():
            raise HomeError(_("no account in {path}: join with `tessera --home {path} join INVITE --name NAME`", path=path))
        unlocked = open_keystore(_read_keystore(path / KEYSTORE), passphrase)
        try:
            state = json.loads(unlocked.payload)
        except ValueError as exc:
            raise KeystoreError(_("the keystore content is damaged")) from exc
        if not isinstance(state, dict):
            raise KeystoreError(_("the keystore content is damaged"))
        home = cls(path, unlocked.key, state)
        wanted = (policy or _kdf_policy).for_role(home.role)
        if unlocked.key.policy.weaker_than(wanted):
            home.key = derive_key(passphrase, wanted)
            home.save()
        return home

    def save(self) -> None:
        if self.key is None:
            raise HomeError("this home was not unlocked with a passphrase; it cannot be saved")
        write_private_file(self.path / KEYSTORE, reseal(canonical_json(self.state), self.key))

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
                raise HomeError(_("outbox item {name} is damaged", name=item.name)) from exc

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
                raise HomeError(_("pending upload {name} is damaged", name=item.name)) from exc

    def spool_path(self, attachment_id: bytes) -> Path:
        """Where the sealed chunks of a pending upload wait (ciphertext only: the stream key is in the record)."""
        return self.path / OUTBOX / "attachments" / f"{b64u_encode(attachment_id)}.stream"

    def drop_pending_upload(self, attachment_id: bytes) -> None:
        (self.path / OUTBOX / "attachments" / f"{b64u_encode(attachment_id)}.sealed").unlink(missing_ok=True)
        self.spool_path(attachment_id).unlink(missing_ok=True)
