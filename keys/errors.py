"""The project's error classes.

Every public function of `keys/` raises one of these (never a bare library exception) for bad input.
Each docstring is one sentence a person could read.
"""

from __future__ import annotations

from collections.abc import Sequence


class TesseraError(Exception):
    """Something in Tessera went wrong."""


class EncodingError(TesseraError):
    """The data is not in the expected format (wrong type, length, encoding or version)."""


class VersionError(EncodingError):
    """The data carries a format version this program does not know; update the program."""


class InvalidPointError(EncodingError):
    """A group element is not a valid point of the prime-order group."""


class InvalidScalarError(EncodingError):
    """A scalar is out of range (it must be below the group order, and non-zero where a key is expected)."""


class CryptoError(TesseraError):
    """A cryptographic check failed."""


class ProofError(CryptoError):
    """A zero-knowledge proof or signature does not verify."""


class DecryptionError(CryptoError):
    """The ciphertext cannot be opened with this key, or it was altered."""


class SelfTestError(CryptoError):
    """The linked libsodium accepts invalid points; install PyNaCl >= 1.6.2 with its bundled libsodium."""


class QuorumError(CryptoError):
    """Not enough valid contributions from distinct council members to finish this step."""


class ProtocolError(CryptoError):
    """A protocol message does not fit the session it was sent for."""

    def __init__(self, message: str, *, culprits: Sequence[int] = ()) -> None:
        super().__init__(message)
        #: member indices that this failure is attributable to (for the audit log and for exclusion)
        self.culprits: tuple[int, ...] = tuple(sorted(set(culprits)))


class DirectoryError(CryptoError):
    """The key directory does not verify from the pinned head: an entry is forged, missing or rewritten."""


class KeystoreError(TesseraError):
    """The keystore file cannot be used."""


class WrongPassphraseError(KeystoreError):
    """The passphrase does not open this keystore."""


class KeystoreDamagedError(KeystoreError):
    """The keystore file was altered or damaged; restore it from your own copy or re-enrol this device."""


class KeystoreTruncatedError(KeystoreDamagedError):
    """The keystore file is shorter than its header says; it was cut off while copying or writing."""


class KeystoreVersionError(KeystoreError):
    """The keystore file has a format version this program does not know; update the program."""
