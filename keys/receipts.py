"""The server's signed intake receipt (protocol doc §4, "Receipt").

A helper's device deletes its sealed outbox copy of an intake only after the server has signed, with the
server key the verified key directory names, that it stored exactly that envelope under that case id:
`{v, case_id, envelope_digest, day, signature}`, with `envelope_digest = digest(canonical envelope JSON)` (the
exact bytes the device kept and sent) and the signature (tag `intake-receipt`) over the canonical JSON without
the signature. A receipt for another case or another envelope, or signed by any other key, leaves the intake
in the outbox (tests/hostile/test_cases.py, test_an_intake_is_kept_until_a_valid_receipt_names_it and
test_a_server_signed_receipt_for_another_case_or_envelope_keeps_the_intake).

A receipt proves the server accepted the intake, not that it keeps it: the device keeps the case id, and
`tessera sync` checks that every case it has a receipt for is still served.

An attachment upload ends the same way (protocol doc §8b, "Upload receipt"): the device drops its pending upload
(the sealed copy it resumes from) only after the server signed `{v, case_id, attachment_id, chunks, last_chunk,
signature}` (tag `attachment-receipt`): it holds all `chunks` sealed chunks, the last of them with digest
`last_chunk`. Each secretstream chunk is chained to the ones before it, so the last one vouches for the order and
content of all of them to a reader who opens the stream (tests/hostile/test_review_attachments.py).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from typing import ClassVar

from keys.accounts import AccountKeys, verify_signature
from keys.attachments import ATTACHMENT_ID_SIZE
from keys.encoding import b64u_encode, u64
from keys.errors import ProofError
from keys.hashing import TAG_ATTACHMENT_RECEIPT, TAG_RECEIPT, digest
from keys.kem import CASE_ID_SIZE
from keys.wire import require_len, require_version, signing_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class IntakeReceipt:
    """The server's signed word that it stored the envelope with `envelope_digest` under `case_id`."""

    VERSION: ClassVar[int] = 1
    v: int
    case_id: bytes
    envelope_digest: bytes
    day: int
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("case_id", self.case_id, CASE_ID_SIZE)
        require_len("envelope_digest", self.envelope_digest, 32)
        u64(self.day)
        require_len("signature", self.signature, 64)


def envelope_digest(envelope_json: bytes) -> bytes:
    """The digest a receipt names: of the canonical JSON of the envelope (what the device keeps and sends)."""
    return digest(envelope_json)


def sign_receipt(*, case_id: bytes, envelope_digest: bytes, day: int, server: AccountKeys) -> IntakeReceipt:
    """The server's receipt for a stored intake, signed with its directory key."""
    unsigned = IntakeReceipt(v=1, case_id=case_id, envelope_digest=envelope_digest, day=day, signature=bytes(64))
    return replace(unsigned, signature=server.sign(TAG_RECEIPT, signing_bytes(unsigned)))


def verify_receipt(receipt: IntakeReceipt, *, server_key: bytes, case_id: bytes, envelope_digest: bytes) -> None:
    """Check that `receipt` is the server's signature for exactly this case id and envelope.

    `server_key` must come from the verified key directory (`DirectoryState.server_key`), never from the
    answer that carried the receipt. Raises ProofError saying what does not match.
    """
    if not hmac.compare_digest(receipt.case_id, case_id):
        raise ProofError(
            f"the server's receipt names case {b64u_encode(receipt.case_id)}, not {b64u_encode(case_id)}: it did not "
            "confirm storing this intake"
        )
    if not hmac.compare_digest(receipt.envelope_digest, envelope_digest):
        raise ProofError(
            f"the server's receipt for case {b64u_encode(case_id)} names another envelope than the one this device sent"
        )
    try:
        verify_signature(server_key, TAG_RECEIPT, signing_bytes(receipt), receipt.signature)
    except ProofError as exc:
        raise ProofError(
            f"the receipt for case {b64u_encode(case_id)} is not signed by the server key in the verified key directory"
        ) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentReceipt:
    """The server's signed word that it holds all `chunks` sealed chunks of `attachment_id` on `case_id`, the last
    with digest `last_chunk`."""

    VERSION: ClassVar[int] = 1
    v: int
    case_id: bytes
    attachment_id: bytes
    chunks: int
    last_chunk: bytes
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("case_id", self.case_id, CASE_ID_SIZE)
        require_len("attachment_id", self.attachment_id, ATTACHMENT_ID_SIZE)
        u64(self.chunks)
        require_len("last_chunk", self.last_chunk, 32)
        require_len("signature", self.signature, 64)


def sign_attachment_receipt(
    *, case_id: bytes, attachment_id: bytes, chunks: int, last_chunk: bytes, server: AccountKeys
) -> AttachmentReceipt:
    """The server's receipt for a complete attachment upload, signed with its directory key."""
    unsigned = AttachmentReceipt(
        v=1, case_id=case_id, attachment_id=attachment_id, chunks=chunks, last_chunk=last_chunk, signature=bytes(64)
    )
    return replace(unsigned, signature=server.sign(TAG_ATTACHMENT_RECEIPT, signing_bytes(unsigned)))


def verify_attachment_receipt(
    receipt: AttachmentReceipt, *, server_key: bytes, case_id: bytes, attachment_id: bytes, chunks: int, last_chunk: bytes
) -> None:
    """Check that `receipt` is the server's signature for exactly this upload: this case and attachment, all
    `chunks` chunks, the last one the one this device sealed (`last_chunk`, its digest). `server_key` from the
    verified key directory. Raises ProofError saying what does not match."""
    name = b64u_encode(attachment_id)
    if not (hmac.compare_digest(receipt.case_id, case_id) and hmac.compare_digest(receipt.attachment_id, attachment_id)):
        raise ProofError(f"the server's upload receipt names another case or attachment than {name}")
    if receipt.chunks != chunks or not hmac.compare_digest(receipt.last_chunk, last_chunk):
        raise ProofError(
            f"the server's upload receipt for {name} names {receipt.chunks} chunk(s) ending in another chunk than the "
            f"{chunks} this device sealed"
        )
    try:
        verify_signature(server_key, TAG_ATTACHMENT_RECEIPT, signing_bytes(receipt), receipt.signature)
    except ProofError as exc:
        raise ProofError(f"the upload receipt for {name} is not signed by the server key in the verified key directory") from exc
