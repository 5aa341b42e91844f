"""Messages, share encryption and verifiable complaints common to the DKG (dkg.py) and redistribution
(redistribute.py) (protocol doc §3).

The server relays every message and is an adversary: it can drop, replay, reorder or invent messages, but it
cannot sign as a member. So every message is signed by its author, and the rules are:

* a message whose author's signature does not verify (or that names another session) is the relay's doing:
  it is dropped, never complained about;
* a recipient takes one share per dealer: the first the dealer signed for it;
* a dealer-signed share that does not open or fails its Feldman check is proven bad by a complaint that
  publishes no secret of anyone honest: the recipient publishes the Diffie-Hellman value of that one share,
  `S = d_j·R`, with a DLEQ proof that it used its own key (`log_G E_j = log_R S`). Anyone can then open the
  dealer-signed ciphertext and see who lied: the dealer (it does not open, or the share is bad) or the
  accuser (it opens to a good share, which the accuser could have read itself). No dealer ever publishes a
  share, so a relay that fakes failures learns nothing (issue 18 item 1; hostile test
  tests/hostile/test_ceremonies.py::test_a_forged_share_is_dropped_and_no_dealer_publishes_a_share).

Share encryption: each recipient j posts a signed `DkgKey` with a fresh per-ceremony key `E_j = d_j·G` on the
ed25519 group (the X25519 account keys cannot carry a DLEQ proof). A dealer i encrypts `s_ij` to it with a
fresh ephemeral `R = e·G` (and a proof that it knows e, so a dealer cannot reuse another dealer's R to make
an honest complaint open someone else's share): `K = KDF32(dkg-share-key; sid, u16 i, u16 j, E_j, R, e·E_j)`,
`ciphertext = XChaCha20-Poly1305(K, s_ij, AD = sid ‖ u16 i ‖ u16 j)`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from typing import ClassVar, Final

from keys import aead
from keys.accounts import AccountKeys, verify_signature
from keys.encoding import u16
from keys.errors import DecryptionError, EncodingError, ProofError, ProtocolError, TesseraError
from keys.group import Point, Rng, Scalar, default_rng
from keys.hashing import (
    TAG_DKG_COMMITMENT,
    TAG_DKG_COMPLAINT,
    TAG_DKG_DH,
    TAG_DKG_EPHEMERAL,
    TAG_DKG_KEY,
    TAG_DKG_KEY_POK,
    TAG_DKG_SHARE,
    TAG_DKG_SHARE_KEY,
    kdf32,
)
from keys.proofs import BASE, Proof, prove_dleq, prove_knowledge, verify_dleq, verify_knowledge
from keys.sharing import Polynomial, verify_share
from keys.wire import require_len, require_version, signing_bytes

SHARE_CIPHERTEXT: Final = aead.OVERHEAD + 32


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgCommitment:
    """A dealer's Feldman commitments to its polynomial (with a PoK of a_{i,0} in a DKG; all zero bytes in a
    redistribution, where a_{i,0} is bound to the public Y_i instead), signed by the dealer."""

    VERSION: ClassVar[int] = 2
    v: int
    sid: bytes
    index: int
    commitments: tuple[bytes, ...]
    pok: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("sid", self.sid, 32)
        require_len("pok", self.pok, 64)
        require_len("signature", self.signature, 64)
        for c in self.commitments:
            require_len("commitment", c, 32)


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgKey:
    """A recipient's per-ceremony share-encryption key E = d·G with a PoK of d, signed by the recipient."""

    VERSION: ClassVar[int] = 1
    v: int
    sid: bytes
    index: int
    key: bytes
    pok: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("sid", self.sid, 32)
        require_len("key", self.key, 32)
        require_len("pok", self.pok, 64)
        require_len("signature", self.signature, 64)


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
    """s_{sender→recipient} encrypted to the recipient's DkgKey under an ephemeral R, signed by the sender."""

    VERSION: ClassVar[int] = 2
    v: int
    sid: bytes
    sender: int
    recipient: int
    ephemeral: bytes
    ephemeral_pok: bytes
    ciphertext: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("sid", self.sid, 32)
        require_len("ephemeral", self.ephemeral, 32)
        require_len("ephemeral_pok", self.ephemeral_pok, 64)
        require_len("ciphertext", self.ciphertext, SHARE_CIPHERTEXT)
        require_len("signature", self.signature, 64)


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgComplaint:
    """`accuser` proves that the dealer-signed `share` addressed to it is bad: the DH value of that share
    (`dh = d_accuser·R`) with a DLEQ proof, so anyone can open the ciphertext and judge. Signed by the accuser."""

    VERSION: ClassVar[int] = 2
    v: int
    sid: bytes
    accuser: int
    accused: int
    share: DkgShare
    dh: bytes
    proof: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("sid", self.sid, 32)
        require_len("dh", self.dh, 32)
        require_len("proof", self.proof, 64)
        require_len("signature", self.signature, 64)


