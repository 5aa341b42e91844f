"""The server's signed intake receipt: it names one case and one envelope, under the directory's server key."""

from dataclasses import fields, replace

import pytest

from keys.accounts import AccountKeys
from keys.errors import ProofError, VersionError
from keys.receipts import (
    AttachmentReceipt,
    IntakeReceipt,
    envelope_digest,
    sign_attachment_receipt,
    sign_receipt,
    verify_attachment_receipt,
    verify_receipt,
)
from keys.wire import from_wire, to_wire

from .mutate import mutations

SERVER = AccountKeys.generate()
CASE = b"c" * 16
ENVELOPE = b'{"v":1,"case_id":"..."}'


def receipt() -> IntakeReceipt:
    return sign_receipt(case_id=CASE, envelope_digest=envelope_digest(ENVELOPE), day=20_000, server=SERVER)


def check(r: IntakeReceipt, *, case_id: bytes = CASE, envelope: bytes = ENVELOPE, key: bytes | None = None) -> None:
    verify_receipt(r, server_key=key or SERVER.public().sign_key, case_id=case_id, envelope_digest=envelope_digest(envelope))


def test_a_receipt_verifies_and_round_trips() -> None:
    r = receipt()
    check(r)
    assert from_wire(IntakeReceipt, to_wire(r)) == r


def test_every_field_is_signed() -> None:
    r = receipt()
    changed = set()
    for name, tampered in mutations(r):
        changed.add(name)
        with pytest.raises(ProofError):
            check(tampered, case_id=tampered.case_id)  # even when it names the case asked for
    assert changed == {f.name for f in fields(IntakeReceipt)} - {"v", "signature"}


def test_another_case_another_envelope_another_key_or_version_is_refused() -> None:
    r = receipt()
    with pytest.raises(ProofError, match="names case"):
        check(r, case_id=b"d" * 16)
    with pytest.raises(ProofError, match="another envelope"):
        check(r, envelope=ENVELOPE + b" ")
    with pytest.raises(ProofError, match="not signed by the server key"):
        check(r, key=AccountKeys.generate().public().sign_key)
    with pytest.raises(ProofError):
        check(replace(r, signature=bytes(64)))
    with pytest.raises(VersionError):
        from_wire(IntakeReceipt, {**to_wire(r), "v": 2})


ATTACHMENT = b"a" * 16
LAST = b"l" * 32


def attachment_receipt() -> AttachmentReceipt:
    return sign_attachment_receipt(case_id=CASE, attachment_id=ATTACHMENT, chunks=6, last_chunk=LAST, server=SERVER)


def check_upload(r: AttachmentReceipt, *, key: bytes | None = None, **asked: object) -> None:
    wanted: dict[str, object] = {"case_id": CASE, "attachment_id": ATTACHMENT, "chunks": 6, "last_chunk": LAST, **asked}
    verify_attachment_receipt(r, server_key=key or SERVER.public().sign_key, **wanted)  # type: ignore[arg-type]


def test_an_upload_receipt_verifies_round_trips_and_signs_every_field() -> None:
    r = attachment_receipt()
    check_upload(r)
    assert from_wire(AttachmentReceipt, to_wire(r)) == r
    changed = set()
    for name, tampered in mutations(r):
        changed.add(name)
        with pytest.raises(ProofError):  # even when it names exactly what was asked
            check_upload(tampered, **{n: getattr(tampered, n) for n in ("case_id", "attachment_id", "chunks", "last_chunk")})
    assert changed == {f.name for f in fields(AttachmentReceipt)} - {"v", "signature"}


def test_an_upload_receipt_for_something_else_or_by_another_key_is_refused() -> None:
    r = attachment_receipt()
    with pytest.raises(ProofError, match="another case or attachment"):
        check_upload(r, attachment_id=b"b" * 16)
    with pytest.raises(ProofError, match="another case or attachment"):
        check_upload(r, case_id=b"d" * 16)
    with pytest.raises(ProofError, match="ending in another chunk"):
        check_upload(r, chunks=5)
    with pytest.raises(ProofError, match="ending in another chunk"):
        check_upload(r, last_chunk=b"m" * 32)
    with pytest.raises(ProofError, match="not signed by the server key"):
        check_upload(r, key=AccountKeys.generate().public().sign_key)
    with pytest.raises(ProofError):  # an intake receipt's signature does not make an upload receipt
        check_upload(replace(r, signature=receipt().signature))
    with pytest.raises(VersionError):
        from_wire(AttachmentReceipt, {**to_wire(r), "v": 2})
