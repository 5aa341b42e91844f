"""Encrypted attachments: a photo or document sealed on the device with libsodium's secretstream
(chunked XChaCha20-Poly1305) under a random per-attachment key (docs/protocol.md §9).

* The plaintext is the file, padded (ISO/IEC 7816-4) to the same size buckets as a case file: powers of
  two from 512 bytes to 1 MiB, then whole MiB. It is cut into chunks of CHUNK bytes (one chunk for a
  file under 1 MiB), each one secretstream message; the last carries TAG_FINAL. Every message has the
  associated data KDF32("ad/attachment"; case_id, attachment_id), so a chunk of another attachment does
  not open, and secretstream's chained state rejects a reordered, duplicated or dropped chunk.
* The attachment key, the stream header, the file name, the media type and the exact size travel only
  in a descriptor, signed by the case's reply key (the helper's per-case key) and sealed
  (crypto_box_seal) to one of two per-case X25519 keys:
  - a **case** attachment to a key derived from the case key CK: whoever reads the case file reads it;
  - an **identity** attachment to a key derived from the identity key IK, whose public half the helper
    signed into the case file: it opens only after k members reveal the identity.
  Both descriptors have one size, so the server cannot tell the two kinds apart.
* Which attachments a case has is signed too, so the server cannot hide one or pass off one of its own: the
  case file lists those sealed with the intake (envelope.py, case file version 3), and for those added later
  the helper signs, with the case's reply key, an `AttachmentList` of all the case's attachment ids with a
  serial number that grows with each list (tag `attachment-list`); the server keeps the latest and serves it.
  A server can still serve an older list (hiding what was added after it) or withhold an upload; it cannot
  make a list of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import ClassVar, Final, Protocol

import nacl.exceptions
from nacl.bindings import (
    crypto_scalarmult_base,
    crypto_secretstream_xchacha20poly1305_ABYTES,
    crypto_secretstream_xchacha20poly1305_HEADERBYTES,
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
    crypto_secretstream_xchacha20poly1305_TAG_FINAL,
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
    sodium_pad,
    sodium_unpad,
)
from nacl.public import PrivateKey

from keys import aead
from keys.accounts import SEAL_OVERHEAD, AccountKeys, seal_to, unseal, verify_signature
from keys.encoding import u64
from keys.errors import DecryptionError, EncodingError, ProofError
from keys.group import Rng, default_rng, new_id
from keys.hashing import (
    TAG_AD_ATTACHMENT,
    TAG_ATTACH_CASE,
    TAG_ATTACH_IDENTITY,
    TAG_ATTACHMENT_LIST,
    TAG_ATTACHMENT_SIG,
    kdf32,
)
from keys.kem import CASE_ID_SIZE
from keys.wire import decode_json, encode_json, require_len, require_text, require_version, signing_bytes

CHUNK: Final = aead.MIB  # plaintext bytes per secretstream message (bucket sizes above 1 MiB are whole MiB)
CHUNK_OVERHEAD: Final = crypto_secretstream_xchacha20poly1305_ABYTES  # 17
STREAM_HEADER_SIZE: Final = crypto_secretstream_xchacha20poly1305_HEADERBYTES  # 24
ATTACHMENT_ID_SIZE: Final = 16
KINDS: Final = ("case", "identity")
DESCRIPTOR_PADDED: Final = 2048
DESCRIPTOR_SIZE: Final = DESCRIPTOR_PADDED + SEAL_OVERHEAD
MAX_NAME: Final = 255
MAX_MEDIA_TYPE: Final = 100
MAX_PER_CASE: Final = 200  # attachments a case may hold (the server refuses more)
_TAG_MESSAGE: Final = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL: Final = crypto_secretstream_xchacha20poly1305_TAG_FINAL


class Readable(Protocol):
    """Anything with `read(n)`: an open file, or a reader over the kept parts of a photo."""

    def read(self, size: int = -1, /) -> bytes: ...


def new_attachment_id(rng: Rng = default_rng) -> bytes:
    return new_id(rng, ATTACHMENT_ID_SIZE)


# -- layout: what the server may check without any key ----------------------------------------------


def padded_size(size: int) -> int:
    """The padded plaintext size of a file of `size` bytes (a bucket size)."""
    if size < 0:
        raise EncodingError("a file size cannot be negative")
    return aead.bucket_size(size)


@dataclass(frozen=True, slots=True)
class Layout:
    """How a padded plaintext of `padded` bytes is cut: `count` chunks of `chunk_plain` bytes each."""

    padded: int

    def __post_init__(self) -> None:
        if self.padded < aead.MIN_BUCKET or aead.bucket_size(self.padded - 1) != self.padded:
            raise EncodingError("an attachment's padded size must be a bucket size")

    @property
    def chunk_plain(self) -> int:
        return min(self.padded, CHUNK)

    @property
    def chunk_sealed(self) -> int:
        """The exact length of every sealed chunk of this attachment."""
        return self.chunk_plain + CHUNK_OVERHEAD

    @property
    def count(self) -> int:
        return self.padded // self.chunk_plain

    @property
    def sealed_size(self) -> int:
        return self.count * self.chunk_sealed


# -- the two per-case attachment keys ------------------------------------------------------------------


def _attachment_secret(kind: str, case_id: bytes, key: bytes) -> PrivateKey:
    require_len("case_id", case_id, CASE_ID_SIZE)
    require_len("key", key, 32)
    tag = TAG_ATTACH_IDENTITY if kind == "identity" else TAG_ATTACH_CASE
    return PrivateKey(kdf32(tag, case_id, key))


def identity_attachment_key(case_id: bytes, identity_key: bytes) -> bytes:
    """The public X25519 key identity attachments are sealed to (signed into the case file at intake)."""
    return crypto_scalarmult_base(bytes(_attachment_secret("identity", case_id, identity_key)))


def case_attachment_key(case_id: bytes, case_key: bytes) -> bytes:
    """The public X25519 key case attachments are sealed to (anyone holding the case key derives it)."""
    return crypto_scalarmult_base(bytes(_attachment_secret("case", case_id, case_key)))


@dataclass(frozen=True, slots=True)
class Opener:
    """A key that may open descriptors of one case: from the case key, or from a revealed identity key."""

    kind: str
    secret: PrivateKey

    @classmethod
    def for_case(cls, case_id: bytes, case_key: bytes) -> Opener:
        return cls("case", _attachment_secret("case", case_id, case_key))

    @classmethod
    def for_identity(cls, case_id: bytes, identity_key: bytes) -> Opener:
        return cls("identity", _attachment_secret("identity", case_id, identity_key))


# -- the descriptor --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentDescriptor:
    """What a reader needs to open one attachment; sealed, the server sees only its fixed size."""

    VERSION: ClassVar[int] = 1
    v: int
    case_id: bytes
    attachment_id: bytes
    kind: str
    name: str
    media_type: str
    size: int
    key: bytes
    stream_header: bytes
    removed: tuple[str, ...]  # metadata stripped on the device, for the reader to know
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("case_id", self.case_id, CASE_ID_SIZE)
        require_len("attachment_id", self.attachment_id, ATTACHMENT_ID_SIZE)
        if self.kind not in KINDS:
            raise EncodingError(f"kind: expected one of {', '.join(KINDS)}")
        require_text("name", self.name, max_len=MAX_NAME)
        require_text("media_type", self.media_type, max_len=MAX_MEDIA_TYPE)
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise EncodingError("size: expected a whole number of bytes")
        require_len("key", self.key, 32)
        require_len("stream_header", self.stream_header, STREAM_HEADER_SIZE)
        if len(self.removed) > 32:
            raise EncodingError("removed: at most 32 entries")
        for item in self.removed:
            require_text("removed", item, max_len=100)
        require_len("signature", self.signature, 64)

    @property
    def layout(self) -> Layout:
        return Layout(padded_size(self.size))


def _stream_ad(case_id: bytes, attachment_id: bytes) -> bytes:
    return kdf32(TAG_AD_ATTACHMENT, case_id, attachment_id)


def new_descriptor(
    *,
    case_id: bytes,
    kind: str,
    name: str,
    media_type: str,
    size: int,
    removed: Iterable[str],
    reply: AccountKeys,
    attachment_id: bytes | None = None,
    rng: Rng = default_rng,
) -> AttachmentDescriptor:
    """A fresh attachment key and stream header, signed with the case's reply key. `attachment_id`: one chosen
    before (an attachment of an intake, whose case file lists it); by default a new random id."""
    unsigned = AttachmentDescriptor(
        v=1,
        case_id=case_id,
        attachment_id=new_attachment_id(rng) if attachment_id is None else attachment_id,
        kind=kind,
        name=name,
        media_type=media_type,
        size=size,
        key=rng(32),
        stream_header=rng(STREAM_HEADER_SIZE),
        removed=tuple(removed),
        signature=bytes(64),
    )
    return replace(unsigned, signature=reply.sign(TAG_ATTACHMENT_SIG, signing_bytes(unsigned)))


def seal_descriptor(descriptor: AttachmentDescriptor, recipient: bytes) -> bytes:
    """Pad the descriptor to one fixed size and seal it to a per-case attachment key."""
    plain = encode_json(descriptor)
    if len(plain) >= DESCRIPTOR_PADDED:
        raise EncodingError("the attachment's name and type are too long")
    return seal_to(recipient, bytes(sodium_pad(plain, DESCRIPTOR_PADDED)))


def open_descriptor(
    sealed: bytes, *, case_id: bytes, attachment_id: bytes, openers: Iterable[Opener], reply_sign_key: bytes
) -> AttachmentDescriptor:
    """Open a sealed descriptor with the first opener that fits and check what the helper signed.

    Raises DecryptionError when none opens it (for an identity attachment: the identity was not
    revealed), ProofError when it belongs to another attachment or was not signed by the case's reply key.
    """
    require_len("descriptor", sealed, DESCRIPTOR_SIZE)
    for opener in openers:
        try:
            padded = unseal(opener.secret, sealed)
        except DecryptionError:
            continue
        try:
            descriptor = decode_json(AttachmentDescriptor, bytes(sodium_unpad(padded, DESCRIPTOR_PADDED)))
        except (EncodingError, nacl.exceptions.CryptoError, ValueError) as exc:
            raise DecryptionError(f"the attachment descriptor is malformed: {exc}") from exc
        if descriptor.kind != opener.kind:
            raise ProofError("the attachment descriptor is sealed to the wrong key for its kind")
        if descriptor.case_id != case_id or descriptor.attachment_id != attachment_id:
            raise ProofError("the attachment descriptor belongs to another attachment")
        verify_signature(reply_sign_key, TAG_ATTACHMENT_SIG, signing_bytes(descriptor), descriptor.signature)
        return descriptor
    raise DecryptionError("the attachment does not open with the keys you hold")


# -- the helper's signed list of a case's attachments -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentList:
    """Every attachment id of one case, signed by the case's reply key; a later list has a higher `serial`."""

    VERSION: ClassVar[int] = 1
    v: int
    case_id: bytes
    serial: int
    attachment_ids: tuple[bytes, ...]  # sorted, distinct
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("case_id", self.case_id, CASE_ID_SIZE)
        u64(self.serial)
        if len(self.attachment_ids) > MAX_PER_CASE:
            raise EncodingError(f"attachment_ids: at most {MAX_PER_CASE}")
        for attachment_id in self.attachment_ids:
            require_len("attachment_ids", attachment_id, ATTACHMENT_ID_SIZE)
        if list(self.attachment_ids) != sorted(set(self.attachment_ids)):
            raise EncodingError("attachment_ids: sorted and distinct")
        require_len("signature", self.signature, 64)


