import pytest

from keys.errors import KeystoreDamagedError, KeystoreError, KeystoreTruncatedError, KeystoreVersionError, WrongPassphraseError
from keys.keystore import HEADER_SIZE, KeystorePolicy, derive_key, open_keystore, reseal, seal_keystore

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


def _salt_and_nonce(data: bytes) -> tuple[bytes, bytes]:
    return data[18:34], data[35:59]  # magic 6, version 2, kdf 1, t 4, m 4, lanes 1 | salt 16 | aead 1 | nonce 24


def test_reseal_keeps_the_salt_and_costs_with_a_fresh_nonce_and_old_programs_read_it() -> None:
    """Unlock once, save often: the key from open_keystore seals new content without Argon2id; the file is the
    same format (version 1), so `open_keystore` (and any earlier program) opens it with the passphrase."""
    first = seal_keystore(PAYLOAD, "pw", POLICY)
    unlocked = open_keystore(first, "pw")
    second = reseal(PAYLOAD + b"2", unlocked.key)
    third = reseal(PAYLOAD + b"2", unlocked.key)
    assert second[:18] == first[:18] and third[:18] == first[:18]  # magic, version 1, Argon2id costs
    assert _salt_and_nonce(second)[0] == _salt_and_nonce(first)[0] == _salt_and_nonce(third)[0]
    assert len({_salt_and_nonce(d)[1] for d in (first, second, third)}) == 3
    assert second != third
    assert open_keystore(second, "pw").payload == PAYLOAD + b"2"
    assert open_keystore(third, "pw").key.key == unlocked.key.key
    with pytest.raises(WrongPassphraseError):
        open_keystore(second, "wrong")


def test_a_resealed_file_detects_every_change() -> None:
    """The tamper tests again on a file written by reseal: a flipped header byte (salt, costs, nonce), ciphertext
    byte or checksum byte; and a checksum fixed up after the change still fails the AEAD (header is its AD)."""
    from keys.hashing import TAG_KEYSTORE_SUM, kdf32

    data = reseal(PAYLOAD, open_keystore(seal_keystore(PAYLOAD, "pw", POLICY), "pw").key)
    for index in (8, 20, 30, 40, HEADER_SIZE + 3, len(data) - 1):
        tampered = bytearray(data)
        tampered[index] ^= 0x01
        with pytest.raises(KeystoreDamagedError):
            open_keystore(bytes(tampered), "pw")
    for index in (25, 40, HEADER_SIZE + 3):  # salt, nonce, ciphertext; the checksum recomputed by the attacker
        tampered = bytearray(data[:-32])
        tampered[index] ^= 0x01
        with pytest.raises(WrongPassphraseError):
            open_keystore(bytes(tampered) + kdf32(TAG_KEYSTORE_SUM, bytes(tampered)), "pw")
    with pytest.raises(KeystoreTruncatedError):
        open_keystore(data[:-1], "pw")


def test_derive_key_uses_a_new_salt_each_time_and_names_its_costs() -> None:
    a, b = derive_key("pw", POLICY), derive_key("pw", POLICY)
    assert a.salt != b.salt and a.key != b.key and a.policy == POLICY
    assert "key=" not in repr(a)  # the key never ends up in a log line
    assert open_keystore(reseal(PAYLOAD, a), "pw").payload == PAYLOAD
    with pytest.raises(KeystoreError, match="empty passphrase"):
        derive_key("", POLICY)


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
