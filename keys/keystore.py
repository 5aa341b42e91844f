"""Passphrase-protected keystore files (protocol doc §8): bytes in, bytes out (the files themselves are read and
written by the client, `client/home.py`).

Layout (all integers big-endian; the header is the AEAD's associated data):

    magic    "TSRKS\\0"  (6)    version  u16 = 1
    kdf_id   u8 = 2 (Argon2id v1.3)    t_cost u32    m_kib u32    lanes u8 = 1    salt 16 bytes
    aead_id  u8 = 1 (XChaCha20-Poly1305-IETF)    nonce 24 bytes    ct_len u32
    ct       XChaCha20-Poly1305(key, nonce, payload, AD = header)
    checksum 32 bytes: KDF32(keystore/checksum; everything before)

key = Argon2id(NFC(passphrase), salt, t, m, lanes = 1, 32 bytes), via argon2-cffi; one lane so
libsodium's crypto_pwhash derives the same key. The unkeyed checksum only tells damage apart from a
wrong passphrase; authenticity comes from the AEAD.

Unlock once, save often: `open_keystore` returns the derived key with the salt and costs it belongs to
(`KeystoreKey`), and `reseal` writes new content under that key with a fresh nonce and the same salt and
costs: no Argon2id on save. A new salt (and a new key) comes with `derive_key`: a new keystore, a new
passphrase or a stronger cost. The format is the same either way (version 1); a file written by `reseal`
is opened like any other, and every file ever written opens.
"""

from __future__ import annotations

import hmac
import struct
import unicodedata
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class KeystoreKey:
    """The key one Argon2id derivation gave, with the salt and costs that name it in a file header.
    Keep it in memory while unlocked; never write it anywhere."""

    key: bytes = field(repr=False)
    salt: bytes
    policy: KeystorePolicy

    def __post_init__(self) -> None:
        if len(self.key) != aead.KEY_SIZE or len(self.salt) != 16:
            raise KeystoreError("a keystore key is 32 bytes with a 16-byte salt")


def derive_key(passphrase: str, policy: KeystorePolicy, *, rng: Rng = default_rng) -> KeystoreKey:
    """One Argon2id derivation under a fresh salt: the key for a new keystore (or a new passphrase or cost)."""
    if not passphrase:
        raise KeystoreError("an empty passphrase protects nothing; choose a passphrase of several words")
    salt = rng(16)
    return KeystoreKey(_derive(passphrase, salt, policy), salt, policy)


def reseal(payload: bytes, key: KeystoreKey, *, rng: Rng = default_rng) -> bytes:
    """Encrypt `payload` under an already derived key (fresh nonce, same salt and costs); returns the file bytes."""
    if len(payload) > MAX_PAYLOAD:
        raise KeystoreError("keystore payload is too large")
    nonce = rng(aead.NONCE_SIZE)
    header = _FIXED.pack(
        MAGIC, VERSION, KDF_ARGON2ID, key.policy.t_cost, key.policy.m_kib, 1, key.salt, AEAD_XCHACHA, nonce,
        len(payload) + aead.TAG_SIZE,
    )
    ct = crypto_aead_xchacha20poly1305_ietf_encrypt(payload, header, nonce, key.key)
    body = header + ct
    return body + kdf32(TAG_KEYSTORE_SUM, body)


def seal_keystore(payload: bytes, passphrase: str, policy: KeystorePolicy, *, rng: Rng = default_rng) -> bytes:
    """Encrypt `payload` under the passphrase with a fresh salt (one Argon2id); returns the file bytes."""
    if len(payload) > MAX_PAYLOAD:
        raise KeystoreError("keystore payload is too large")
    return reseal(payload, derive_key(passphrase, policy, rng=rng), rng=rng)


@dataclass(frozen=True, slots=True)
class Unlocked:
    payload: bytes
    key: KeystoreKey  # reseal with it; key.policy is the cost the file was written with (weaker than yours: derive anew)

    @property
    def policy(self) -> KeystorePolicy:
        return self.key.policy


def open_keystore(data: bytes, passphrase: str) -> Unlocked:
    """Decrypt keystore bytes (one Argon2id derivation).

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
    key = KeystoreKey(_derive(passphrase, salt, policy), salt, policy)
    try:
        payload = aead.open_sealed(key.key, nonce + body[HEADER_SIZE:], body[:HEADER_SIZE])
    except DecryptionError as exc:
        raise WrongPassphraseError("the passphrase does not open this keystore") from exc
    return Unlocked(payload=payload, key=key)
