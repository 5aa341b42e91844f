import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.bindings import crypto_core_ed25519_add, crypto_scalarmult_ed25519_base_noclamp

import keys.group as group
from keys.errors import CryptoError, InvalidPointError, InvalidScalarError, SelfTestError
from keys.group import IDENTITY_ENCODING, L, Point, Scalar, self_test

P = 2**255 - 19
ORDER_TWO = (2**255 - 20).to_bytes(32, "little")
# A point of order 4: y = 0 (x = sqrt(-1)); and of order 8 from libsodium's small-order blocklist.
ORDER_FOUR = bytes(32)
ORDER_EIGHT = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
scalars = st.integers(min_value=0, max_value=L - 1)


def g(n: int) -> Point:
    return Point.base_mul(Scalar.from_int(n))


def test_self_test_passes_on_this_libsodium() -> None:
    self_test()


def test_self_test_fails_closed_when_libsodium_accepts_a_mixed_order_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(group, "crypto_core_ed25519_is_valid_point", lambda encoding: True)
    with pytest.raises(SelfTestError, match="CVE-2025-69277"):
        self_test()


@pytest.mark.parametrize(
    "encoding",
    [
        IDENTITY_ENCODING,
        ORDER_TWO,
        ORDER_FOUR,
        ORDER_EIGHT,
        (P + 1).to_bytes(32, "little"),  # non-canonical y = p + 1
        bytes(31),  # short
        b"\xff" * 32,
    ],
    ids=["identity", "order-2", "order-4", "order-8", "non-canonical", "short", "all-ones"],
)
def test_invalid_points_are_rejected(encoding: bytes) -> None:
    with pytest.raises(InvalidPointError):
        Point.decode(encoding)


def test_mixed_order_point_is_rejected_by_decode_and_by_multiplication() -> None:
    mixed = crypto_core_ed25519_add(crypto_scalarmult_ed25519_base_noclamp((7).to_bytes(32, "little")), ORDER_TWO)
    with pytest.raises(InvalidPointError):
        Point.decode(mixed)
    with pytest.raises(CryptoError):
        Point.decode_for_mul(mixed).mul(Scalar.from_int(3))


def test_unreduced_scalars_are_rejected() -> None:
    with pytest.raises(InvalidScalarError):
        Scalar(L.to_bytes(32, "little"))
    with pytest.raises(InvalidScalarError):
        Scalar((2**255 + 5).to_bytes(32, "little"))
    with pytest.raises(InvalidScalarError):
        Scalar.decode_nonzero(bytes(32))
    with pytest.raises(InvalidScalarError):
        Scalar(b"\x01" * 31)


def test_zero_scalar_and_identity_sums_are_errors() -> None:
    with pytest.raises(CryptoError):
        Point.base_mul(Scalar.from_int(0))
    with pytest.raises(CryptoError):
        g(5) - g(5)
    with pytest.raises(InvalidScalarError):
        Scalar.from_int(0).invert()


@given(scalars, scalars)
def test_scalar_arithmetic_matches_integers(a: int, b: int) -> None:
    sa, sb = Scalar.from_int(a), Scalar.from_int(b)
    assert (sa + sb).to_int() == (a + b) % L
    assert (sa - sb).to_int() == (a - b) % L
    assert (sa * sb).to_int() == (a * b) % L
    assert (-sa).to_int() == (-a) % L
    if a:
        assert (sa * sa.invert()).to_int() == 1


@given(st.integers(min_value=1, max_value=L - 1), st.integers(min_value=1, max_value=L - 1))
def test_group_law_is_linear(a: int, b: int) -> None:
    if (a + b) % L:
        assert g(a) + g(b) == g((a + b) % L)
    assert g(a).mul(Scalar.from_int(b)) == g(a * b % L)


def test_scalar_repr_hides_secrets() -> None:
    assert "hidden" in repr(Scalar.from_int(12345))


def test_new_ids_never_start_with_a_dash() -> None:
    from keys.encoding import b64u_encode
    from keys.group import new_id

    stuck_on_dash = iter([b"\xf8" + bytes(15), b"\xf8" + bytes(15), b"\x00" * 16])
    assert new_id(lambda n: next(stuck_on_dash)) == bytes(16)  # two '-' draws were refused
    assert all(not b64u_encode(new_id()).startswith("-") for _ in range(2000))
