"""Account keys: an Ed25519 signing key and an X25519 box key per device, signatures, boxes, safety numbers.

Signatures are domain-separated: the signed bytes are LP(PREFIX‖tag) ‖ message. X25519 keys are kept
apart from the threshold group (doc §2.11 item 19): they are never fed into the Edwards arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import nacl.exceptions
from nacl.bindings import crypto_sign_SEEDBYTES
from nacl.public import Box, PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey

from keys.encoding import lp, u16
from keys.errors import DecryptionError, EncodingError, ProofError
from keys.group import Rng, default_rng
from keys.hashing import PREFIX, TAG_FINGERPRINT, kdf32
from keys.wire import require_len

KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
BOX_OVERHEAD: Final = 24 + 16  # nonce + MAC of crypto_box
SEAL_OVERHEAD: Final = 32 + 16  # ephemeral key + MAC of crypto_box_seal
FINGERPRINT_ITERATIONS: Final = 5200  # as Signal's safety numbers (doc §5 item 4)


def _signed_message(tag: bytes, message: bytes) -> bytes:
    return lp(PREFIX + tag) + message


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountPublic:
    """The public half of a device: Ed25519 verification key and X25519 box key."""

    sign_key: bytes
    box_key: bytes

    def __post_init__(self) -> None:
        require_len("sign_key", self.sign_key, KEY_SIZE)
        require_len("box_key", self.box_key, KEY_SIZE)


class AccountKeys:
    """The private keys of one device. Built from two 32-byte seeds (kept only in the keystore)."""

    __slots__ = ("_box", "_sign")

    def __init__(self, *, sign_seed: bytes, box_secret: bytes) -> None:
        require_len("sign_seed", sign_seed, crypto_sign_SEEDBYTES)
        require_len("box_secret", box_secret, KEY_SIZE)
        self._sign = SigningKey(sign_seed)
        self._box = PrivateKey(box_secret)

    @classmethod
    def generate(cls, rng: Rng = default_rng) -> AccountKeys:
        return cls(sign_seed=rng(32), box_secret=rng(32))

    @property
    def sign_seed(self) -> bytes:
        return bytes(self._sign)

    @property
    def box_secret(self) -> bytes:
        return bytes(self._box)

    def public(self) -> AccountPublic:
        return AccountPublic(sign_key=bytes(self._sign.verify_key), box_key=bytes(self._box.public_key))

    def sign(self, tag: bytes, message: bytes) -> bytes:
        """Ed25519 signature over LP(PREFIX‖tag) ‖ message."""
        return self._sign.sign(_signed_message(tag, message)).signature

    def box_to(self, recipient_box_key: bytes, plaintext: bytes) -> bytes:
        """Authenticated crypto_box to a recipient (nonce chosen inside); raises EncodingError for a bad key."""
        try:
            return bytes(Box(self._box, PublicKey(recipient_box_key)).encrypt(plaintext))
        except (nacl.exceptions.CryptoError, TypeError, ValueError) as exc:
            raise EncodingError("recipient box key is not usable") from exc

    def unbox_from(self, sender_box_key: bytes, ciphertext: bytes) -> bytes:
        """Open a crypto_box from a known sender; raises DecryptionError."""
        try:
            return Box(self._box, PublicKey(sender_box_key)).decrypt(ciphertext)
        except (nacl.exceptions.CryptoError, TypeError, ValueError) as exc:
            raise DecryptionError("box does not open with this key or this sender") from exc

    def unseal(self, ciphertext: bytes) -> bytes:
        """Open an anonymous sealed box addressed to this device; raises DecryptionError."""
        return unseal(self._box, ciphertext)


def seal_to(recipient_box_key: bytes, plaintext: bytes) -> bytes:
    """Anonymous crypto_box_seal to an X25519 key; raises EncodingError for a bad key."""
    try:
        return bytes(SealedBox(PublicKey(recipient_box_key)).encrypt(plaintext))
    except (nacl.exceptions.CryptoError, TypeError, ValueError) as exc:
        raise EncodingError("recipient box key is not usable") from exc


def unseal(private: PrivateKey, ciphertext: bytes) -> bytes:
    """Open a sealed box; raises DecryptionError."""
    try:
        return SealedBox(private).decrypt(ciphertext)
    except (nacl.exceptions.CryptoError, TypeError, ValueError) as exc:
        raise DecryptionError("sealed box does not open with this key") from exc


def verify_signature(sign_key: bytes, tag: bytes, message: bytes, signature: bytes) -> None:
    """Raises ProofError unless `signature` by `sign_key` over (tag, message) verifies."""
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
        raise ProofError("a signature is 64 bytes")
    try:
        VerifyKey(sign_key).verify(_signed_message(tag, message), signature)
    except (nacl.exceptions.CryptoError, TypeError, ValueError) as exc:
        raise ProofError("signature does not verify") from exc


def fingerprint(public: AccountPublic, stable_id: str) -> str:
    """30 digits (six groups of five) that people read aloud to compare one person's keys.

    Iterated BLAKE2b over (version, keys, stable id), after Signal's safety numbers (doc §5 item 4).
    """
    data = kdf32(TAG_FINGERPRINT, u16(1), public.sign_key, public.box_key, stable_id.encode("utf-8"))
    for _ in range(FINGERPRINT_ITERATIONS):
        data = kdf32(TAG_FINGERPRINT, data, public.sign_key)
    groups = [int.from_bytes(data[i : i + 5], "big") % 100_000 for i in range(0, 30, 5)]
    return " ".join(f"{g:05d}" for g in groups)


def safety_number(a: tuple[AccountPublic, str], b: tuple[AccountPublic, str]) -> str:
    """60 digits for a pair of people: both fingerprints, in a fixed order, so both sides see the same."""
    fa, fb = fingerprint(*a), fingerprint(*b)
    return " ".join(sorted([fa, fb]))
