"""The intake envelope: what a helper's device uploads for one case (protocol doc §2.4; ARCHITECTURE "What a case is").

* case file: padded, sealed under a random case key CK; CK is sealed (crypto_box_seal) to every council
  member's X25519 key and to the case's reply key, which the helper derives from its own secret and the
  case id (so the server holds no helper-to-case link);
* identity: padded, sealed under a random identity key IK; IK travels in the threshold identity header;
* the helper's account, signature and the key-directory head it saw travel inside the sealed case file.
  The signature covers the case file, a digest of the identity plaintext and the header, so a member
  who opens the case file knows the header was not swapped by the server.

The server can seal a case key of its own to every reader's public key, so a case file that opens proves
nothing about who wrote it: `open_checked_case_file` is the one way clients open a case they were served.
It checks the author against the verified key directory (a helper account with that signing key; for a
helper reading her own case, herself with her own reply keys) and cross-checks the directory head the
author signed (protocol doc §4, "Opening a case").
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Final

from keys import aead
from keys.accounts import SEAL_OVERHEAD, AccountKeys, seal_to, verify_signature
from keys.attachments import ATTACHMENT_ID_SIZE, MAX_PER_CASE, identity_attachment_key
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.encoding import b64u_encode, parse_json
from keys.errors import DecryptionError, EncodingError, ProofError, ProtocolError
from keys.group import Rng, default_rng, new_id
from keys.hashing import (
    TAG_AD_CASE_FILE,
    TAG_AD_IDENTITY,
    TAG_INTAKE_SIG,
    TAG_REPLY_BOX,
    TAG_REPLY_SIGN,
    digest,
    kdf32,
)
from keys.kem import CASE_ID_SIZE, IdentityHeader, check_header, encapsulate, header_digest
from keys.keyswitch import SwitchedHeader
from keys.wire import (
    encode_json,
    from_wire,
    require_len,
    require_text,
    require_version,
    signing_bytes,
)

CASE_KEY_SIZE: Final = 32
CASE_KEY_WRAP_SIZE: Final = SEAL_OVERHEAD + CASE_ID_SIZE + CASE_KEY_SIZE
MAX_SEALED: Final = 16 * aead.MIB  # a form is text; attachments travel separately
MAX_INTAKE_ATTACHMENTS: Final = MAX_PER_CASE


def new_case_id(rng: Rng = default_rng) -> bytes:
    """16 random bytes (never derived from identity data)."""
    return new_id(rng, CASE_ID_SIZE)


def reply_keys(reply_secret: bytes, case_id: bytes) -> AccountKeys:
    """The helper's per-case keys, derived from the helper's secret and the case id."""
    require_len("reply_secret", reply_secret, 32)
    require_len("case_id", case_id, CASE_ID_SIZE)
    return AccountKeys(
        sign_seed=kdf32(TAG_REPLY_SIGN, reply_secret, case_id), box_secret=kdf32(TAG_REPLY_BOX, reply_secret, case_id)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyWrap:
    """The case key sealed to one reader's X25519 key."""

    recipient: bytes
    sealed: bytes

    def __post_init__(self) -> None:
        require_len("recipient", self.recipient, 32)
        require_len("sealed", self.sealed, CASE_KEY_WRAP_SIZE)


def wrap_case_key(case_id: bytes, case_key: bytes, recipient_box_key: bytes) -> KeyWrap:
    """Seal (case_id ‖ CK) to a reader; also used to re-wrap for a new or rotated member."""
    return KeyWrap(recipient=recipient_box_key, sealed=seal_to(recipient_box_key, case_id + case_key))


