"""Which of the rows a server lists are a case's attachments (`check_listing`): those the case file (version 3)
or the helper's signed list names; the rest are left out and counted, named ids the server leaves out are hidden."""

from __future__ import annotations

from dataclasses import fields, replace

from client.attachments import Listing, check_listing
from keys.accounts import AccountKeys
from keys.attachments import sign_attachment_list
from keys.encoding import b64u_encode
from keys.envelope import LegacyCaseFile, SignedCaseFile
from keys.wire import to_wire

CASE = b"c" * 16
REPLY = AccountKeys.generate()
A, B, C = b"\x01" * 16, b"\x02" * 16, b"\x03" * 16


def case_file(attachments: tuple[bytes, ...]) -> SignedCaseFile:
    return SignedCaseFile(
        v=3,
        case_id=CASE,
        body=b"{}",
        author="hana",
        author_sign_key=bytes(32),
        head_seq=0,
        head_hash=bytes(32),
        identity_digest=bytes(32),
        header_digest=bytes(32),
        reply_box_key=bytes(32),
        reply_sign_key=REPLY.public().sign_key,
        attachment_key=bytes(32),
        attachments=attachments,
        signature=bytes(64),
    )


def rows(*ids: bytes) -> list[dict[str, object]]:
    return [{"attachment_id": b64u_encode(i)} for i in ids]


def ids_of(checked_rows: list[dict[str, object]]) -> list[str]:
    return [str(r["attachment_id"]) for r in checked_rows]


def test_named_rows_are_shown_others_left_out_and_missing_ones_named() -> None:
    signed = sign_attachment_list(case_id=CASE, serial=1, attachment_ids=[B], reply=REPLY)
    checked = check_listing(CASE, case_file((A,)), REPLY.public().sign_key, Listing(rows(B, C, C), to_wire(signed)))
    assert ids_of(checked.rows) == [b64u_encode(B)]
    assert checked.hidden == [b64u_encode(A)] and checked.injected == 2 and not checked.unknown
    assert checked.serial == 1 and checked.signed_ids == {B}
    assert any("hides" in w for w in checked.warnings()) and any("added them" in w for w in checked.warnings())


def test_a_list_signed_by_another_key_or_for_another_case_is_ignored() -> None:
    for forged in (
        sign_attachment_list(case_id=CASE, serial=5, attachment_ids=[C], reply=AccountKeys.generate()),
        sign_attachment_list(case_id=b"d" * 16, serial=5, attachment_ids=[C], reply=REPLY),
    ):
        checked = check_listing(CASE, case_file((A,)), REPLY.public().sign_key, Listing(rows(A, C), to_wire(forged)))
        assert ids_of(checked.rows) == [b64u_encode(A)] and checked.injected == 1 and checked.problem is not None
    broken = {**to_wire(forged), "serial": "x"}
    assert check_listing(CASE, case_file(()), REPLY.public().sign_key, Listing(rows(), broken)).problem is not None


def test_a_version_2_case_without_a_list_shows_everything_and_says_so() -> None:
    legacy = LegacyCaseFile(**{k: v for k, v in vars_of(case_file(())).items() if k != "attachments"} | {"v": 2})
    checked = check_listing(CASE, legacy, REPLY.public().sign_key, Listing(rows(A, B), None))
    assert checked.unknown and ids_of(checked.rows) == [b64u_encode(A), b64u_encode(B)]
    assert any("could hide" in w for w in checked.warnings())
    signed = sign_attachment_list(case_id=CASE, serial=1, attachment_ids=[A], reply=REPLY)
    checked = check_listing(CASE, legacy, REPLY.public().sign_key, Listing(rows(A, B), to_wire(signed)))
    assert not checked.unknown and ids_of(checked.rows) == [b64u_encode(A)]
    assert replace(case_file(()), attachments=(A,)).listed_attachments == (A,)


def vars_of(obj: SignedCaseFile) -> dict[str, object]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}
