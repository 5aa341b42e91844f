"""Scalars and points of the prime-order subgroup of edwards25519 (protocol doc §2.1).

Only noclamp operations: clamping rewrites a scalar and breaks Shamir/Lagrange. Every point that
comes from outside goes through `Point.decode` (libsodium's `is_valid_point`: canonical, on the curve,
not small order, in the main subgroup). Points produced here by multiplication are valid by
construction; sums are checked for the identity, which is never a legitimate result in this protocol.

This is only sound on libsodium with the 2025-12-30 fix (PyNaCl >= 1.6.2, CVE-2025-69277):
`self_test()` fails closed on a library that accepts mixed-order points.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import Final

import nacl.exceptions
import nacl.utils
from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_from_uniform,
    crypto_core_ed25519_is_valid_point,
    crypto_core_ed25519_scalar_add,
    crypto_core_ed25519_scalar_invert,
    crypto_core_ed25519_scalar_mul,
    crypto_core_ed25519_scalar_negate,
    crypto_core_ed25519_scalar_reduce,
    crypto_core_ed25519_scalar_sub,
    crypto_core_ed25519_sub,
    crypto_scalarmult_ed25519_base_noclamp,
    crypto_scalarmult_ed25519_noclamp,
)

from keys.errors import (
    CryptoError,
    EncodingError,
    InvalidPointError,
    InvalidScalarError,
    SelfTestError,
)

#: order of the prime-order subgroup
L: Final = 2**252 + 27742317777372353535851937790883648493
SCALAR_SIZE: Final = 32
POINT_SIZE: Final = 32
UNIFORM_SIZE: Final = 32
IDENTITY_ENCODING: Final = b"\x01" + bytes(31)
_BASE_ENCODING: Final = crypto_scalarmult_ed25519_base_noclamp((1).to_bytes(32, "little"))

#: a source of random bytes; libsodium's by default, a pinned one only in the known-answer-vector script
Rng = Callable[[int], bytes]
default_rng: Final[Rng] = nacl.utils.random


def new_id(rng: Rng = default_rng, size: int = 16) -> bytes:
    """A random identifier (case, request, proposal, message) whose base64url form does not start with
    '-', so it can be typed as a command-line argument. Costs 0.03 bits of the 128."""
    while True:
        value = rng(size)
        if value[0] >> 2 != 62:  # 62 is '-' in the base64url alphabet
            return value


class Scalar:
    """An integer modulo L, stored as 32 little-endian bytes below L. Arithmetic runs in libsodium."""

    __slots__ = ("_b",)
    _b: bytes

    def __init__(self, encoding: bytes) -> None:
        """Build from 32 little-endian bytes; raises InvalidScalarError unless 0 <= value < L."""
        if not isinstance(encoding, bytes) or len(encoding) != SCALAR_SIZE:
            raise InvalidScalarError("a scalar is 32 bytes")
        if int.from_bytes(encoding, "little") >= L:
            raise InvalidScalarError("scalar is not reduced modulo the group order")
        self._b = encoding

    @classmethod
    def _trusted(cls, encoding: bytes) -> Scalar:
        s = cls.__new__(cls)
        s._b = encoding
        return s

    @classmethod
    def from_int(cls, value: int) -> Scalar:
        """The scalar value mod L (for public small numbers: indices, powers, Lagrange weights)."""
        return cls._trusted((value % L).to_bytes(SCALAR_SIZE, "little"))

    @classmethod
    def reduce64(cls, wide: bytes) -> Scalar:
        """Reduce 64 bytes modulo L (bias about 2**-259)."""
        if not isinstance(wide, bytes) or len(wide) != 64:
            raise InvalidScalarError("reduction needs exactly 64 bytes")
        return cls._trusted(crypto_core_ed25519_scalar_reduce(wide))

    @classmethod
    def random(cls, rng: Rng = default_rng) -> Scalar:
        """A uniformly random non-zero scalar."""
        while True:
            s = cls.reduce64(rng(64))
            if not s.is_zero():
                return s

    @classmethod
    def decode_nonzero(cls, encoding: bytes) -> Scalar:
        """Like the constructor, but also rejects zero (for secret shares and keys)."""
        s = cls(encoding)
        if s.is_zero():
            raise InvalidScalarError("scalar must not be zero")
        return s

    def encode(self) -> bytes:
        return self._b

    def to_int(self) -> int:
        """The integer value. Not constant-time: for public scalars only."""
        return int.from_bytes(self._b, "little")

    def is_zero(self) -> bool:
        return hmac.compare_digest(self._b, bytes(SCALAR_SIZE))

    def __add__(self, other: Scalar) -> Scalar:
        return Scalar._trusted(crypto_core_ed25519_scalar_add(self._b, other._b))

    def __sub__(self, other: Scalar) -> Scalar:
        return Scalar._trusted(crypto_core_ed25519_scalar_sub(self._b, other._b))

    def __mul__(self, other: Scalar) -> Scalar:
        return Scalar._trusted(crypto_core_ed25519_scalar_mul(self._b, other._b))

    def __neg__(self) -> Scalar:
        return Scalar._trusted(crypto_core_ed25519_scalar_negate(self._b))

    def invert(self) -> Scalar:
        """The multiplicative inverse; raises InvalidScalarError for zero."""
        if self.is_zero():
            raise InvalidScalarError("zero has no inverse")
        return Scalar._trusted(crypto_core_ed25519_scalar_invert(self._b))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scalar) and hmac.compare_digest(self._b, other._b)

    def __hash__(self) -> int:
        return hash(self._b)

    def __repr__(self) -> str:
        return "Scalar(<hidden>)"  # never print secret scalars


class Point:
    """An element of the prime-order subgroup, other than the identity."""

    __slots__ = ("_b",)
    _b: bytes

    def __init__(self, encoding: bytes) -> None:
        """Alias of `Point.decode`."""
        self._b = Point.decode(encoding)._b

    @classmethod
    def decode(cls, encoding: bytes) -> Point:
        """Validate a received encoding; raises InvalidPointError for identity, small-order,
        mixed-order, non-canonical or off-curve encodings."""
        if not isinstance(encoding, bytes) or len(encoding) != POINT_SIZE:
            raise InvalidPointError("a point is 32 bytes")
        if not crypto_core_ed25519_is_valid_point(encoding):
            raise InvalidPointError("not a valid point of the prime-order group")
        return cls._trusted(encoding)

    @classmethod
    def decode_for_mul(cls, encoding: bytes) -> Point:
        """Length check only, for a received point whose first use is a scalar multiplication.

        libsodium's noclamp multiplication validates its input point (canonical, not small order, in
        the prime-order subgroup) and refuses otherwise, so a separate `is_valid_point` is redundant
        there (doc §3, "fast path"). Warning: never add, compare or hash such a point before it has
        been multiplied once; use `decode` for that.
        """
        if not isinstance(encoding, bytes) or len(encoding) != POINT_SIZE:
            raise InvalidPointError("a point is 32 bytes")
        return cls._trusted(encoding)

    @classmethod
    def _trusted(cls, encoding: bytes) -> Point:
        p = cls.__new__(cls)
        p._b = encoding
        return p

    @classmethod
    def from_uniform(cls, uniform: bytes) -> Point:
        """libsodium's `crypto_core_ed25519_from_uniform`: Elligator 2 of 32 uniform bytes (bit 255 picks
        the sign of x, the low 255 bits are the field element), then multiplied by the cofactor 8, so the
        result is in the prime-order subgroup (protocol doc §10.1). Half of a hash-to-group: Elligator 2 reaches
        only part of the curve, so one call's output is not uniform; `keys/voprf.py` adds two (RFC 9380 §3).

        Raises EncodingError unless `uniform` is 32 bytes, CryptoError when the result is the identity (at
        most a few dozen of the 2**256 inputs, the 32 zero bytes among them; never a hash output in practice)."""
        if not isinstance(uniform, bytes) or len(uniform) != UNIFORM_SIZE:
            raise EncodingError("the map to the curve takes 32 bytes")
        encoding = crypto_core_ed25519_from_uniform(uniform)
        if hmac.compare_digest(encoding, IDENTITY_ENCODING):
            raise CryptoError("these bytes map to the identity")
        return cls._trusted(encoding)

    @classmethod
    def base_mul(cls, s: Scalar) -> Point:
        """s·G; raises CryptoError for the zero scalar."""
        try:
            return cls._trusted(crypto_scalarmult_ed25519_base_noclamp(s.encode()))
        except nacl.exceptions.CryptoError as exc:
            raise CryptoError("scalar multiplication of the base point by zero") from exc

    def mul(self, s: Scalar) -> Point:
        """s·P; raises CryptoError for a zero scalar (libsodium refuses an identity result)."""
        if self._b == _BASE_ENCODING:
            return Point.base_mul(s)  # 5x faster than the generic multiplication
        try:
            return Point._trusted(crypto_scalarmult_ed25519_noclamp(s.encode(), self._b))
        except nacl.exceptions.CryptoError as exc:
            raise CryptoError("scalar multiplication failed: invalid point, zero scalar or identity result") from exc

    def __add__(self, other: Point) -> Point:
        return Point._checked_sum(crypto_core_ed25519_add(self._b, other._b))

    def __sub__(self, other: Point) -> Point:
        return Point._checked_sum(crypto_core_ed25519_sub(self._b, other._b))

    @classmethod
    def _checked_sum(cls, encoding: bytes) -> Point:
        # Both operands are subgroup points, so the sum is too; only the identity must be refused.
        if hmac.compare_digest(encoding, IDENTITY_ENCODING):
            raise CryptoError("a sum of points gave the identity")
        return cls._trusted(encoding)

    def encode(self) -> bytes:
        return self._b

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and hmac.compare_digest(self._b, other._b)

    def __hash__(self) -> int:
        return hash(self._b)

    def __repr__(self) -> str:
        return f"Point({self._b.hex()[:16]}…)"


def point_sum(points: Iterable[Point]) -> Point:
    """Σ points; raises CryptoError for an empty sum or an identity result."""
    it = iter(points)
    try:
        total = next(it)
    except StopIteration:
        raise CryptoError("sum of no points") from None
    for p in it:
        total = total + p
    return total


def multi_mul(pairs: Iterable[tuple[Scalar, Point]]) -> Point:
    """Σ s_i·P_i (plain loop: libsodium has no multi-scalar multiplication)."""
    return point_sum(p.mul(s) for s, p in pairs)


# The encoding of (0, -1): a point of order 2. P + (0,-1) is the mixed-order point of CVE-2025-69277.
_ORDER_TWO: Final = (2**255 - 20).to_bytes(32, "little")


def self_test() -> None:
    """Fail closed unless libsodium rejects identity, small-order and mixed-order points.

    Raises SelfTestError. Call once at start-up of every program that handles points.
    """
    g5 = crypto_scalarmult_ed25519_base_noclamp((5).to_bytes(32, "little"))
    mixed = crypto_core_ed25519_add(g5, _ORDER_TWO)
    checks = {
        "mixed-order point P+(0,-1)": mixed,
        "identity": IDENTITY_ENCODING,
        "order-two point": _ORDER_TWO,
        "non-canonical encoding y=p+1": ((2**255 - 19) + 1).to_bytes(32, "little"),
    }
    for name, encoding in checks.items():
        if crypto_core_ed25519_is_valid_point(encoding):
            raise SelfTestError(f"libsodium accepts the {name} as valid (CVE-2025-69277); refusing to run")
    try:
        crypto_scalarmult_ed25519_noclamp((3).to_bytes(32, "little"), mixed)
    except nacl.exceptions.CryptoError:
        pass
    else:
        raise SelfTestError("libsodium multiplies a mixed-order point; refusing to run")
    if not crypto_core_ed25519_is_valid_point(g5):
        raise SelfTestError("libsodium rejects a valid point")