def unwrap_case_key(keys: AccountKeys, case_id: bytes, wrap: KeyWrap) -> bytes:
    """Open a case-key wrap addressed to `keys`; raises DecryptionError (also for a wrap of another case)."""
    plaintext = keys.unseal(wrap.sealed)
    if not hmac.compare_digest(plaintext[:CASE_ID_SIZE], case_id):
        raise DecryptionError("case-key wrap belongs to another case")
    return plaintext[CASE_ID_SIZE:]


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeEnvelope:
    """What the server stores for a case: ciphertext, wraps, the identity header, public reply keys.

    `header` is None only in what the server serves after a full re-key deleted the original header: the
    case then has a switched header attested by the new council (keyswitch.py, attestation.py). An upload
    must carry its header (check_envelope).
    """

    VERSION: ClassVar[int] = 1
    v: int
    case_id: bytes
    kid: bytes
    epoch: int
    reply_box_key: bytes
    reply_sign_key: bytes
    case_file: bytes
    wraps: tuple[KeyWrap, ...]
    reply_wrap: KeyWrap
    header: IdentityHeader | None
    identity: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("case_id", self.case_id, CASE_ID_SIZE)
        require_len("kid", self.kid, 32)
        require_len("reply_box_key", self.reply_box_key, 32)
        require_len("reply_sign_key", self.reply_sign_key, 32)
        for name in ("case_file", "identity"):
            sealed = getattr(self, name)
            if not aead.is_padded_size(len(sealed)) or len(sealed) > MAX_SEALED:
                raise EncodingError(f"{name}: sealed size is not a padding bucket (or too large)")
        if self.reply_wrap.recipient != self.reply_box_key:
            raise EncodingError("reply_wrap must be addressed to reply_box_key")
        recipients = [w.recipient for w in self.wraps]
        if len(set(recipients)) != len(recipients):
            raise EncodingError("wraps: one wrap per recipient")


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedCaseFile:
    """The sealed case file's plaintext: the form, the author and the author's signature.

    Version 3 added `attachments`: the ids of the attachments sealed with the intake, so a reader notices
    one the server hides (attachments added later are named by the helper's signed list, keys/attachments.py).
    Version 2 case files are still read (`LegacyCaseFile`); version 1 case files are refused."""

    VERSION: ClassVar[int] = 3
    v: int
    case_id: bytes
    body: bytes
    author: str
    author_sign_key: bytes
    head_seq: int
    head_hash: bytes
    identity_digest: bytes
    header_digest: bytes
    reply_box_key: bytes
    reply_sign_key: bytes
    attachment_key: bytes  # identity attachments are sealed to it; its secret derives from the identity key
    attachments: tuple[bytes, ...]  # ids of the attachments sealed with the intake
    signature: bytes

    def __post_init__(self) -> None:
        _check_case_file(self)
        if len(self.attachments) > MAX_INTAKE_ATTACHMENTS or len(set(self.attachments)) != len(self.attachments):
            raise EncodingError(f"attachments: at most {MAX_INTAKE_ATTACHMENTS} distinct ids")
        for attachment_id in self.attachments:
            require_len("attachments", attachment_id, ATTACHMENT_ID_SIZE)

    @property
    def listed_attachments(self) -> tuple[bytes, ...] | None:
        """The attachments sealed with the intake (None: a version-2 case file does not say)."""
        return self.attachments


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacyCaseFile:
    """A version-2 case file (before `attachments`), read so that cases stored before version 3 stay readable;
    it does not say which attachments came with the intake."""

    VERSION: ClassVar[int] = 2
    v: int
    case_id: bytes
    body: bytes
    author: str
    author_sign_key: bytes
    head_seq: int
    head_hash: bytes
    identity_digest: bytes
    header_digest: bytes
    reply_box_key: bytes
    reply_sign_key: bytes
    attachment_key: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_case_file(self)

    @property
    def listed_attachments(self) -> tuple[bytes, ...] | None:
        return None


CaseFile = SignedCaseFile | LegacyCaseFile


def _check_case_file(case_file: SignedCaseFile | LegacyCaseFile) -> None:
    require_version(case_file)
    require_len("case_id", case_file.case_id, CASE_ID_SIZE)
    require_len("reply_box_key", case_file.reply_box_key, 32)
    require_len("reply_sign_key", case_file.reply_sign_key, 32)
    require_len("attachment_key", case_file.attachment_key, 32)
    require_text("author", case_file.author, max_len=64)
    require_len("author_sign_key", case_file.author_sign_key, 32)
    require_len("head_hash", case_file.head_hash, 32)
    require_len("identity_digest", case_file.identity_digest, 32)
    require_len("header_digest", case_file.header_digest, 32)
    require_len("signature", case_file.signature, 64)


def decode_case_file(plaintext: bytes) -> CaseFile:
    """Parse a case file of version 3, or 2; raises EncodingError (VersionError for version 1 or unknown)."""
    data: Any = parse_json(plaintext, what="case file")
    if isinstance(data, dict) and data.get("v") == LegacyCaseFile.VERSION:
        return from_wire(LegacyCaseFile, data)
    return from_wire(SignedCaseFile, data)


