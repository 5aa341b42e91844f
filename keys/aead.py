"""Symmetric sealing: XChaCha20-Poly1305 with a random nonce chosen inside, and size-bucket padding.

Callers never handle nonces: `seal` returns nonce ‖ ciphertext and `open_sealed` takes it back.
Plaintexts are padded (ISO/IEC 7816-4, libsodium's sodium_pad) to a size bucket before sealing so the
server learns only a coarse size: powers of two from 512 bytes up to 1 MiB, then whole MiB.
"""

from __future__ import annotations

from typing import Final

import nacl.exceptions
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    sodium_pad,
    sodium_unpad,
)

from keys.errors import DecryptionError, EncodingError
from keys.group import Rng, default_rng

KEY_SIZE: Final = 32
NONCE_SIZE: Final = 24
TAG_SIZE: Final = 16
OVERHEAD: Final = NONCE_SIZE + TAG_SIZE
MIN_BUCKET: Final = 512
MIB: Final = 1 << 20


def bucket_size(length: int) -> int:
    """The padded size for a plaintext of `length` bytes (at least one byte of padding)."""
    needed = length + 1
    if needed <= MIN_BUCKET:
        return MIN_BUCKET
    if needed <= MIB:
        return 1 << (needed - 1).bit_length()
    return -(-needed // MIB) * MIB


def pad(data: bytes) -> bytes:
    """Pad to the bucket size."""
    return bytes(sodium_pad(data, bucket_size(len(data))))


def unpad(data: bytes) -> bytes:
    """Remove bucket padding; raises EncodingError when the padding is malformed or not a bucket size."""
    if not data or bucket_size(len(data) - 1) != len(data):
        raise EncodingError("padded data is not a bucket size")
    try:
        return bytes(sodium_unpad(data, len(data)))
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise EncodingError("padding is malformed") from exc


def is_padded_size(ciphertext_len: int) -> bool:
    """True iff a `seal` output of this length carries a bucket-sized plaintext."""
    size = ciphertext_len - OVERHEAD
    return size >= MIN_BUCKET and bucket_size(size - 1) == size


def seal(key: bytes, plaintext: bytes, associated: bytes, *, rng: Rng = default_rng) -> bytes:
    """nonce ‖ XChaCha20-Poly1305(key, nonce, plaintext, associated). Raises EncodingError for a bad key."""
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise EncodingError("a symmetric key is 32 bytes")
    nonce = rng(NONCE_SIZE)
    return nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associated, nonce, key)


def open_sealed(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """Open `seal` output; raises DecryptionError for a wrong key, wrong associated data or any change."""
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise EncodingError("a symmetric key is 32 bytes")
    if not isinstance(sealed, bytes) or len(sealed) < OVERHEAD:
        raise DecryptionError("ciphertext is too short")
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[NONCE_SIZE:], associated, sealed[:NONCE_SIZE], key)
    except nacl.exceptions.CryptoError as exc:
        raise DecryptionError("ciphertext does not open with this key (wrong key, or it was altered)") from exc


def seal_padded(key: bytes, plaintext: bytes, associated: bytes, *, rng: Rng = default_rng) -> bytes:
    """Pad to a bucket, then seal."""
    return seal(key, pad(plaintext), associated, rng=rng)


def open_padded(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """Open, then remove the padding; raises DecryptionError."""
    try:
        return unpad(open_sealed(key, sealed, associated))
    except EncodingError as exc:
        raise DecryptionError("sealed plaintext has malformed padding") from exc