def sign_attachment_list(*, case_id: bytes, serial: int, attachment_ids: Iterable[bytes], reply: AccountKeys) -> AttachmentList:
    """The helper's list of all of a case's attachments, signed with the case's reply key."""
    unsigned = AttachmentList(
        v=1, case_id=case_id, serial=serial, attachment_ids=tuple(sorted(set(attachment_ids))), signature=bytes(64)
    )
    return replace(unsigned, signature=reply.sign(TAG_ATTACHMENT_LIST, signing_bytes(unsigned)))


def verify_attachment_list(listed: AttachmentList, *, case_id: bytes, reply_sign_key: bytes) -> None:
    """Check a list belongs to this case and was signed by its reply key (`reply_sign_key` from the case file
    the helper signed, never from the server). Raises ProofError."""
    if listed.case_id != case_id:
        raise ProofError("the attachment list belongs to another case")
    try:
        verify_signature(reply_sign_key, TAG_ATTACHMENT_LIST, signing_bytes(listed), listed.signature)
    except ProofError as exc:
        raise ProofError("the attachment list is not signed by the case's helper") from exc


# -- the stream ------------------------------------------------------------------------------------


def _state(descriptor: AttachmentDescriptor) -> crypto_secretstream_xchacha20poly1305_state:
    # init_pull derives exactly the state init_push would from this header, so the sealer can take its
    # header from our random source (pinned in the known-answer vectors) and restart a stream.
    state = crypto_secretstream_xchacha20poly1305_state()
    crypto_secretstream_xchacha20poly1305_init_pull(state, descriptor.stream_header, descriptor.key)
    return state


