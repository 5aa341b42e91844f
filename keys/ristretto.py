"""The ristretto255 group (RFC 9496) and its hash-to-group (RFC 9380), for the VOPRF of `keys/voprf.py`.

Every group operation is libsodium's (`crypto_core_ristretto255_*`, `crypto_scalarmult_ristretto255*`).
PyNaCl (1.6.2, the newest release) binds none of them: its bundled libsodium is linked without the
ristretto255 object files, so they cannot be reached through it. They are called through pysodium, a
maintained ctypes binding to the system's libsodium (>= 1.0.18; Debian: `libsodium23`). This is the one
module that imports pysodium; if PyNaCl gains the bindings, only this file changes.

Scalars are `keys.group.Scalar`: ristretto255 and edwards25519 share the group order L, and libsodium's
ristretto255 scalar functions are the edwards25519 ones under another name.

* `Element.decode` validates every received encoding: exactly 32 bytes, the top bit clear (checked here:
  libsodium 1.0.18 ignores it), canonical (libsodium's `is_valid_point` refuses s >= p, negative s,
  non-square x², negative xy and s = -1, the invalid encodings of RFC 9496 Appendix A.2), and not the
  identity, which `is_valid_point` accepts (RFC 9497 §4.1 DeserializeElement).
* Products and sums that would be the identity raise CryptoError: libsodium refuses an identity product
  itself, and sums are checked here.
* `expand_message_xmd` (RFC 9380 §5.3.1) is written here because libsodium 1.0.18 has no
  hash-to-group with a domain-separation tag; its SHA-512 is libsodium's `crypto_hash_sha512` (through
  PyNaCl), as RFC 9497 §4.1 mandates for this suite. `tests/keys/test_voprf.py` checks it against
  hashlib's SHA-512 and the RFC 9497 vectors.
"""

from __future__ import annotations

import hmac
from typing import Final

from nacl.bindings import crypto_hash_sha512

from keys.errors import CryptoError, EncodingError, InvalidPointError, SelfTestError
from keys.group import Scalar

try:
    import pysodium
except (OSError, ValueError) as _exc:  # pysodium raises these when no libsodium can be loaded
    raise ImportError(
        "keys.ristretto needs the system libsodium >= 1.0.18 (Debian/Ubuntu: apt install libsodium23; "
        "macOS: brew install libsodium)"
    ) from _exc

if pysodium.sodium_init() < 0:  # pragma: no cover - only fails when the library cannot initialise at all
    raise ImportError("the system libsodium failed to initialise")

ELEMENT_SIZE: Final = 32
UNIFORM_SIZE: Final = 64
IDENTITY_ENCODING: Final = bytes(ELEMENT_SIZE)
#: RFC 9496 §4.4: the encoding of the generator B
GENERATOR_ENCODING: Final = bytes.fromhex("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76")
_SHA512_BLOCK: Final = 128
_SHA512_SIZE: Final = 64


def _out(value: object) -> bytes:
    """pysodium's results, typed (it has no annotations)."""
    if not isinstance(value, bytes):  # pragma: no cover - pysodium always returns bytes
        raise CryptoError("libsodium returned no bytes")
    return value


class Element:
    """An element of ristretto255 other than the identity."""

    __slots__ = ("_b",)
    _b: bytes

    def __init__(self, encoding: bytes) -> None:
        """Alias of `Element.decode`."""
        self._b = Element.decode(encoding)._b

    @classmethod
    def decode(cls, encoding: bytes) -> Element:
        """Validate a received encoding; raises InvalidPointError for a wrong length, a non-canonical
        encoding (RFC 9496 §4.3.1) or the identity (RFC 9497 §4.1 DeserializeElement)."""
        if not isinstance(encoding, bytes) or len(encoding) != ELEMENT_SIZE:
            raise InvalidPointError("a ristretto255 element is 32 bytes")
        # libsodium 1.0.18 ignores bit 255 (it accepts B's encoding with that bit set): a second encoding of
        # every element unless refused here
        if encoding[31] & 0x80 or not pysodium.crypto_core_ristretto255_is_valid_point(encoding):
            raise InvalidPointError("not a canonical ristretto255 encoding")
        if hmac.compare_digest(encoding, IDENTITY_ENCODING):
            raise InvalidPointError("the identity element is not accepted")
        return cls._trusted(encoding)

    @classmethod
    def _trusted(cls, encoding: bytes) -> Element:
        e = cls.__new__(cls)
        e._b = encoding
        return e

    @classmethod
    def _checked(cls, encoding: bytes) -> Element:
        if hmac.compare_digest(encoding, IDENTITY_ENCODING):
            raise CryptoError("the result is the identity element")
        return cls._trusted(encoding)

    @classmethod
    def from_uniform(cls, uniform: bytes) -> Element:
        """RFC 9496 §4.3.4 one-way map of 64 uniform bytes (libsodium's `from_hash`).

        Raises EncodingError for a wrong length, CryptoError for the identity (probability about 2**-252)."""
        if not isinstance(uniform, bytes) or len(uniform) != UNIFORM_SIZE:
            raise EncodingError("the one-way map takes 64 bytes")
        return cls._checked(_out(pysodium.crypto_core_ristretto255_from_hash(uniform)))

    @classmethod
    def base_mul(cls, s: Scalar) -> Element:
        """s·B; raises CryptoError for the zero scalar."""
        try:
            return cls._trusted(_out(pysodium.crypto_scalarmult_ristretto255_base(s.encode())))
        except ValueError as exc:
            raise CryptoError("scalar multiplication of the generator by zero") from exc

    def mul(self, s: Scalar) -> Element:
        """s·P; raises CryptoError for a zero scalar (libsodium refuses an identity result)."""
        try:
            return Element._trusted(_out(pysodium.crypto_scalarmult_ristretto255(s.encode(), self._b)))
        except ValueError as exc:
            raise CryptoError("scalar multiplication gave the identity") from exc

    def __add__(self, other: Element) -> Element:
        return Element._checked(_out(pysodium.crypto_core_ristretto255_add(self._b, other._b)))

    def __sub__(self, other: Element) -> Element:
        return Element._checked(_out(pysodium.crypto_core_ristretto255_sub(self._b, other._b)))

    def encode(self) -> bytes:
        return self._b

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Element) and hmac.compare_digest(self._b, other._b)

    def __hash__(self) -> int:
        return hash(self._b)

    def __repr__(self) -> str:
        return f"Element({self._b.hex()[:16]}…)"