class DealerSecret:
    """A member's secrets between rounds: its dealer polynomial (None for a recipient who does not deal) and
    its share-encryption key d. Keep them only in the keystore; erase when the ceremony ends."""

    __slots__ = ("index", "key", "polynomial")

    def __init__(self, index: int, polynomial: Polynomial | None, key: Scalar) -> None:
        self.index = index
        self.polynomial = polynomial
        self.key = key

    def encode(self) -> bytes:
        coefficients = self.polynomial.coefficients if self.polynomial is not None else ()
        return u16(self.index) + self.key.encode() + b"".join(a.encode() for a in coefficients)

    @classmethod
    def decode(cls, data: bytes) -> DealerSecret:
        """Raises EncodingError for a malformed encoding."""
        if not isinstance(data, bytes) or len(data) < 34 or (len(data) - 2) % 32:
            raise EncodingError("dealer secret has the wrong length")
        key = Scalar.decode_nonzero(data[2:34])
        coefficients = tuple(Scalar(data[i : i + 32]) for i in range(34, len(data), 32))
        return cls(int.from_bytes(data[:2], "big"), Polynomial(coefficients) if coefficients else None, key)


def new_key_secret(rng: Rng = default_rng) -> Scalar:
    return Scalar.random(rng)


def _sign(keys: AccountKeys, tag: bytes, message: DkgCommitment | DkgKey | DkgShare | DkgComplaint) -> bytes:
    return keys.sign(tag, signing_bytes(message))


def sign_commitment(keys: AccountKeys, sid: bytes, index: int, commitments: tuple[bytes, ...], pok: bytes) -> DkgCommitment:
    unsigned = DkgCommitment(v=2, sid=sid, index=index, commitments=commitments, pok=pok, signature=bytes(64))
    return replace(unsigned, signature=_sign(keys, TAG_DKG_COMMITMENT, unsigned))


def check_commitment_signature(sid: bytes, message: DkgCommitment, sign_key: bytes) -> None:
    """Raises ProtocolError naming the dealer unless it signed this commitment for this session."""
    _check_signed(sid, message.sid, sign_key, TAG_DKG_COMMITMENT, message, message.index, "commitment")


def make_key(keys: AccountKeys, sid: bytes, index: int, secret: Scalar, *, rng: Rng = default_rng) -> DkgKey:
    """The signed DkgKey for `secret` (d), with a PoK of d bound to the session and the index."""
    public = Point.base_mul(secret)
    pok = prove_knowledge(TAG_DKG_KEY_POK, BASE, public, secret, [sid, u16(index)], rng=rng)
    unsigned = DkgKey(v=1, sid=sid, index=index, key=public.encode(), pok=pok.encode(), signature=bytes(64))
    return replace(unsigned, signature=_sign(keys, TAG_DKG_KEY, unsigned))