def _plain_chunks(source: Readable, descriptor: AttachmentDescriptor) -> Iterator[bytes]:
    """The padded plaintext (file ‖ 0x80 ‖ zeros) in chunks; raises EncodingError when the file is not
    `size` bytes long. The 0x80 always falls in the last chunk (the padding is under one chunk)."""
    layout = descriptor.layout
    size = descriptor.size
    for index in range(layout.count):
        start = index * layout.chunk_plain
        want = max(0, min(layout.chunk_plain, size - start))
        data = source.read(want) if want else b""
        if len(data) != want:
            raise EncodingError("the file changed while it was being sealed (it is shorter than before)")
        if index == layout.count - 1:
            if source.read(1):
                raise EncodingError("the file changed while it was being sealed (it is longer than before)")
            data = b"".join((data, b"\x80", bytes(layout.chunk_plain - len(data) - 1)))
        yield data


def seal_stream(source: Readable, descriptor: AttachmentDescriptor) -> Iterator[bytes]:
    """The sealed chunks of the file `source` (read from its current position), one at a time."""
    state = _state(descriptor)
    ad = _stream_ad(descriptor.case_id, descriptor.attachment_id)
    count = descriptor.layout.count
    for index, plain in enumerate(_plain_chunks(source, descriptor)):
        tag = _TAG_FINAL if index == count - 1 else _TAG_MESSAGE
        yield crypto_secretstream_xchacha20poly1305_push(state, plain, ad, tag)


