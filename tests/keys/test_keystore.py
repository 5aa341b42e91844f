import stat
from pathlib import Path

import pytest

from keys.errors import KeystoreDamagedError, KeystoreError, KeystoreTruncatedError, KeystoreVersionError, WrongPassphraseError
from keys.keystore import HEADER_SIZE, KeystorePolicy, open_keystore, read_keystore, seal_keystore, write_keystore

POLICY = KeystorePolicy.for_tests()
PAYLOAD = b'{"x_i":"secret share","seed":"..."}'


def test_round_trip_and_fresh_salt_per_write() -> None:
    a = seal_keystore(PAYLOAD, "correct horse battery staple", POLICY)
    b = seal_keystore(PAYLOAD, "correct horse battery staple", POLICY)
    assert a != b
    unlocked = open_keystore(a, "correct horse battery staple")
    assert unlocked.payload == PAYLOAD and unlocked.policy == POLICY


def test_passphrase_is_nfc_normalised() -> None:
    composed, decomposed = "caf\u00e9 \ud55c\uae00", "cafe\u0301 \u1112\u1161\u11ab\u1100\u1173\u11af"
    data = seal_keystore(PAYLOAD, composed, POLICY)
    assert open_keystore(data, decomposed).payload == PAYLOAD


def test_wrong_passphrase() -> None:
    data = seal_keystore(PAYLOAD, "right", POLICY)
    with pytest.raises(WrongPassphraseError):
        open_keystore(data, "wrong")


def test_tampered_header() -> None:
    data = bytearray(seal_keystore(PAYLOAD, "pw", POLICY))
    data[20] ^= 1  # inside the salt
    with pytest.raises(KeystoreDamagedError, match="altered"):
        open_keystore(bytes(data), "pw")


def test_every_single_byte_change_is_refused() -> None:
    data = seal_keystore(PAYLOAD, "pw", POLICY)
    for i in range(len(data)):
        tampered = data[:i] + bytes([data[i] ^ 0x80]) + data[i + 1 :]
        with pytest.raises(KeystoreError):
            open_keystore(tampered, "pw")


def test_truncated_file() -> None:
    data = seal_keystore(PAYLOAD, "pw", POLICY)
    with pytest.raises(KeystoreTruncatedError):
        open_keystore(data[:-5], "pw")
    with pytest.raises(KeystoreTruncatedError):
        open_keystore(data[: HEADER_SIZE - 3], "pw")


def test_unknown_version() -> None:
    data = seal_keystore(PAYLOAD, "pw", POLICY)
    with pytest.raises(KeystoreVersionError, match="version 2"):
        open_keystore(data[:6] + b"\x00\x02" + data[8:], "pw")


def test_not_a_keystore() -> None:
    with pytest.raises(KeystoreDamagedError, match="bad magic"):
        open_keystore(b"PK\x03\x04 a zip file", "pw")


def test_atomic_write_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keystore"
    write_keystore(path, PAYLOAD, "pw", POLICY)
    write_keystore(path, PAYLOAD + b"2", "pw", POLICY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_keystore(path, "pw").payload == PAYLOAD + b"2"
    assert [p.name for p in tmp_path.iterdir()] == ["keystore"]  # no temporary files left behind
    with pytest.raises(KeystoreError, match="no keystore"):
        read_keystore(tmp_path / "missing", "pw")


def test_policy_bounds_and_presets() -> None:
    assert KeystorePolicy.council().m_kib == 256 * 1024
    assert KeystorePolicy.for_tests().weaker_than(KeystorePolicy.helper())
    with pytest.raises(KeystoreError):
        KeystorePolicy(0, 64 * 1024)
    with pytest.raises(KeystoreError):
        KeystorePolicy(3, 1024)
    with pytest.raises(KeystoreError, match="empty passphrase"):
        seal_keystore(PAYLOAD, "", POLICY)


def test_argon2_output_matches_libsodium_for_one_lane() -> None:
    """Either library can open a keystore: argon2-cffi with p=1 equals libsodium's crypto_pwhash."""
    from nacl.pwhash import argon2id

    from keys.keystore import _derive

    salt = b"s" * 16
    ours = _derive("passphrase", salt, KeystorePolicy(2, 8 * 1024))
    theirs = argon2id.kdf(32, b"passphrase", salt, opslimit=2, memlimit=8 * 1024 * 1024)
    assert ours == theirs