def check_key(sid: bytes, message: DkgKey, sign_key: bytes) -> Point:
    """The recipient's key E after checking the session, its signature and the PoK. Raises ProtocolError."""
    _check_signed(sid, message.sid, sign_key, TAG_DKG_KEY, message, message.index, "share-encryption key")
    try:
        public = Point.decode(message.key)
        verify_knowledge(TAG_DKG_KEY_POK, BASE, public, Proof.decode(message.pok), [sid, u16(message.index)])
    except TesseraError as exc:
        raise ProtocolError(f"the share-encryption key of member {message.index} is invalid", culprits=[message.index]) from exc
    return public


def _check_signed(sid: bytes, got_sid: bytes, sign_key: bytes, tag: bytes, message: object, author: int, what: str) -> None:
    if not hmac.compare_digest(got_sid, sid):
        raise ProtocolError(f"{what} of member {author} belongs to another ceremony", culprits=[author])
    try:
        verify_signature(sign_key, tag, signing_bytes(message), message.signature)  # type: ignore[attr-defined]
    except ProofError as exc:
        raise ProtocolError(f"{what} of member {author} is not signed by them", culprits=[author]) from exc


def _share_key(sid: bytes, sender: int, recipient: int, recipient_key: Point, ephemeral: Point, dh: Point) -> bytes:
    return kdf32(TAG_DKG_SHARE_KEY, sid, u16(sender), u16(recipient), recipient_key.encode(), ephemeral.encode(), dh.encode())


def _share_ad(sid: bytes, sender: int, recipient: int) -> bytes:
    return sid + u16(sender) + u16(recipient)


def box_share(
    sid: bytes, keys: AccountKeys, sender: int, recipient: int, recipient_key: Point, share: Scalar, *, rng: Rng = default_rng
) -> DkgShare:
    """Encrypt s_{sender→recipient} to the recipient's checked DkgKey and sign the message."""
    e = Scalar.random(rng)
    ephemeral = Point.base_mul(e)
    pok = prove_knowledge(TAG_DKG_EPHEMERAL, BASE, ephemeral, e, [sid, u16(sender), u16(recipient)], rng=rng)
    key = _share_key(sid, sender, recipient, recipient_key, ephemeral, recipient_key.mul(e))
    ciphertext = aead.seal(key, share.encode(), _share_ad(sid, sender, recipient), rng=rng)
    unsigned = DkgShare(
        v=2,
        sid=sid,
        sender=sender,
        recipient=recipient,
        ephemeral=ephemeral.encode(),
        ephemeral_pok=pok.encode(),
        ciphertext=ciphertext,
        signature=bytes(64),
    )
    return replace(unsigned, signature=_sign(keys, TAG_DKG_SHARE, unsigned))


def check_share_signature(sid: bytes, message: DkgShare, sender_sign_key: bytes) -> None:
    """What anyone can check of a private share: the session and the sender's signature. Raises ProtocolError;
    a recipient drops such a message (the relay made it) instead of complaining."""
    _check_signed(sid, message.sid, sender_sign_key, TAG_DKG_SHARE, message, message.sender, "share")


def _ephemeral(sid: bytes, message: DkgShare) -> Point:
    """R after checking the dealer's PoK of its discrete log; raises TesseraError."""
    ephemeral = Point.decode(message.ephemeral)
    context = [sid, u16(message.sender), u16(message.recipient)]
    verify_knowledge(TAG_DKG_EPHEMERAL, BASE, ephemeral, Proof.decode(message.ephemeral_pok), context)
    return ephemeral


def _open_with(sid: bytes, message: DkgShare, recipient_key: Point, ephemeral: Point, dh: Point) -> Scalar:
    """Decrypt with a known DH value; raises DecryptionError or EncodingError."""
    key = _share_key(sid, message.sender, message.recipient, recipient_key, ephemeral, dh)
    plaintext = aead.open_sealed(key, message.ciphertext, _share_ad(sid, message.sender, message.recipient))
    return Scalar.decode_nonzero(plaintext)


