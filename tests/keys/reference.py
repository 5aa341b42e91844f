"""Independent reference computations for the VOPRF and token vectors: a slow edwards25519 in Python
integers and docs/protocol.md §1's hash framing over hashlib's BLAKE2b, sharing no code with keys/ or libsodium.

Affine coordinates and the complete twisted Edwards addition law (RFC 8032 §5.1.4, curve constants of §5.1),
point encoding and decoding as RFC 8032 §5.1.2-§5.1.3, and libsodium's `crypto_core_ed25519_from_uniform`
written from its description in docs/protocol.md §10.1 (Elligator 2 onto Curve25519, the birational map to
edwards25519, the cofactor cleared). Not constant time; never used outside tests.
"""

from __future__ import annotations

import hashlib

from keys.encoding import lp
from keys.hashing import PREFIX

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
MONTGOMERY_A = 486662
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1)
Affine = tuple[int, int]


def sqrt(a: int) -> int | None:
    """A square root of a mod p (p = 5 mod 8), or None when a is not a square."""
    a %= P
    x = pow(a, (P + 3) // 8, P)
    if x * x % P != a:
        x = x * SQRT_M1 % P
    return x if x * x % P == a else None


def recover(y: int, sign: int) -> Affine:
    """The point with this y whose x has this parity; raises ValueError when there is none."""
    x = sqrt((y * y - 1) * pow(D * y * y + 1, -1, P))
    if x is None:
        raise ValueError("no point with this y")
    return (-x % P if x & 1 != sign else x), y


def decode(encoding: bytes) -> Affine:
    n = int.from_bytes(encoding, "little")
    y = n & ((1 << 255) - 1)
    if y >= P:
        raise ValueError("non-canonical y")
    return recover(y, n >> 255)


def encode(point: Affine) -> bytes:
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


def add(a: Affine, b: Affine) -> Affine:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P


def mul(k: int, point: Affine) -> Affine:
    result = IDENTITY
    while k:
        if k & 1:
            result = add(result, point)
        point = add(point, point)
        k >>= 1
    return result


BASE = recover(4 * pow(5, -1, P) % P, 0)


def from_uniform(uniform: bytes) -> Affine:
    """Elligator 2 of 32 bytes as docs/protocol.md §10.1 describes libsodium's map."""
    n = int.from_bytes(uniform, "little")
    sign, t = n >> 255, n & ((1 << 255) - 1)
    u = -MONTGOMERY_A * pow(1 + 2 * t * t, -1, P) % P
    if pow((u * u * u + MONTGOMERY_A * u * u + u) % P, (P - 1) // 2, P) == P - 1:  # not a square
        u = (-u - MONTGOMERY_A) % P
    y = (u - 1) * pow(u + 1, -1, P) % P if (u + 1) % P else 0
    return mul(8, recover(y, sign))


def blake2b(tag: bytes, *parts: bytes, size: int) -> bytes:
    """`LP("tessera/v1/" ‖ tag) ‖ LP(x1) ‖ …` hashed by hashlib's BLAKE2b: KDF32 (size 32) or TH (size 64)."""
    framed = lp(PREFIX + tag) + b"".join(lp(p) for p in parts)
    return hashlib.blake2b(framed, digest_size=size).digest()


def h2s(tag: bytes, *parts: bytes) -> int:
    """H2S as an integer: the 64-byte hash, little-endian, mod L."""
    return int.from_bytes(blake2b(tag, *parts, size=64), "little") % L


def hash_to_group(data: bytes) -> Affine:
    """docs/protocol.md §10.1: the sum of the maps of KDF32(voprf/hash-to-group/0; x) and …/1."""
    u0 = blake2b(b"voprf/hash-to-group/0", data, size=32)
    u1 = blake2b(b"voprf/hash-to-group/1", data, size=32)
    return add(from_uniform(u0), from_uniform(u1))


def output(data: bytes, unblinded: Affine) -> bytes:
    """TH(voprf/finalize; x, N)."""
    return blake2b(b"voprf/finalize", data, encode(unblinded), size=64)


# Encodings every decoder must refuse: the identity, points of order 2 and 4, a mixed-order point
# (5·G + (0, −1), CVE-2025-69277's shape) and a non-canonical y = p + 1.
INVALID_POINTS = {
    "identity": encode(IDENTITY),
    "order 2": encode((0, P - 1)),
    "order 4": bytes(32),
    "mixed order": encode(add(mul(5, BASE), (0, P - 1))),
    "non-canonical": (P + 1).to_bytes(32, "little"),
}