def seal_intake(
    *,
    case_id: bytes,
    case_file: bytes,
    identity: bytes,
    record: EpochRecord,
    author: str,
    author_keys: AccountKeys,
    reply_secret: bytes,
    head_seq: int,
    head_hash: bytes,
    attachment_ids: Sequence[bytes] = (),
    readers: Sequence[bytes] | None = None,
    rng: Rng = default_rng,
) -> IntakeEnvelope:
    """Seal one intake on the helper's device (doc §2.4). Nothing secret needs to be kept afterwards.

    `attachment_ids` are the ids of the attachments that go with the intake (prepared after sealing, with
    these ids): the case file lists them, so a reader notices one the server hides. `readers`: the box keys
    the case key is wrapped to, members of `record` (by default all of them): the verified directory's active
    members, so that a revoked member (a seized device) is given nothing (DirectoryState.active_members).

    Warning: `record` must have been verified against the pinned key directory; sealing to an unverified
    council key hands the identity to whoever made it. Raises EncodingError for a reader not in `record`.
    """
    require_len("case_id", case_id, CASE_ID_SIZE)
    members = [m.box_key for m in record.members]
    to = members if readers is None else list(readers)
    if not to or any(r not in members for r in to):
        raise EncodingError("the case key is wrapped only to members of the council record, and to at least one")
    identity_key = rng(32)
    case_key = rng(CASE_KEY_SIZE)
    header = encapsulate(council_key=record.key, kid=record.kid, case_id=case_id, identity_key=identity_key, rng=rng)
    sealed_identity = aead.seal_padded(identity_key, identity, kdf32(TAG_AD_IDENTITY, case_id), rng=rng)
    reply = reply_keys(reply_secret, case_id).public()
    unsigned = SignedCaseFile(
        v=3,
        case_id=case_id,
        body=case_file,
        author=author,
        author_sign_key=author_keys.public().sign_key,
        head_seq=head_seq,
        head_hash=head_hash,
        identity_digest=digest(identity),
        header_digest=header_digest(header),
        reply_box_key=reply.box_key,
        reply_sign_key=reply.sign_key,
        attachment_key=identity_attachment_key(case_id, identity_key),
        attachments=tuple(attachment_ids),
        signature=bytes(64),
    )
    signed = replace(unsigned, signature=author_keys.sign(TAG_INTAKE_SIG, signing_bytes(unsigned)))
    sealed_case_file = aead.seal_padded(case_key, encode_json(signed), kdf32(TAG_AD_CASE_FILE, case_id), rng=rng)
    return IntakeEnvelope(
        v=1,
        case_id=case_id,
        kid=record.kid,
        epoch=record.epoch,
        reply_box_key=reply.box_key,
        reply_sign_key=reply.sign_key,
        case_file=sealed_case_file,
        wraps=tuple(wrap_case_key(case_id, case_key, r) for r in to),
        reply_wrap=wrap_case_key(case_id, case_key, reply.box_key),
        header=header,
        identity=sealed_identity,
    )


def rewrap_envelope(envelope: IntakeEnvelope, case_key: bytes, record: EpochRecord, readers: Sequence[bytes]) -> IntakeEnvelope:
    """The same sealed intake addressed to `record`, a later epoch of the same council key (a membership change
    that kept the key, doc §2.4): the case key wrapped again to `readers` only (members of `record`), the epoch
    moved on; the case file, identity, header and reply wrap are unchanged, so the author's signature and the
    header's proof still hold. For an intake that waited in the helper's outbox (sealed offline to the council
    this device verified last). `case_key` is opened from the envelope's reply wrap on the author's device.

    Raises ProtocolError when `record` has another council key (a re-key: the identity cannot be sealed again
    without the form), EncodingError for a reader outside `record`, DecryptionError for a case key that does not
    open this case's file."""
    if not hmac.compare_digest(envelope.kid, record.kid):
        raise ProtocolError("the intake is sealed to another council key than this record's")
    members = [m.box_key for m in record.members]
    to = list(readers)
    if not to or any(r not in members for r in to):
        raise EncodingError("the case key is wrapped only to members of the council record, and to at least one")
    aead.open_padded(case_key, envelope.case_file, kdf32(TAG_AD_CASE_FILE, envelope.case_id))  # this case's key
    return replace(envelope, epoch=record.epoch, wraps=tuple(wrap_case_key(envelope.case_id, case_key, r) for r in to))


def check_envelope(envelope: IntakeEnvelope, record: EpochRecord, *, active: Sequence[bytes] | None = None) -> None:
    """What the server checks on upload: the council key and epoch, a wrap for each active member (`active`:
    their box keys; by default every member) and none for anyone outside the record, the header's points and
    π_r. Raises EncodingError, InvalidPointError or ProofError; never opens anything."""
    if not hmac.compare_digest(envelope.kid, record.kid) or envelope.epoch != record.epoch:
        raise ProtocolError("intake is sealed to another council key or epoch; refresh the key directory")
    wrapped = {w.recipient for w in envelope.wraps}
    members = {m.box_key for m in record.members}
    needed = members if active is None else set(active) & members
    if not needed <= wrapped or not wrapped <= members:
        raise ProtocolError("intake must carry one case-key wrap for each active council member, and none for anyone else")
    if envelope.header is None:
        raise ProtocolError("intake must carry its identity header")
    check_header(envelope.header, kid=record.kid, case_id=envelope.case_id)


