"""Shamir sharing over Z_L with Feldman commitments, and Lagrange coefficients (protocol doc §2.3, §2.8).

Member indices are 1..65535 (never 0: f(0) is the secret). Lagrange weights are computed over exactly
the index set that is combined; mixing sets or epochs gives garbage, which the callers' checks catch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from keys.errors import CryptoError, EncodingError, ProtocolError
from keys.group import L, Point, Rng, Scalar, default_rng

MAX_INDEX = 0xFFFF


def check_index(index: int) -> int:
    """Return `index` if it is a valid member index (1..65535); raises EncodingError otherwise."""
    if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= MAX_INDEX:
        raise EncodingError(f"member index must be in 1..{MAX_INDEX}, got {index!r}")
    return index


@dataclass(frozen=True, slots=True)
class Polynomial:
    """f(z) = a_0 + a_1·z + … + a_{k−1}·z^{k−1} with secret coefficients."""

    coefficients: tuple[Scalar, ...]

    @classmethod
    def random(cls, degree: int, *, constant: Scalar | None = None, rng: Rng = default_rng) -> Polynomial:
        """A random polynomial of this degree; `constant` fixes a_0 (redistribution re-shares a share)."""
        if degree < 0:
            raise EncodingError("polynomial degree must be >= 0")
        a0 = constant if constant is not None else Scalar.random(rng)
        return cls((a0, *(Scalar.random(rng) for _ in range(degree))))

    def evaluate(self, index: int) -> Scalar:
        """f(index) by Horner's rule in libsodium's scalar arithmetic."""
        z = Scalar.from_int(check_index(index))
        acc = self.coefficients[-1]
        for a in reversed(self.coefficients[:-1]):
            acc = acc * z + a
        return acc

    def commitments(self) -> tuple[Point, ...]:
        """Feldman commitments C_m = a_m·G."""
        return tuple(Point.base_mul(a) for a in self.coefficients)


def evaluate_commitments(commitments: Sequence[Point], index: int) -> Point:
    """Σ_m index^m·C_m: the public image f(index)·G of a committed polynomial."""
    check_index(index)
    total = commitments[0]
    power = 1
    for c in commitments[1:]:
        power = power * index % L
        total = total + c.mul(Scalar.from_int(power))
    return total


def verify_share(commitments: Sequence[Point], index: int, share: Scalar) -> bool:
    """True iff share·G == Σ_m index^m·C_m (Feldman check)."""
    try:
        return Point.base_mul(share) == evaluate_commitments(commitments, index)
    except CryptoError:
        return False


def lagrange_coefficient(index: int, indices: Iterable[int]) -> Scalar:
    """λ_index over the set `indices` at 0: Π_{j≠i} j / (j − i) mod L.

    Raises ProtocolError when `index` is not in the set or the set has repeats.
    """
    idx = [check_index(j) for j in indices]
    if len(set(idx)) != len(idx):
        raise ProtocolError("member indices must be distinct", culprits=[j for j in idx if idx.count(j) > 1])
    if index not in idx:
        raise ProtocolError(f"member {index} is not in the set being combined")
    num, den = 1, 1
    for j in idx:
        if j != index:
            num = num * j % L
            den = den * (j - index) % L
    # Indices are public, so Python integers are fine here.
    return Scalar.from_int(num * pow(den, -1, L))


def lagrange_coefficients(indices: Sequence[int]) -> dict[int, Scalar]:
    """λ_i for every i of the set."""
    return {i: lagrange_coefficient(i, indices) for i in indices}