def open_share(
    sid: bytes, secret: DealerSecret, recipient_key: Point, message: DkgShare, commitments: tuple[Point, ...]
) -> Scalar:
    """Open a dealer-signed share addressed to `secret.index` (the caller checked the signature) and check it
    against the dealer's commitments. Raises ProtocolError naming the dealer when it is bad: then complain."""
    sender = message.sender
    if message.recipient != secret.index:
        raise ProtocolError("share is addressed to someone else", culprits=[sender])
    try:
        ephemeral = _ephemeral(sid, message)
        share = _open_with(sid, message, recipient_key, ephemeral, ephemeral.mul(secret.key))
    except (DecryptionError, EncodingError, ProofError, TesseraError) as exc:
        raise ProtocolError(f"the share from member {sender} does not open", culprits=[sender]) from exc
    if not verify_share(commitments, secret.index, share):
        raise ProtocolError(f"the share from member {sender} fails its Feldman check", culprits=[sender])
    return share


def complain(sid: bytes, keys: AccountKeys, secret: DealerSecret, message: DkgShare, *, rng: Rng = default_rng) -> DkgComplaint:
    """A signed complaint proving that the dealer-signed `message` to this member is bad (see the module doc).

    Warning: publish it only for a share whose dealer signature verified and that failed `open_share`: it
    makes that one share readable by everyone (the accuser's own, which is lost anyway)."""
    try:
        ephemeral = _ephemeral(sid, message)
    except TesseraError:
        # the dealer signed a share with an R it cannot prove it made (copied from another dealer's share,
        # perhaps): that alone proves it dishonest, and publishing d·R could open the other dealer's share
        ephemeral = None
    if ephemeral is None:
        dh, proof = bytes(32), bytes(64)
    else:
        dh_point = ephemeral.mul(secret.key)
        public = Point.base_mul(secret.key)
        context = [sid, u16(message.sender), u16(secret.index)]
        dh = dh_point.encode()
        proof = prove_dleq(secret.key, public, ephemeral, dh_point, context, tag=TAG_DKG_DH, rng=rng).encode()
    unsigned = DkgComplaint(
        v=2, sid=sid, accuser=secret.index, accused=message.sender, share=message, dh=dh, proof=proof, signature=bytes(64)
    )
    return replace(unsigned, signature=_sign(keys, TAG_DKG_COMPLAINT, unsigned))


def judge_complaint(
    sid: bytes,
    complaint: DkgComplaint,
    *,
    accuser_sign_key: bytes,
    accuser_key: Point,
    dealer_sign_key: bytes,
    dealer_commitments: tuple[Point, ...],
) -> bool:
    """Who lied: True when the complaint proves the dealer dishonest (its signed share is bad), False when it
    proves the accuser dishonest (the share opens to a good value). Raises ProtocolError (no culprits) for a
    complaint that proves nothing, such as one the accuser did not sign: the relay's doing, to be ignored."""
    try:
        _check_signed(sid, complaint.sid, accuser_sign_key, TAG_DKG_COMPLAINT, complaint, complaint.accuser, "complaint")
        share = complaint.share
        if (share.sender, share.recipient) != (complaint.accused, complaint.accuser):
            raise ProtocolError("the complaint's share is another pair's")
        check_share_signature(sid, share, dealer_sign_key)
    except ProtocolError as exc:
        raise ProtocolError(f"a complaint that proves nothing: {exc}") from exc
    try:
        ephemeral = _ephemeral(sid, share)
    except TesseraError:
        return True  # the dealer signed a share without a valid ephemeral key
    try:
        dh = Point.decode(complaint.dh)
        context = [sid, u16(complaint.accused), u16(complaint.accuser)]
        verify_dleq(accuser_key, ephemeral, dh, Proof.decode(complaint.proof), context, tag=TAG_DKG_DH)
    except TesseraError as exc:
        raise ProtocolError(f"a complaint that proves nothing: its DH value is not proven ({exc})") from exc
    try:
        value = _open_with(sid, share, accuser_key, ephemeral, dh)
    except (DecryptionError, EncodingError):
        return True
    return not verify_share(dealer_commitments, complaint.accuser, value)
