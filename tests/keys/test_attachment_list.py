"""The helper's signed list of a case's attachments: signed by the case's reply key, for one case, every field."""

from dataclasses import fields, replace

import pytest

from keys.attachments import AttachmentList, sign_attachment_list, verify_attachment_list
from keys.envelope import reply_keys
from keys.errors import EncodingError, ProofError, VersionError
from keys.wire import from_wire, to_wire

from .mutate import mutations

CASE = b"c" * 16
REPLY = reply_keys(b"\x03" * 32, CASE)
IDS = [bytes([i]) * 16 for i in (3, 1, 2)]


def listing() -> AttachmentList:
    return sign_attachment_list(case_id=CASE, serial=2, attachment_ids=IDS, reply=REPLY)


def test_a_list_verifies_sorted_and_round_trips() -> None:
    signed = listing()
    verify_attachment_list(signed, case_id=CASE, reply_sign_key=REPLY.public().sign_key)
    assert signed.attachment_ids == tuple(sorted(IDS))
    assert from_wire(AttachmentList, to_wire(signed)) == signed


def test_every_field_is_signed() -> None:
    signed = listing()
    changed = set()
    for name, tampered in mutations(signed):
        changed.add(name)
        with pytest.raises(ProofError):
            verify_attachment_list(tampered, case_id=tampered.case_id, reply_sign_key=REPLY.public().sign_key)
    assert changed == {f.name for f in fields(AttachmentList)} - {"v", "signature"}


def test_another_case_another_key_a_bad_shape_or_version_is_refused() -> None:
    signed = listing()
    with pytest.raises(ProofError, match="another case"):
        verify_attachment_list(signed, case_id=b"d" * 16, reply_sign_key=REPLY.public().sign_key)
    other = reply_keys(b"\x03" * 32, b"d" * 16)  # the same helper's key for another case
    with pytest.raises(ProofError, match="not signed"):
        verify_attachment_list(signed, case_id=CASE, reply_sign_key=other.public().sign_key)
    with pytest.raises(EncodingError):
        replace(signed, attachment_ids=(IDS[0], IDS[0]))
    with pytest.raises(EncodingError):
        replace(signed, attachment_ids=(IDS[0], IDS[1]))  # not sorted
    with pytest.raises(EncodingError):
        replace(signed, attachment_ids=tuple(bytes([i % 256, i // 256]) * 8 for i in range(201)))
    with pytest.raises(VersionError):
        from_wire(AttachmentList, {**to_wire(signed), "v": 2})
