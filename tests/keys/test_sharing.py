import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.errors import EncodingError, ProtocolError
from keys.group import Point, Scalar
from keys.sharing import Polynomial, evaluate_commitments, lagrange_coefficient, lagrange_coefficients, verify_share


def interpolate(shares: dict[int, Scalar]) -> Scalar:
    weights = lagrange_coefficients(sorted(shares))
    total = Scalar.from_int(0)
    for i, s in shares.items():
        total = total + weights[i] * s
    return total


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=5), st.integers(min_value=0, max_value=3))
def test_any_k_shares_give_the_secret_and_k_minus_1_do_not(k: int, extra: int) -> None:
    poly = Polynomial.random(k - 1)
    n = k + extra
    shares = {i: poly.evaluate(i) for i in range(1, n + 1)}
    for subset in itertools.combinations(shares, k):
        assert interpolate({i: shares[i] for i in subset}) == poly.coefficients[0]
    if k > 1:
        assert interpolate({i: shares[i] for i in range(1, k)}) != poly.coefficients[0]


def test_feldman_check_accepts_good_and_rejects_bad_shares() -> None:
    poly = Polynomial.random(2)
    commitments = poly.commitments()
    assert verify_share(commitments, 4, poly.evaluate(4))
    assert not verify_share(commitments, 4, poly.evaluate(5))
    assert not verify_share(commitments, 4, poly.evaluate(4) + Scalar.from_int(1))
    assert evaluate_commitments(commitments, 3) == Point.base_mul(poly.evaluate(3))


def test_constant_term_can_be_fixed() -> None:
    secret = Scalar.random()
    assert Polynomial.random(3, constant=secret).coefficients[0] == secret


def test_lagrange_errors() -> None:
    with pytest.raises(ProtocolError):
        lagrange_coefficient(4, [1, 2, 3])
    with pytest.raises(ProtocolError):
        lagrange_coefficient(1, [1, 1, 2])
    with pytest.raises(EncodingError):
        lagrange_coefficient(0, [0, 1])
    with pytest.raises(EncodingError):
        Polynomial.random(1).evaluate(0)
