"""Passphrase-protected keystore files (protocol doc §6), the only file I/O in `keys/`.

Layout (all integers big-endian; the header is the AEAD's associated data):

    magic    "TSRKS\\0"  (6)    version  u16 = 1
    kdf_id   u8 = 2 (Argon2id v1.3)    t_cost u32    m_kib u32    lanes u8 = 1    salt 16 bytes
    aead_id  u8 = 1 (XChaCha20-Poly1305-IETF)    nonce 24 bytes    ct_len u32
    ct       XChaCha20-Poly1305(key, nonce, payload, AD = header)
    checksum 32 bytes: KDF32(keystore/checksum; everything before)

key = Argon2id(NFC(passphrase), salt, t, m, lanes = 1, 32 bytes), via argon2-cffi; one lane so
libsodium's crypto_pwhash derives the same key. The unkeyed checksum only tells damage apart from a
wrong passphrase; authenticity comes from the AEAD. Files are written atomically (temporary file,
fsync, rename, fsync of the directory) with mode 0600; every write uses a fresh salt and nonce.
"""

from __future__ import annotations

import hmac
import os
import struct
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

import argon2.exceptions
from argon2.low_level import Type, hash_secret_raw
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt

from keys import aead
from keys.errors import (
    DecryptionError,
    KeystoreDamagedError,
    KeystoreError,
    KeystoreTruncatedError,
    KeystoreVersionError,
    WrongPassphraseError,
)
from keys.group import Rng, default_rng
from keys.hashing import TAG_KEYSTORE_SUM, kdf32

MAGIC: Final = b"TSRKS\x00"
VERSION: Final = 1
KDF_ARGON2ID: Final = 2
AEAD_XCHACHA: Final = 1
_FIXED: Final = struct.Struct(">6sHBIIB16sB24sI")
HEADER_SIZE: Final = _FIXED.size
CHECKSUM_SIZE: Final = 32
MAX_PAYLOAD: Final = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class KeystorePolicy:
    """Argon2id cost. Presets follow doc §6; `for_tests` is cheap and only for the test suite."""

    t_cost: int
    m_kib: int

    MIN_T: ClassVar[int] = 1
    MIN_M_KIB: ClassVar[int] = 8 * 1024
    MAX_M_KIB: ClassVar[int] = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 1 <= self.t_cost <= 64 or not self.MIN_M_KIB <= self.m_kib <= self.MAX_M_KIB:
            raise KeystoreError(f"keystore cost out of range: t={self.t_cost}, m={self.m_kib} KiB")

    @classmethod
    def helper(cls) -> KeystorePolicy:
        """Field helper devices: t=3, 64 MiB (about 0.1-0.2 s)."""
        return cls(3, 64 * 1024)

    @classmethod
    def council(cls) -> KeystorePolicy:
        """Council members holding a share: t=3, 256 MiB (libsodium MODERATE, about 0.5 s)."""
        return cls(3, 256 * 1024)

    @classmethod
    def for_tests(cls) -> KeystorePolicy:
        return cls(1, 8 * 1024)

    def weaker_than(self, other: KeystorePolicy) -> bool:
        return self.t_cost < other.t_cost or self.m_kib < other.m_kib


def _derive(passphrase: str, salt: bytes, policy: KeystorePolicy) -> bytes:
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    try:
        return hash_secret_raw(
            secret, salt, time_cost=policy.t_cost, memory_cost=policy.m_kib, parallelism=1, hash_len=32, type=Type.ID, version=19
        )
    except argon2.exceptions.HashingError as exc:  # pragma: no cover - out of memory
        raise KeystoreError(f"key derivation failed: {exc}") from exc


