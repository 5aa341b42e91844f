import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys.encoding import b64u_encode
from keys.errors import EncodingError, VersionError
from keys.reveal import PartialDecryption
from keys.wire import decode_json, encode_json, from_wire, to_wire

GOOD = PartialDecryption(v=1, request_id=b"r" * 16, index=2, point=b"p" * 32, proof=b"q" * 64, signature=b"s" * 64)


def test_round_trip() -> None:
    assert decode_json(PartialDecryption, encode_json(GOOD)) == GOOD


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"v": 2}, VersionError, "unknown version 2"),
        ({"v": None}, VersionError, "unknown version"),
        ({"extra": 1}, EncodingError, "unknown field"),
        ({"index": "2"}, EncodingError, "index: expected an integer"),
        ({"index": True}, EncodingError, "expected an integer"),
        ({"point": "AA"}, EncodingError, "point: expected 32 bytes"),
        ({"proof": 5}, EncodingError, "proof: expected unpadded base64url"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        from_wire(PartialDecryption, {**to_wire(GOOD), **change})


def test_missing_field_is_named() -> None:
    data = to_wire(GOOD)
    del data["signature"]
    with pytest.raises(EncodingError, match=r"missing field.*signature"):
        from_wire(PartialDecryption, data)


def test_version_is_checked_before_anything_else() -> None:
    with pytest.raises(VersionError):
        from_wire(PartialDecryption, {"v": 9, "garbage": True})


@given(
    st.dictionaries(
        st.sampled_from(["v", "request_id", "index", "point", "proof", "signature", "x"]),
        st.none() | st.integers() | st.text() | st.booleans() | st.lists(st.integers()),
    )
)
def test_arbitrary_objects_give_only_encoding_errors(data: dict[str, Any]) -> None:
    with contextlib.suppress(EncodingError):
        from_wire(PartialDecryption, data)


@given(
    st.fixed_dictionaries(
        {
            "v": st.sampled_from([1, 1, 2, True]),
            "request_id": st.sampled_from([b64u_encode(b"r" * 16), "cnJy" * 5 + "cnI", "cnJycnJycnJycnJycnJycR"]),
            "index": st.integers(-2, 2**60) | st.booleans() | st.just(2.0),
            "point": st.sampled_from([b64u_encode(b"p" * 32), b64u_encode(b"p" * 31)]),
            "proof": st.just(b64u_encode(b"q" * 64)),
            "signature": st.just(b64u_encode(b"s" * 64)),
        }
    )
)
def test_what_from_wire_accepts_is_the_one_wire_form(data: dict[str, Any]) -> None:
    # the server keeps an accepted object's JSON as its wire form (intakes), without encoding it again
    with contextlib.suppress(EncodingError):
        assert to_wire(from_wire(PartialDecryption, data)) == data


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_only_encoding_errors(data: bytes) -> None:
    with pytest.raises(EncodingError):
        decode_json(PartialDecryption, data)
