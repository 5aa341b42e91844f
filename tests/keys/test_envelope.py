import json
from dataclasses import replace

import pytest
from nacl.bindings import crypto_core_ed25519_add

from keys import aead
from keys.accounts import AccountKeys
from keys.encoding import canonical_json
from keys.envelope import (
    IntakeEnvelope,
    check_envelope,
    new_case_id,
    open_case_file,
    open_identity,
    reply_keys,
    rewrap_envelope,
    seal_intake,
    unwrap_case_key,
)
from keys.errors import DecryptionError, EncodingError, InvalidPointError, ProofError, ProtocolError
from keys.kem import check_header
from keys.wire import decode_json, encode_json, from_wire, to_wire
from tests.support.council import Council

HELPER = AccountKeys.generate()
REPLY_SECRET = b"\x07" * 32
IDENTITY = "이름: 김영희; 生年月日 1990-01-01; 住所: 延吉".encode()


def seal(council: Council, case_id: bytes | None = None, **kw: object) -> IntakeEnvelope:
    args: dict[str, object] = dict(
        case_id=case_id or new_case_id(),
        case_file=b'{"kind":"medical","need":"operation"}',
        identity=IDENTITY,
        record=council.record,
        author="helper-1",
        author_keys=HELPER,
        reply_secret=REPLY_SECRET,
        head_seq=7,
        head_hash=b"h" * 32,
    )
    args.update(kw)
    return seal_intake(**args)  # type: ignore[arg-type]


def flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x40]) + data[i + 1 :]


def test_every_member_and_the_helper_can_read_the_case_file(council: Council) -> None:
    env = seal(council)
    check_envelope(env, council.record)
    for _i, keys in council.keys.items():
        wrap = next(w for w in env.wraps if w.recipient == keys.public().box_key)
        opened = open_case_file(env, unwrap_case_key(keys, env.case_id, wrap))
        assert opened.body == b'{"kind":"medical","need":"operation"}'
        assert opened.author == "helper-1" and opened.author_sign_key == HELPER.public().sign_key
        assert (opened.head_seq, opened.head_hash) == (7, b"h" * 32)
    reply = reply_keys(REPLY_SECRET, env.case_id)
    assert open_case_file(env, unwrap_case_key(reply, env.case_id, env.reply_wrap)).body.startswith(b'{"kind"')


def test_outsiders_cannot_read(council: Council) -> None:
    env = seal(council)
    stranger = AccountKeys.generate()
    with pytest.raises(DecryptionError):
        unwrap_case_key(stranger, env.case_id, env.wraps[0])
    with pytest.raises(DecryptionError):
        unwrap_case_key(reply_keys(b"\x08" * 32, env.case_id), env.case_id, env.reply_wrap)


def test_reply_keys_differ_per_case_and_reveal_nothing_of_the_helper(council: Council) -> None:
    a, b = seal(council), seal(council)
    assert a.reply_box_key != b.reply_box_key and a.reply_sign_key != b.reply_sign_key
    blob = encode_json(a)
    assert HELPER.public().sign_key not in blob and b"helper-1" not in blob


def test_sizes_are_padded_to_buckets(council: Council) -> None:
    small = seal(council, case_file=b"x", identity=b"y")
    larger = seal(council, case_file=b"x" * 40, identity=b"y" * 400)
    much_larger = seal(council, case_file=b"x" * 5000, identity=b"y" * 600)
    assert len(small.identity) == len(larger.identity) == 512 + aead.OVERHEAD
    assert len(small.case_file) == len(larger.case_file)
    assert len(much_larger.case_file) == 8192 + aead.OVERHEAD and len(much_larger.identity) == 1024 + aead.OVERHEAD


def test_header_moved_to_another_case_fails(council: Council) -> None:
    a, b = seal(council), seal(council)
    moved = replace(b, header=a.header)
    with pytest.raises(ProofError):
        check_envelope(moved, council.record)
    with pytest.raises(ProofError):
        check_header(a.header, kid=council.record.kid, case_id=b.case_id)


def test_header_swapped_by_a_server_is_caught_when_the_case_file_is_opened(council: Council) -> None:
    a = seal(council)
    b = seal(council, case_id=a.case_id)  # same case id, fresh header that passes π_r
    swapped = replace(a, header=b.header)
    check_envelope(swapped, council.record)  # π_r alone cannot tell
    keys = council.keys[1]
    wrap = next(w for w in swapped.wraps if w.recipient == keys.public().box_key)
    with pytest.raises(ProofError, match="replaced"):
        open_case_file(swapped, unwrap_case_key(keys, swapped.case_id, wrap))