def seal_keystore(payload: bytes, passphrase: str, policy: KeystorePolicy, *, rng: Rng = default_rng) -> bytes:
    """Encrypt `payload` under the passphrase; returns the file bytes."""
    if not passphrase:
        raise KeystoreError("an empty passphrase protects nothing; choose a passphrase of several words")
    if len(payload) > MAX_PAYLOAD:
        raise KeystoreError("keystore payload is too large")
    salt = rng(16)
    key = _derive(passphrase, salt, policy)
    nonce = rng(aead.NONCE_SIZE)
    header = _FIXED.pack(
        MAGIC, VERSION, KDF_ARGON2ID, policy.t_cost, policy.m_kib, 1, salt, AEAD_XCHACHA, nonce, len(payload) + aead.TAG_SIZE
    )
    ct = crypto_aead_xchacha20poly1305_ietf_encrypt(payload, header, nonce, key)
    body = header + ct
    return body + kdf32(TAG_KEYSTORE_SUM, body)


@dataclass(frozen=True, slots=True)
class Unlocked:
    payload: bytes
    policy: KeystorePolicy  # the cost the file was written with (re-seal if weaker than your policy)


def open_keystore(data: bytes, passphrase: str) -> Unlocked:
    """Decrypt keystore bytes.

    Raises KeystoreVersionError (unknown magic/version), KeystoreTruncatedError (cut off),
    KeystoreDamagedError (altered), WrongPassphraseError.
    """
    if len(data) < 8 or data[:6] != MAGIC:
        raise KeystoreDamagedError("not a Tessera keystore file (bad magic)")
    version = int.from_bytes(data[6:8], "big")
    if version != VERSION:
        raise KeystoreVersionError(f"keystore format version {version} is not known to this program (it reads {VERSION})")
    if len(data) < HEADER_SIZE + CHECKSUM_SIZE:
        raise KeystoreTruncatedError("keystore file is shorter than its header")
    _magic, _v, kdf_id, t_cost, m_kib, lanes, salt, aead_id, nonce, ct_len = _FIXED.unpack(data[:HEADER_SIZE])
    expected = HEADER_SIZE + ct_len + CHECKSUM_SIZE
    if len(data) < expected:
        raise KeystoreTruncatedError(f"keystore file is {len(data)} bytes, its header says {expected}")
    if len(data) > expected:
        raise KeystoreDamagedError("keystore file has trailing bytes")
    body, checksum = data[:-CHECKSUM_SIZE], data[-CHECKSUM_SIZE:]
    if not hmac.compare_digest(kdf32(TAG_KEYSTORE_SUM, body), checksum):
        raise KeystoreDamagedError("keystore file was altered or damaged (checksum mismatch)")
    if kdf_id != KDF_ARGON2ID or aead_id != AEAD_XCHACHA or lanes != 1 or ct_len > MAX_PAYLOAD + aead.TAG_SIZE:
        raise KeystoreDamagedError("keystore header names an unsupported algorithm or size")
    try:
        policy = KeystorePolicy(t_cost, m_kib)
    except KeystoreError as exc:
        raise KeystoreDamagedError(f"keystore header has out-of-range costs: {exc}") from exc
    key = _derive(passphrase, salt, policy)
    try:
        payload = aead.open_sealed(key, nonce + body[HEADER_SIZE:], body[:HEADER_SIZE])
    except DecryptionError as exc:
        raise WrongPassphraseError("the passphrase does not open this keystore") from exc
    return Unlocked(payload=payload, policy=policy)


def write_keystore(path: Path, payload: bytes, passphrase: str, policy: KeystorePolicy, *, rng: Rng = default_rng) -> None:
    """Seal and write atomically with mode 0600 (temporary file, fsync, rename, fsync directory)."""
    data = seal_keystore(payload, passphrase, policy, rng=rng)
    write_private_file(path, data)


def read_keystore(path: Path, passphrase: str) -> Unlocked:
    """Read and open a keystore file; raises KeystoreError subclasses (also for a missing file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeystoreError(f"no keystore at {path}") from exc
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror}") from exc
    return open_keystore(data, passphrase)


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, mode 0600, durable once this returns."""
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
