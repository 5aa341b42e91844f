"""Attachments: round trips at every size that matters, and every way a stream or descriptor can be
altered (each must fail with DecryptionError or ProofError, never return wrong bytes)."""

from __future__ import annotations

import io
import os
from dataclasses import replace

import pytest

from keys.accounts import AccountKeys
from keys.attachments import (
    CHUNK,
    CHUNK_OVERHEAD,
    DESCRIPTOR_SIZE,
    AttachmentDescriptor,
    Layout,
    Opener,
    StreamOpener,
    case_attachment_key,
    identity_attachment_key,
    new_descriptor,
    open_descriptor,
    padded_size,
    seal_descriptor,
    seal_stream,
)
from keys.errors import DecryptionError, EncodingError, ProofError

CASE_ID = bytes(range(16))
CASE_KEY = bytes([7]) * 32
IDENTITY_KEY = bytes([9]) * 32


@pytest.fixture(scope="module")
def reply() -> AccountKeys:
    return AccountKeys.generate()


def describe(reply: AccountKeys, size: int, kind: str = "case") -> AttachmentDescriptor:
    return new_descriptor(
        case_id=CASE_ID, kind=kind, name="photo.jpg", media_type="image/jpeg", size=size, removed=("GPS position",), reply=reply
    )


def seal(descriptor: AttachmentDescriptor, data: bytes) -> list[bytes]:
    return list(seal_stream(io.BytesIO(data), descriptor))


def open_all(descriptor: AttachmentDescriptor, chunks: list[bytes]) -> bytes:
    opener = StreamOpener(descriptor)
    out = b"".join(opener.open(c) for c in chunks)
    opener.finish()
    return out