@pytest.mark.parametrize("field", ["r", "c", "wrap", "proof"])
def test_every_header_field_is_tamper_evident(council: Council, field: str) -> None:
    env = seal(council)
    value = getattr(env.header, field)
    for i in (0, len(value) // 2, len(value) - 1):
        tampered = replace(env, header=replace(env.header, **{field: flip(value, i)}))
        with pytest.raises((ProofError, InvalidPointError, EncodingError)):
            check_envelope(tampered, council.record)


@pytest.mark.parametrize("field", ["case_file", "identity"])
def test_sealed_parts_are_tamper_evident(council: Council, field: str) -> None:
    env = seal(council)
    keys = council.keys[2]
    wrap = next(w for w in env.wraps if w.recipient == keys.public().box_key)
    case_key = unwrap_case_key(keys, env.case_id, wrap)
    tampered = replace(env, **{field: flip(getattr(env, field), 40)})
    with pytest.raises(DecryptionError):
        if field == "case_file":
            open_case_file(tampered, case_key)
        else:
            open_identity(tampered, b"k" * 32, open_case_file(env, case_key))


def test_wrap_for_another_case_is_refused(council: Council) -> None:
    a, b = seal(council), seal(council)
    keys = council.keys[3]
    wrap = next(w for w in a.wraps if w.recipient == keys.public().box_key)
    with pytest.raises(DecryptionError, match="another case"):
        unwrap_case_key(keys, b.case_id, wrap)


def test_server_checks_council_key_and_wrap_set(council: Council, other_council: Council) -> None:
    env = seal(council)
    with pytest.raises(ProtocolError, match="another council key"):
        check_envelope(env, other_council.record)
    with pytest.raises(ProtocolError, match="one case-key wrap"):
        check_envelope(replace(env, wraps=env.wraps[:-1]), council.record)


def test_envelope_parsing_is_strict(council: Council) -> None:
    env = seal(council)
    assert decode_json(IntakeEnvelope, encode_json(env)) == env
    with pytest.raises(EncodingError, match="padding bucket"):
        replace(env, identity=env.identity + b"x")
    with pytest.raises(EncodingError, match="reply_wrap"):
        replace(env, reply_wrap=env.wraps[0])
    with pytest.raises(EncodingError, match="one wrap per recipient"):
        replace(env, wraps=(env.wraps[0], env.wraps[0]))


def test_reply_keys_swapped_by_a_server_are_caught(council: Council) -> None:
    env = seal(council)
    impostor = AccountKeys.generate().public()
    keys = council.keys[1]
    wrap = next(w for w in env.wraps if w.recipient == keys.public().box_key)
    case_key = unwrap_case_key(keys, env.case_id, wrap)
    from keys.envelope import wrap_case_key

    swapped = replace(env, reply_box_key=impostor.box_key, reply_wrap=wrap_case_key(env.case_id, case_key, impostor.box_key))
    with pytest.raises(ProofError, match="reply keys"):
        open_case_file(swapped, case_key)
    with pytest.raises(ProofError, match="reply keys"):
        open_case_file(replace(env, reply_sign_key=impostor.sign_key), case_key)


def test_header_r_that_is_not_a_group_element_is_refused(council: Council) -> None:
    """check_header validates R through its first multiplication (not a separate is_valid_point): every bad
    encoding, including the mixed-order point of CVE-2025-69277, must still be refused."""
    env = seal(council)
    order_two = (2**255 - 20).to_bytes(32, "little")
    mixed = crypto_core_ed25519_add(env.header.r, order_two)
    for bad in (bytes(32), (1).to_bytes(32, "little"), order_two, b"\xff" * 32, mixed):
        header = replace(env.header, r=bad)
        with pytest.raises(ProofError):
            check_header(header, kid=council.record.kid, case_id=env.case_id)


def test_an_accepted_envelope_is_its_own_wire_form(council: Council) -> None:
    # what the server relies on to keep a received intake's JSON instead of encoding it again
    wire = json.loads(encode_json(seal(council)))
    assert to_wire(from_wire(IntakeEnvelope, wire)) == wire
    assert encode_json(from_wire(IntakeEnvelope, wire)) == canonical_json(wire)


def test_an_outbox_intake_is_rewrapped_to_a_later_epoch_of_the_same_key(council: Council, other_council: Council) -> None:
    """A membership change that kept the council key: the helper's device wraps the case key again to the new
    epoch's members only (client/outbox.py); the signed case file, the identity and the header are unchanged."""
    env = seal(council)
    case_key = unwrap_case_key(reply_keys(REPLY_SECRET, env.case_id), env.case_id, env.reply_wrap)
    later = replace(council.record, epoch=council.record.epoch + 1)
    staying = [m.box_key for m in later.members][:-1]  # the last member was revoked
    moved = rewrap_envelope(env, case_key, later, staying)
    assert moved.epoch == later.epoch and sorted(w.recipient for w in moved.wraps) == sorted(staying)
    unchanged = ("case_file", "identity", "header", "reply_wrap", "kid", "case_id", "reply_box_key", "reply_sign_key")
    assert all(getattr(moved, name) == getattr(env, name) for name in unchanged)
    check_envelope(moved, later, active=staying)
    keys = council.keys[1]
    wrap = next(w for w in moved.wraps if w.recipient == keys.public().box_key)
    assert open_case_file(moved, unwrap_case_key(keys, env.case_id, wrap)).body == b'{"kind":"medical","need":"operation"}'
    with pytest.raises(ProtocolError, match="another council key"):
        rewrap_envelope(env, case_key, other_council.record, [m.box_key for m in other_council.record.members])
    with pytest.raises(EncodingError, match="only to members"):
        rewrap_envelope(env, case_key, later, [*staying, AccountKeys.generate().public().box_key])
    with pytest.raises(EncodingError, match="only to members"):
        rewrap_envelope(env, case_key, later, [])
    with pytest.raises(DecryptionError):
        rewrap_envelope(env, bytes(32), later, staying)  # not this case's key
