"""The server's signed intake receipt: it names one case and one envelope, under the directory's server key."""

from dataclasses import fields, replace

import pytest

from keys.accounts import AccountKeys
from keys.errors import ProofError, VersionError
from keys.receipts import IntakeReceipt, envelope_digest, sign_receipt, verify_receipt
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
