"""Messages and share boxing common to the DKG (dkg.py) and redistribution (redistribute.py).

Broadcast messages travel in clear through the server; a share travels in a crypto_box from the dealer's
X25519 key to the recipient's, labelled with the session id and both indices, and signed so the server
can check who sent it without being able to read it.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Final

from keys.accounts import AccountKeys, verify_signature
from keys.encoding import u16
from keys.errors import DecryptionError, EncodingError, ProofError, ProtocolError
from keys.group import Point, Scalar
from keys.hashing import TAG_DKG_SHARE
from keys.sharing import Polynomial, verify_share
from keys.wire import require_len, require_version, signing_bytes

SHARE_PLAINTEXT: Final = 32 + 2 + 2 + 32  # sid ‖ u16(i) ‖ u16(j) ‖ s
BOX_OVERHEAD: Final = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgCommitment:
    """Round 1 (broadcast): Feldman commitments of member `index`'s polynomial and a PoK of a_{i,0}."""

    VERSION: ClassVar[int] = 1
    v: int
    sid: bytes
    index: int
    commitments: tuple[bytes, ...]
    pok: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("sid", self.sid, 32)
        require_len("pok", self.pok, 64)
        for c in self.commitments:
            require_len("commitment", c, 32)


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgEcho:
    """Round 1 echo (broadcast): member `index` signs the transcript hash it computed."""

    VERSION: ClassVar[int] = 1
    v: int
    sid: bytes
    index: int
    transcript: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("sid", self.sid, 32)
        require_len("transcript", self.transcript, 32)
        require_len("signature", self.signature, 64)


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgShare:
    """Round 2 (private): s_{sender→recipient} in a crypto_box, signed by the sender."""

    VERSION: ClassVar[int] = 1
    v: int
    sid: bytes
    sender: int
    recipient: int
    ciphertext: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("sid", self.sid, 32)
        require_len("ciphertext", self.ciphertext, SHARE_PLAINTEXT + BOX_OVERHEAD)
        require_len("signature", self.signature, 64)


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgComplaint:
    """`accuser` says the share from `accused` is missing, unreadable or fails its Feldman check."""

    VERSION: ClassVar[int] = 1
    v: int
    sid: bytes
    accuser: int
    accused: int
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("sid", self.sid, 32)
        require_len("signature", self.signature, 64)


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgAnswer:
    """The accused's answer: the disputed share in clear, signed."""

    VERSION: ClassVar[int] = 1
    v: int
    sid: bytes
    accused: int
    accuser: int
    share: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("sid", self.sid, 32)
        require_len("share", self.share, 32)
        require_len("signature", self.signature, 64)


class DealerSecret:
    """Member i's secret polynomial between rounds. Keep it only in the keystore; erase after `finish`."""

    __slots__ = ("index", "polynomial")

    def __init__(self, index: int, polynomial: Polynomial) -> None:
        self.index = index
        self.polynomial = polynomial

    def encode(self) -> bytes:
        return u16(self.index) + b"".join(a.encode() for a in self.polynomial.coefficients)

    @classmethod
    def decode(cls, data: bytes) -> DealerSecret:
        """Raises EncodingError for a malformed encoding."""
        if len(data) < 34 or (len(data) - 2) % 32:
            raise EncodingError("dealer secret has the wrong length")
        coefficients = tuple(Scalar(data[i : i + 32]) for i in range(2, len(data), 32))
        return cls(int.from_bytes(data[:2], "big"), Polynomial(coefficients))


def box_share(sid: bytes, keys: AccountKeys, sender: int, recipient: int, recipient_box_key: bytes, share: Scalar) -> DkgShare:
    """Box s_{sender→recipient} (labelled with the session and both indices) and sign the message."""
    ciphertext = keys.box_to(recipient_box_key, sid + u16(sender) + u16(recipient) + share.encode())
    unsigned = DkgShare(v=1, sid=sid, sender=sender, recipient=recipient, ciphertext=ciphertext, signature=bytes(64))
    return replace(unsigned, signature=keys.sign(TAG_DKG_SHARE, signing_bytes(unsigned)))


def check_share_signature(sid: bytes, message: DkgShare, sender_sign_key: bytes) -> None:
    """What the server can check of a private share: the session and the sender's signature."""
    if not hmac.compare_digest(message.sid, sid):
        raise ProtocolError("share belongs to another ceremony", culprits=[message.sender])
    try:
        verify_signature(sender_sign_key, TAG_DKG_SHARE, signing_bytes(message), message.signature)
    except ProofError as exc:
        raise ProtocolError(f"share from member {message.sender} is not signed by them", culprits=[message.sender]) from exc


def open_share(
    sid: bytes,
    keys: AccountKeys,
    index: int,
    message: DkgShare,
    *,
    sender_sign_key: bytes,
    sender_box_key: bytes,
    commitments: Sequence[Point],
) -> Scalar:
    """Open a boxed share addressed to member `index` and check it against the sender's commitments.

    Raises ProtocolError naming the sender when it does not open, is mislabelled or fails the Feldman check.
    """
    sender = message.sender
    if message.recipient != index:
        raise ProtocolError("share is addressed to someone else", culprits=[sender])
    check_share_signature(sid, message, sender_sign_key)
    try:
        plaintext = keys.unbox_from(sender_box_key, message.ciphertext)
    except DecryptionError as exc:
        raise ProtocolError(f"share from member {sender} does not open", culprits=[sender]) from exc
    if not hmac.compare_digest(plaintext[:36], sid + u16(sender) + u16(index)):
        raise ProtocolError(f"share from member {sender} is labelled for another session or member", culprits=[sender])
    try:
        share = Scalar.decode_nonzero(plaintext[36:])
    except EncodingError as exc:
        raise ProtocolError(f"share from member {sender} is not a scalar", culprits=[sender]) from exc
    if not verify_share(commitments, index, share):
        raise ProtocolError(f"share from member {sender} fails its Feldman check", culprits=[sender])
    return share