def open_case_file(envelope: IntakeEnvelope, case_key: bytes, *, switched: SwitchedHeader | None = None) -> CaseFile:
    """Open and authenticate the case file with its case key.

    After a re-key the original header is gone; pass the case's `switched` header, whose `origin` (the
    digest of the header the helper signed) the new council attested. Checking that attestation is the
    caller's job (AttestedHeader.check).

    Raises DecryptionError when it does not open, ProofError when the author's signature, the header digest
    or the reply keys do not match (the header or the reply keys were swapped, or the file forged).

    Warning: this does not check who the author is, so a case file the server made up passes. Open a case
    that came from the server with `open_checked_case_file`; this function alone is for an envelope this
    device sealed itself.
    """
    plaintext = aead.open_padded(case_key, envelope.case_file, kdf32(TAG_AD_CASE_FILE, envelope.case_id))
    try:
        signed = decode_case_file(plaintext)
    except EncodingError as exc:
        raise DecryptionError(f"case file content is malformed: {exc}") from exc
    if signed.case_id != envelope.case_id:
        raise ProofError("case file belongs to another case")
    verify_signature(signed.author_sign_key, TAG_INTAKE_SIG, signing_bytes(signed), signed.signature)
    if envelope.header is not None:
        signed_header = header_digest(envelope.header)
    elif switched is not None:
        signed_header = switched.origin
    else:
        raise ProofError("the case carries no identity header")
    if not hmac.compare_digest(signed.header_digest, signed_header):
        raise ProofError("identity header was replaced after the helper signed the intake")
    if (signed.reply_box_key, signed.reply_sign_key) != (envelope.reply_box_key, envelope.reply_sign_key):
        # else a server could substitute its own key and read what the council writes to the helper
        raise ProofError("the case's reply keys were replaced after the helper signed the intake")
    return signed


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnCase:
    """What a helper's device knows to recognise a case of its own: its account and its reply secret."""

    account: str
    reply_secret: bytes

    def __post_init__(self) -> None:
        require_text("account", self.account, max_len=64)
        require_len("reply_secret", self.reply_secret, 32)


def open_checked_case_file(
    envelope: IntakeEnvelope,
    case_key: bytes,
    *,
    directory: DirectoryState,
    switched: SwitchedHeader | None = None,
    own: OwnCase | None = None,
) -> CaseFile:
    """Open a case file the server served, and check that a real helper wrote it (protocol doc §4).

    On top of `open_case_file`: the author is a helper account of the verified key `directory` that holds (or
    held, before a key rotation) the signing key that signed the case file; with `own` (a helper reading her
    own case through its reply key), the author is that helper and the case's reply keys are the ones she
    derives from her secret and the case id; and the directory head the author signed is a head of
    `directory` (`DirectoryState.check_head`).

    Raises DecryptionError (does not open), ProofError (forged, altered, or made up by the server: the
    message says so) or DirectoryError (the author was shown another key directory: a fork).
    Shown by tests/hostile/test_cases.py: test_members_do_not_act_on_a_case_the_server_made_up,
    test_a_helper_does_not_attach_to_a_case_the_server_made_up,
    test_a_helper_does_not_write_on_a_case_the_server_made_up, test_a_case_sealed_under_a_forked_directory_is_refused
    (and each rule alone by tests/keys/test_case_opener.py).
    """
    signed = open_case_file(envelope, case_key, switched=switched)
    case = b64u_encode(envelope.case_id)
    author = directory.accounts.get(signed.author)
    if author is None or author.role != "helper" or not author.signed_with(signed.author_sign_key):
        raise ProofError(
            f"case {case} was not written by a helper of this organisation: its case file names {signed.author!r} with a "
            "signing key the verified key directory does not give that helper. The server made it up or altered it; "
            "do not act on it"
        )
    if own is not None:
        if signed.author != own.account:
            raise ProofError(
                f"case {case} is not one you wrote: its case file is signed by {signed.author!r}. The server swapped it"
            )
        mine = reply_keys(own.reply_secret, envelope.case_id).public()
        if (signed.reply_box_key, signed.reply_sign_key) != (mine.box_key, mine.sign_key):
            raise ProofError(
                f"case {case} carries reply keys this device did not derive for it. The server swapped them; do not act on it"
            )
    directory.check_head(signed.head_seq, signed.head_hash, who=f"the helper who wrote case {case}")
    return signed


def open_identity(envelope: IntakeEnvelope, identity_key: bytes, signed: CaseFile) -> bytes:
    """Open the identity part with the recovered identity key and check it is what the helper signed."""
    identity = aead.open_padded(identity_key, envelope.identity, kdf32(TAG_AD_IDENTITY, envelope.case_id))
    if not hmac.compare_digest(digest(identity), signed.identity_digest):
        raise ProofError("identity differs from what the helper signed")
    return identity
