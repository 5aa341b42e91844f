"""The council's public record for one epoch, and the contexts derived from it (protocol doc §2.2).

An `EpochRecord` names the council key Y, the threshold k, each member's index, account keys and
verification key Y_i, and the group's Feldman commitments. It is validated when built: every point is
decoded, Y equals the constant commitment, and every Y_i equals the commitments evaluated at i, so a
record that parses is internally consistent. Who signed it is checked by the key directory.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final

from keys.encoding import u16, u32
from keys.errors import EncodingError, ProtocolError
from keys.group import Point
from keys.hashing import TAG_CTX_COUNCIL, TAG_CTX_KEY, TAG_EPOCH, kdf32
from keys.sharing import check_index, evaluate_commitments
from keys.wire import encode_json, require_len, require_text, require_version

MIN_THRESHOLD: Final = 2
MIN_MEMBERS: Final = 3
MAX_MEMBERS: Final = 255


@dataclass(frozen=True, slots=True, kw_only=True)
class Participant:
    """A council member as named in a ceremony: index, account id and device public keys."""

    index: int
    account: str
    sign_key: bytes
    box_key: bytes

    def __post_init__(self) -> None:
        check_index(self.index)
        require_text("account", self.account, max_len=64)
        require_len("sign_key", self.sign_key, 32)
        require_len("box_key", self.box_key, 32)

    def encode(self) -> bytes:
        return u16(self.index) + self.account.encode() + b"\x00" + self.sign_key + self.box_key


def check_council_shape(threshold: int, indices: Sequence[int]) -> None:
    """Raise EncodingError unless 2 <= k <= n, 3 <= n <= 255 and the indices are distinct."""
    n = len(indices)
    if not MIN_MEMBERS <= n <= MAX_MEMBERS:
        raise EncodingError(f"a council has {MIN_MEMBERS}..{MAX_MEMBERS} members, got {n}")
    if not isinstance(threshold, int) or not MIN_THRESHOLD <= threshold <= n:
        raise EncodingError(f"threshold must be in {MIN_THRESHOLD}..{n}, got {threshold!r}")
    if len(set(indices)) != n:
        raise EncodingError("member indices must be distinct")


@dataclass(frozen=True, slots=True, kw_only=True)
class CouncilMember:
    """One member in an epoch record: who they are and their verification key Y_i = x_i·G."""

    index: int
    account: str
    sign_key: bytes
    box_key: bytes
    share_key: bytes

    def __post_init__(self) -> None:
        Participant(index=self.index, account=self.account, sign_key=self.sign_key, box_key=self.box_key)
        require_len("share_key", self.share_key, 32)


@dataclass(frozen=True, kw_only=True)
class EpochRecord:
    """The council of one epoch (doc §2.3 step 6, §2.8 step 3)."""

    VERSION: ClassVar[int] = 1
    v: int
    epoch: int
    threshold: int
    council_key: bytes
    members: tuple[CouncilMember, ...]
    commitments: tuple[bytes, ...]
    origin: bytes  # session id of the DKG or redistribution that produced it
    _points: dict[int, Point] = field(init=False, repr=False, compare=False)
    _key: Point = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        require_version(self)
        if not isinstance(self.epoch, int) or not 0 <= self.epoch < 1 << 32:
            raise EncodingError("epoch must be in 0..2**32-1")
        check_council_shape(self.threshold, [m.index for m in self.members])
        if len(self.commitments) != self.threshold:
            raise EncodingError("an epoch record carries exactly k commitments")
        require_len("origin", self.origin, 32)
        commitments = [Point.decode(c) for c in self.commitments]
        key = Point.decode(self.council_key)
        if key != commitments[0]:
            raise ProtocolError("council key does not match the constant commitment")
        points: dict[int, Point] = {}
        for m in sorted(self.members, key=lambda m: m.index):
            share_key = Point.decode(m.share_key)
            if share_key != evaluate_commitments(commitments, m.index):
                raise ProtocolError(f"verification key of member {m.index} does not match the commitments", culprits=[m.index])
            points[m.index] = share_key
        object.__setattr__(self, "_points", points)
        object.__setattr__(self, "_key", key)

    @property
    def key(self) -> Point:
        """Y as a validated point."""
        return self._key

    def share_key(self, index: int) -> Point:
        """Y_i as a validated point; raises ProtocolError for an index not in this epoch."""
        try:
            return self._points[index]
        except KeyError:
            raise ProtocolError(f"member {index} is not in council epoch {self.epoch}") from None

    def member(self, index: int) -> CouncilMember:
        for m in self.members:
            if m.index == index:
                return m
        raise ProtocolError(f"member {index} is not in council epoch {self.epoch}")

    def member_by_sign_key(self, sign_key: bytes) -> CouncilMember | None:
        return next((m for m in self.members if m.sign_key == sign_key), None)

    @property
    def kid(self) -> bytes:
        """KDF32(ctx/key; Y): names the council key, stable across redistribution."""
        return council_kid(self.council_key)

    @property
    def context(self) -> bytes:
        """cctx_e = KDF32(ctx/council; Y, k, e, (i, Y_i)…) (doc §2.2)."""
        parts = [self.council_key, u16(self.threshold), u32(self.epoch)]
        for m in sorted(self.members, key=lambda m: m.index):
            parts += [u16(m.index), m.share_key]
        return kdf32(TAG_CTX_COUNCIL, *parts)

    def digest(self) -> bytes:
        """What members sign to accept this record."""
        return kdf32(TAG_EPOCH, encode_json(self))


@functools.lru_cache(maxsize=64)
def council_kid(council_key: bytes) -> bytes:
    """A pure function of public bytes, asked for several times per intake: remembered for the few keys in use."""
    return kdf32(TAG_CTX_KEY, council_key)


@dataclass(frozen=True, slots=True, kw_only=True)
class EpochSignature:
    """A member's signature accepting an epoch record. `signer` is the signer's Ed25519 key."""

    signer: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_len("signer", self.signer, 32)
        require_len("signature", self.signature, 64)
