import base64
import contextlib
import json
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys import hashing
from keys.encoding import b64u_decode, b64u_encode, canonical_json, parse_json, u16, u32, u64
from keys.errors import EncodingError


@given(st.binary(max_size=200))
def test_b64u_round_trip(data: bytes) -> None:
    text = b64u_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64u_decode(text) == data


@pytest.mark.parametrize("text", ["AA==", "A", "AB+/", "AB CD", "ü", "AB=C"])
def test_b64u_rejects_padding_other_alphabets_and_junk(text: str) -> None:
    with pytest.raises(EncodingError):
        b64u_decode(text)


def test_b64u_rejects_non_canonical_trailing_bits() -> None:
    assert b64u_decode("AA") == b"\x00"
    with pytest.raises(EncodingError, match="non-canonical"):
        b64u_decode("AB")  # same byte, unused low bits set


def _b64u_by_definition(text: str) -> bytes | None:
    """The plain reading of the rules b64u_decode enforces (the oracle for the test below): only the
    url-safe alphabet, no padding, and the one canonical text for the bytes it decodes to."""
    if any(c not in string.ascii_letters + string.digits + "-_" for c in text) or len(text) % 4 == 1:
        return None
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return data if base64.urlsafe_b64encode(data).rstrip(b"=").decode() == text else None


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_+/= \nü\x00", max_size=24))
def test_b64u_decode_accepts_exactly_the_canonical_texts(text: str) -> None:
    expected = _b64u_by_definition(text)
    if expected is None:
        with pytest.raises(EncodingError):
            b64u_decode(text)
    else:
        assert b64u_decode(text) == expected


def test_b64u_length_check_names_the_field() -> None:
    with pytest.raises(EncodingError, match="case_id: expected 16 bytes"):
        b64u_decode(b64u_encode(b"x" * 15), length=16, what="case_id")


def test_integers_are_range_checked() -> None:
    assert u16(0x1234) == b"\x12\x34"
    assert u32(1) == b"\x00\x00\x00\x01"
    assert u64(2**64 - 1) == b"\xff" * 8
    for bad in (-1, 2**16, True, "1"):
        with pytest.raises(EncodingError):
            u16(bad)  # type: ignore[arg-type]


def test_canonical_json_is_sorted_compact_utf8_and_refuses_floats() -> None:
    assert canonical_json({"b": 1, "a": ["김", None, True]}) == '{"a":["김",null,true],"b":1}'.encode()
    with pytest.raises(EncodingError):
        canonical_json({"x": 1.5})
    with pytest.raises(EncodingError):
        canonical_json({1: "x"})
    with pytest.raises(EncodingError):
        canonical_json({"x": b"bytes"})


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**50), 2**50) | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_canonical_json_round_trips(value: object) -> None:
    assert json.loads(canonical_json(value)) == value


@given(st.binary(max_size=64))
def test_parse_json_raises_only_encoding_errors(data: bytes) -> None:
    with contextlib.suppress(EncodingError):
        parse_json(data)


def test_parse_json_rejects_nan() -> None:
    with pytest.raises(EncodingError):
        parse_json(b"[NaN]")


def test_every_domain_tag_is_unique() -> None:
    tags = [v for k, v in vars(hashing).items() if k.startswith("TAG_")]
    assert len(tags) == len(set(tags)) > 30
    assert hashing.TAG_TOKEN_KEY_ID in tags  # the anonymous-token key id (keys/tokens.py)
    voprf_tags = {
        hashing.TAG_VOPRF_HASH_TO_GROUP_0,
        hashing.TAG_VOPRF_HASH_TO_GROUP_1,
        hashing.TAG_VOPRF_SEED,
        hashing.TAG_VOPRF_COMPOSITE,
        hashing.TAG_VOPRF_CHALLENGE,
        hashing.TAG_VOPRF_FINALIZE,
    }
    assert len(voprf_tags) == 6 and voprf_tags <= set(tags)  # keys/voprf.py, one per purpose


def test_hashes_are_domain_separated_and_length_prefixed() -> None:
    assert hashing.kdf32(b"a", b"x") != hashing.kdf32(b"b", b"x")
    assert hashing.kdf32(b"a", b"ab", b"c") != hashing.kdf32(b"a", b"a", b"bc")
    assert hashing.transcript_hash(b"a", b"x")[:32] != hashing.kdf32(b"a", b"x")
    assert len(hashing.transcript_hash(b"a")) == 64
    with pytest.raises(EncodingError):
        hashing.kdf32(b"a", "text")  # type: ignore[arg-type]


def test_large_inputs_hash_in_pieces_to_the_same_digest() -> None:
    import hashlib

    from keys.encoding import lp

    big = bytes(range(256)) * 1024  # 256 KiB: the incremental path
    framed = lp(hashing.PREFIX + hashing.TAG_DIGEST) + lp(b"x") + lp(big)
    assert hashing.kdf32(hashing.TAG_DIGEST, b"x", big) == hashlib.blake2b(framed, digest_size=32).digest()
    assert hashing.transcript_hash(hashing.TAG_DIGEST, b"x", big) == hashlib.blake2b(framed).digest()
    assert hashing.kdf32(hashing.TAG_DIGEST, big) != hashing.kdf32(hashing.TAG_DIGEST, big[:-1])
    pieces = [big, b"", b"tail", big]
    assert hashing.digest_pieces(pieces) == hashing.digest(b"".join(pieces))
    assert hashing.digest_pieces([]) == hashing.digest(b"")


def test_a_part_digest_fed_as_it_arrives_equals_the_one_pass_digest() -> None:
    data = bytes(range(256)) * 4096 + b"end"  # 1 MiB and 3 bytes
    hasher = hashing.PartDigest(hashing.TAG_DIGEST, len(data))
    # the three buffer types a body read from the network comes in
    hasher.update(data[:1000])
    hasher.update(bytearray(data[1000:500_000]))
    hasher.update(memoryview(data)[500_000:])
    assert hasher.finish() == hashing.digest(data)
    empty = hashing.PartDigest(hashing.TAG_DIGEST, 0)
    assert empty.finish() == hashing.digest(b"")
    other_tag = hashing.PartDigest(b"other", 3)
    other_tag.update(b"abc")
    assert other_tag.finish() != hashing.digest(b"abc")


def test_a_part_digest_refuses_more_or_fewer_bytes_than_announced() -> None:
    over = hashing.PartDigest(hashing.TAG_DIGEST, 4)
    over.update(b"abc")
    with pytest.raises(EncodingError, match="got more"):
        over.update(b"de")
    short = hashing.PartDigest(hashing.TAG_DIGEST, 4)
    short.update(b"abc")
    with pytest.raises(EncodingError, match="expected 4 bytes to hash, got 3"):
        short.finish()
    done = hashing.PartDigest(hashing.TAG_DIGEST, 1)
    done.update(b"a")
    done.finish()
    with pytest.raises(EncodingError, match="finished"):
        done.update(b"")
    with pytest.raises(EncodingError, match="4 GiB"):
        hashing.PartDigest(hashing.TAG_DIGEST, 1 << 32)


def test_the_protocol_document_names_every_domain_tag() -> None:
    """docs/protocol.md §1 must stand on its own: a re-implementer needs every tag (`voprf/...` tags are in §10)."""
    text = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    missing = [v.decode() for k, v in vars(hashing).items() if k.startswith("TAG_") and f"`{v.decode()}`" not in text]
    assert missing == []
