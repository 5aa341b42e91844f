"""Request bodies that are not protocol formats of `keys/` (those are parsed with their own types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from keys.council import EpochSignature
from keys.encoding import b64u_decode
from keys.errors import EncodingError
from keys.keyswitch import SwitchContribution
from keys.wire import require_len, require_version


@dataclass(frozen=True, slots=True, kw_only=True)
class InviteSecret:
    """Proof of an invite: its id and one-time secret (from the invite string)."""

    VERSION: ClassVar[int] = 1
    v: int
    invite_id: bytes
    secret: str

    def __post_init__(self) -> None:
        require_version(self)
        require_len("invite_id", self.invite_id, 16)
        if not isinstance(self.secret, str) or not 16 <= len(self.secret) <= 64:
            raise EncodingError("secret: expected the invite's secret")


def require_position(seq: int, prev: bytes, day: int) -> None:
    """A directory position a signature was made for: the next sequence number, the head before it, and the
    signer's day."""
    if not isinstance(seq, int) or not 0 < seq < 1 << 63:
        raise EncodingError("seq: the directory entry's sequence number")
    require_len("prev", prev, 32)
    if not isinstance(day, int) or not 0 <= day < 1 << 32:
        raise EncodingError("day: the signer's day (days since 1970)")


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinRequest:
    """The new device's keys and its signature on the directory entry at position (seq, prev)."""

    VERSION: ClassVar[int] = 2
    v: int
    invite_id: bytes
    secret: str
    sign_key: bytes
    box_key: bytes
    seq: int
    prev: bytes
    day: int
    signature: EpochSignature

    def __post_init__(self) -> None:
        require_version(self)
        InviteSecret(v=1, invite_id=self.invite_id, secret=self.secret)
        require_len("sign_key", self.sign_key, 32)
        require_len("box_key", self.box_key, 32)
        require_position(self.seq, self.prev, self.day)


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeRequest:
    """The caller's signature on the revocation's directory entry at position (seq, prev)."""

    VERSION: ClassVar[int] = 2
    v: int
    seq: int
    prev: bytes
    day: int
    signature: EpochSignature

    def __post_init__(self) -> None:
        require_version(self)
        require_position(self.seq, self.prev, self.day)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenCeremony:
    VERSION: ClassVar[int] = 1
    v: int
    threshold: int
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        require_version(self)
        if not 3 <= len(self.members) <= 255 or len(set(self.members)) != len(self.members):
            raise EncodingError("members: 3 to 255 distinct account names")


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonyPost:
    """One ceremony message; `body` is the message's own JSON object (checked by its kind)."""

    VERSION: ClassVar[int] = 1
    v: int
    kind: str
    body: str  # canonical JSON text of the message, so the relay stores exactly what was signed

    def __post_init__(self) -> None:
        require_version(self)
        if not isinstance(self.body, str) or len(self.body) > 64 * 1024:
            raise EncodingError("body: the message as JSON text, at most 64 KiB")


def parse_id(text: str, what: str, size: int = 16) -> bytes:
    return b64u_decode(text, length=size, what=what)


@dataclass(frozen=True, slots=True, kw_only=True)
class RotateRequest:
    """New device keys, with signatures of the old key and the new one over the directory entry at (seq, prev)."""

    VERSION: ClassVar[int] = 2
    v: int
    sign_key: bytes
    box_key: bytes
    seq: int
    prev: bytes
    day: int
    signatures: tuple[EpochSignature, ...]

    def __post_init__(self) -> None:
        require_version(self)
        require_len("sign_key", self.sign_key, 32)
        require_len("box_key", self.box_key, 32)
        require_position(self.seq, self.prev, self.day)
        if len(self.signatures) != 2:
            raise EncodingError("signatures: the old key's and the new key's")


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenRedistribution:
    """A council membership change: the new members and threshold; dealers default to the current council."""

    VERSION: ClassVar[int] = 1
    v: int
    threshold: int
    members: tuple[str, ...]
    dealers: tuple[str, ...]

    def __post_init__(self) -> None:
        require_version(self)
        if not 3 <= len(self.members) <= 255 or len(set(self.members)) != len(self.members):
            raise EncodingError("members: 3 to 255 distinct account names")


@dataclass(frozen=True, slots=True, kw_only=True)
class NewWrap:
    case_id: bytes
    recipient: bytes
    sealed: bytes

    def __post_init__(self) -> None:
        require_len("case_id", self.case_id, 16)
        require_len("recipient", self.recipient, 32)


@dataclass(frozen=True, slots=True, kw_only=True)
class AddWraps:
    VERSION: ClassVar[int] = 1
    v: int
    wraps: tuple[NewWrap, ...]

    def __post_init__(self) -> None:
        require_version(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewAttachment:
    """Register an attachment: its id, its sealed descriptor and its padded size (a bucket size)."""

    VERSION: ClassVar[int] = 1
    v: int
    attachment_id: bytes
    descriptor: bytes
    padded_size: int

    def __post_init__(self) -> None:
        require_version(self)
        require_len("attachment_id", self.attachment_id, 16)
        if isinstance(self.padded_size, bool) or not 0 < self.padded_size < 1 << 40:
            raise EncodingError("padded_size: expected a positive number of bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchBatch:
    """An old council member's key-switch contributions for a batch of cases (at most 500)."""

    VERSION: ClassVar[int] = 1
    v: int
    contributions: tuple[SwitchContribution, ...]

    def __post_init__(self) -> None:
        require_version(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestRoot:
    """A new council member's signature over the Merkle root of every switched header."""

    VERSION: ClassVar[int] = 1
    v: int
    root: bytes
    size: int
    signature: EpochSignature

    def __post_init__(self) -> None:
        require_version(self)
        require_len("root", self.root, 32)
        if isinstance(self.size, bool) or not 0 < self.size < 1 << 32:
            raise EncodingError("size: expected the number of switched headers")