class StreamOpener:
    """Opens the sealed chunks of one attachment in order; `open(chunk)` returns the file bytes it holds
    and `finish()` checks nothing is missing. Raises DecryptionError for an altered, reordered,
    duplicated, foreign or missing chunk, and for data after the end."""

    def __init__(self, descriptor: AttachmentDescriptor) -> None:
        self.descriptor = descriptor
        self.layout = descriptor.layout
        self.index = 0
        self._state = _state(descriptor)
        self._ad = _stream_ad(descriptor.case_id, descriptor.attachment_id)

    def open(self, sealed: bytes) -> bytes:
        if self.index >= self.layout.count:
            raise DecryptionError("the attachment has more chunks than it was sealed with")
        if len(sealed) != self.layout.chunk_sealed:
            raise DecryptionError(f"chunk {self.index} has the wrong length (cut short or altered)")
        try:
            plain, tag = crypto_secretstream_xchacha20poly1305_pull(self._state, sealed, self._ad)
        except nacl.exceptions.CryptoError as exc:
            raise DecryptionError(
                f"chunk {self.index} does not open: it was altered, reordered, repeated or belongs to another attachment"
            ) from exc
        last = self.index == self.layout.count - 1
        if (tag == _TAG_FINAL) != last:
            raise DecryptionError("the attachment's chunks end in the wrong place (cut short or spliced)")
        self.index += 1
        if not last:
            return plain
        keep = self.descriptor.size - (self.layout.count - 1) * self.layout.chunk_plain
        if plain[keep:] != b"\x80" + bytes(len(plain) - keep - 1):
            raise DecryptionError("the attachment's padding is malformed")
        return plain[:keep]

    def finish(self) -> None:
        if self.index != self.layout.count:
            raise DecryptionError(f"the attachment is incomplete: {self.index} of {self.layout.count} chunks")