GENERATOR: Final = Element.decode(GENERATOR_ENCODING)


def sha512(data: bytes) -> bytes:
    """SHA-512 (libsodium's `crypto_hash_sha512`)."""
    return crypto_hash_sha512(data)


def expand_message_xmd(msg: bytes, dst: bytes, size: int) -> bytes:
    """RFC 9380 §5.3.1 expand_message_xmd with SHA-512.

    Raises EncodingError for a tag longer than 255 bytes or an output size outside 1..255·64.
    """
    if not 0 < len(dst) <= 255:
        raise EncodingError("a domain-separation tag is 1..255 bytes")
    blocks = -(-size // _SHA512_SIZE)
    if not 0 < size <= 65535 or blocks > 255:
        raise EncodingError("expand_message_xmd can produce 1..16320 bytes")
    dst_prime = dst + bytes([len(dst)])
    b0 = sha512(bytes(_SHA512_BLOCK) + msg + size.to_bytes(2, "big") + b"\x00" + dst_prime)
    out = [sha512(b0 + b"\x01" + dst_prime)]
    for i in range(2, blocks + 1):
        mixed = bytes(a ^ b for a, b in zip(b0, out[-1], strict=True))
        out.append(sha512(mixed + bytes([i]) + dst_prime))
    return b"".join(out)[:size]


def hash_to_group(msg: bytes, dst: bytes) -> Element:
    """hash_to_ristretto255 (RFC 9380 Appendix B): the one-way map of expand_message_xmd(msg, dst, 64).

    Raises CryptoError in the negligible case of the identity."""
    return Element.from_uniform(expand_message_xmd(msg, dst, UNIFORM_SIZE))


def hash_to_scalar(msg: bytes, dst: bytes) -> Scalar:
    """RFC 9497 §4.1 HashToScalar: expand_message_xmd(msg, dst, 64) as a little-endian integer mod L.

    May be zero (probability about 2**-252); callers that need a non-zero scalar check."""
    return Scalar.reduce64(expand_message_xmd(msg, dst, UNIFORM_SIZE))


# RFC 9496 Appendix A.2 (a sample), B with bit 255 set, the identity; and A.1 (2·B)
_INVALID_SAMPLES: Final = {
    "non-canonical field encoding": "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "generator with the top bit set": "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2df6",
    "negative field element": "0100000000000000000000000000000000000000000000000000000000000000",
    "non-square x²": "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
    "s = -1": "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "identity": "00" * 32,
}
_TWO_B: Final = "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919"


def self_test() -> None:
    """Fail closed unless the loaded libsodium computes and validates ristretto255 as RFC 9496 says.

    Raises SelfTestError. Call once at start-up of every program that uses tokens.
    """
    if not pysodium.sodium_version_check(1, 0, 18):
        raise SelfTestError("the system libsodium is older than 1.0.18 and has no ristretto255; refusing to run")
    for name, encoding in _INVALID_SAMPLES.items():
        try:
            Element.decode(bytes.fromhex(encoding))
        except InvalidPointError:
            continue
        raise SelfTestError(f"the ristretto255 decoder accepts an invalid encoding ({name}); refusing to run")
    if Element.base_mul(Scalar.from_int(1)) != GENERATOR or Element.base_mul(Scalar.from_int(2)).encode().hex() != _TWO_B:
        raise SelfTestError("libsodium's ristretto255 multiplication disagrees with RFC 9496; refusing to run")
    if GENERATOR.mul(Scalar.from_int(2)) != GENERATOR + GENERATOR:
        raise SelfTestError("libsodium's ristretto255 addition disagrees with its multiplication; refusing to run")