@pytest.mark.parametrize("size", [0, 1, 511, 512, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_round_trip(reply: AccountKeys, size: int) -> None:
    data = os.urandom(size)
    descriptor = describe(reply, size)
    chunks = seal(descriptor, data)
    layout = Layout(padded_size(size))
    assert len(chunks) == layout.count
    assert {len(c) for c in chunks} == {layout.chunk_sealed}
    assert layout.padded >= size + 1
    assert open_all(descriptor, chunks) == data


def test_sizes_are_buckets() -> None:
    assert padded_size(0) == 512
    assert padded_size(CHUNK) == 2 * CHUNK  # the 0x80 always needs a byte
    assert Layout(padded_size(5 * CHUNK + 3)).count == 6
    assert Layout(512).chunk_sealed == 512 + CHUNK_OVERHEAD
    for bad in (0, 511, 513, CHUNK + 512):
        with pytest.raises(EncodingError):
            Layout(bad)


def test_file_that_changes_while_sealing_is_refused(reply: AccountKeys) -> None:
    descriptor = describe(reply, 10)
    with pytest.raises(EncodingError, match="shorter"):
        seal(descriptor, b"123")
    with pytest.raises(EncodingError, match="longer"):
        seal(descriptor, b"x" * 11)


@pytest.fixture(scope="module")
def sealed(reply: AccountKeys) -> tuple[AttachmentDescriptor, list[bytes]]:
    descriptor = describe(reply, 3 * CHUNK + 100)
    return descriptor, seal(descriptor, os.urandom(3 * CHUNK + 100))


def test_altered_chunk_fails(sealed: tuple[AttachmentDescriptor, list[bytes]]) -> None:
    descriptor, chunks = sealed
    for position in (0, 20, len(chunks[1]) - 1):
        altered = bytearray(chunks[1])
        altered[position] ^= 1
        with pytest.raises(DecryptionError, match="chunk 1 does not open"):
            open_all(descriptor, [chunks[0], bytes(altered), *chunks[2:]])


def test_truncated_stream_fails(sealed: tuple[AttachmentDescriptor, list[bytes]]) -> None:
    descriptor, chunks = sealed
    with pytest.raises(DecryptionError, match="incomplete"):
        open_all(descriptor, chunks[:-1])
    with pytest.raises(DecryptionError, match="wrong length"):
        open_all(descriptor, [*chunks[:-1], chunks[-1][:-1]])


def test_reordered_and_duplicated_chunks_fail(sealed: tuple[AttachmentDescriptor, list[bytes]]) -> None:
    descriptor, chunks = sealed
    with pytest.raises(DecryptionError, match="chunk 1"):
        open_all(descriptor, [chunks[0], chunks[2], chunks[1], chunks[3]])
    with pytest.raises(DecryptionError, match="chunk 1"):
        open_all(descriptor, [chunks[0], chunks[0], *chunks[1:]])
    with pytest.raises(DecryptionError, match="more chunks"):
        open_all(descriptor, [*chunks, chunks[-1]])


def test_chunk_of_another_attachment_fails(reply: AccountKeys, sealed: tuple[AttachmentDescriptor, list[bytes]]) -> None:
    descriptor, chunks = sealed
    # same key and header, other attachment id: the associated data differs
    other = replace(descriptor, attachment_id=bytes(16))
    with pytest.raises(DecryptionError, match="chunk 0"):
        open_all(other, chunks)


def test_final_tag_must_be_last(reply: AccountKeys) -> None:
    # a one-chunk stream's only chunk is final: presenting it where a three-chunk stream starts fails
    descriptor = describe(reply, 3 * CHUNK + 100)
    short = replace(descriptor, size=10)
    chunks = seal(short, b"0123456789")
    opener = StreamOpener(descriptor)
    with pytest.raises(DecryptionError):
        opener.open(chunks[0])


def test_descriptor_round_trip_and_fixed_size(reply: AccountKeys) -> None:
    for kind, recipient, opener in (
        ("case", case_attachment_key(CASE_ID, CASE_KEY), Opener.for_case(CASE_ID, CASE_KEY)),
        ("identity", identity_attachment_key(CASE_ID, IDENTITY_KEY), Opener.for_identity(CASE_ID, IDENTITY_KEY)),
    ):
        descriptor = describe(reply, 1234, kind)
        box = seal_descriptor(descriptor, recipient)
        assert len(box) == DESCRIPTOR_SIZE
        opened = open_descriptor(
            box,
            case_id=CASE_ID,
            attachment_id=descriptor.attachment_id,
            openers=[Opener.for_case(CASE_ID, CASE_KEY), opener],
            reply_sign_key=reply.public().sign_key,
        )
        assert opened == descriptor


def test_identity_attachment_needs_the_identity_key(reply: AccountKeys) -> None:
    descriptor = describe(reply, 10, "identity")
    box = seal_descriptor(descriptor, identity_attachment_key(CASE_ID, IDENTITY_KEY))
    for openers in (
        [Opener.for_case(CASE_ID, CASE_KEY)],  # a member with the case key only
        [Opener.for_identity(CASE_ID, bytes(32)), Opener.for_case(CASE_ID, bytes(32))],  # keys someone made up
    ):
        with pytest.raises(DecryptionError, match="keys you hold"):
            open_descriptor(
                box,
                case_id=CASE_ID,
                attachment_id=descriptor.attachment_id,
                openers=openers,
                reply_sign_key=reply.public().sign_key,
            )


def test_descriptor_checks(reply: AccountKeys) -> None:
    descriptor = describe(reply, 10)
    recipient = case_attachment_key(CASE_ID, CASE_KEY)
    openers = [Opener.for_case(CASE_ID, CASE_KEY)]
    box = seal_descriptor(descriptor, recipient)
    kwargs = {"case_id": CASE_ID, "attachment_id": descriptor.attachment_id, "openers": openers}
    with pytest.raises(ProofError, match="signature"):
        open_descriptor(box, reply_sign_key=AccountKeys.generate().public().sign_key, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ProofError, match="another attachment"):
        open_descriptor(box, case_id=CASE_ID, attachment_id=bytes(16), openers=openers, reply_sign_key=reply.public().sign_key)
    altered = bytearray(box)
    altered[100] ^= 1
    with pytest.raises(DecryptionError):
        open_descriptor(bytes(altered), reply_sign_key=reply.public().sign_key, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(EncodingError):
        open_descriptor(box[:-1], reply_sign_key=reply.public().sign_key, **kwargs)  # type: ignore[arg-type]
    # a case descriptor sealed to the identity key (or the reverse) is refused
    wrong = seal_descriptor(descriptor, identity_attachment_key(CASE_ID, IDENTITY_KEY))
    with pytest.raises(ProofError, match="wrong key for its kind"):
        open_descriptor(
            wrong,
            case_id=CASE_ID,
            attachment_id=descriptor.attachment_id,
            openers=[Opener.for_identity(CASE_ID, IDENTITY_KEY)],
            reply_sign_key=reply.public().sign_key,
        )
    # a descriptor changed after signing (here: its size) is refused even when sealed correctly
    forged = replace(descriptor, size=11)
    with pytest.raises(ProofError, match="signature"):
        open_descriptor(seal_descriptor(forged, recipient), reply_sign_key=reply.public().sign_key, **kwargs)  # type: ignore[arg-type]


def test_descriptor_limits(reply: AccountKeys) -> None:
    with pytest.raises(EncodingError, match="kind"):
        describe(reply, 1, "secret")
    with pytest.raises(EncodingError, match="name"):
        new_descriptor(case_id=CASE_ID, kind="case", name="x" * 256, media_type="a/b", size=1, removed=(), reply=reply)
    with pytest.raises(EncodingError, match="size"):
        new_descriptor(case_id=CASE_ID, kind="case", name="x", media_type="a/b", size=-1, removed=(), reply=reply)
    long_name = "名" * 255  # 765 bytes of UTF-8 still fits the fixed descriptor size
    d = new_descriptor(case_id=CASE_ID, kind="case", name=long_name, media_type="a/b", size=1, removed=(), reply=reply)
    assert len(seal_descriptor(d, case_attachment_key(CASE_ID, CASE_KEY))) == DESCRIPTOR_SIZE
