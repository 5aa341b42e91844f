"""Flip-a-byte tests on every signed or proven wire format: each change must be refused with our own error."""

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import dkg
from keys.accounts import AccountKeys
from keys.ceremony import complain
from keys.checkpoints import sign_checkpoint, verify_checkpoint
from keys.council import EpochRecord
from keys.directory import DirectoryState, apply_entry, make_entry, payload_for
from keys.encoding import b64u_decode, b64u_encode
from keys.envelope import open_case_file, open_identity, unwrap_case_key
from keys.errors import TesseraError
from keys.keyswitch import contribute_switch, verify_contribution
from keys.reveal import approve_reveal, check_request, prepare_request, request_reveal, verify_partial
from keys.wire import from_wire, to_wire
from tests.support.council import Council, dkg_params, run_dkg, sealed_intake

NOW = 1_800_000_000


def flips(obj: Any) -> list[tuple[str, Any]]:
    """Every bytes field of `obj`, with one bit changed at its start, middle and end."""
    out = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, bytes) and value:
            for i in sorted({0, len(value) // 2, len(value) - 1}):
                changed = value[:i] + bytes([value[i] ^ 0x01]) + value[i + 1 :]
                out.append((f"{f.name}[{i}]", replace(obj, **{f.name: changed})))
    return out


def refuses(check: Callable[[Any], object], obj: Any) -> None:
    for name, tampered in flips(obj):
        with pytest.raises(TesseraError):
            check(tampered)
            pytest.fail(f"a change in {name} was accepted")


@pytest.fixture(scope="module")
def case(council: Council):  # type: ignore[no-untyped-def]
    env = sealed_intake(council, identity=b"id")
    request, _ = request_reveal(
        record=council.record,
        header=env.header,
        case_id=env.case_id,
        keys=council.keys[1],
        purpose="p",
        case_key=b"k" * 32,
        expiry=NOW + 9,
    )
    return env, request


def test_reveal_request(council: Council, case) -> None:  # type: ignore[no-untyped-def]
    env, request = case
    refuses(lambda r: check_request(r, record=council.record, header=env.header, now=NOW), request)


def test_partial_decryption(council: Council, case) -> None:  # type: ignore[no-untyped-def]
    env, request = case
    partial = approve_reveal(
        request, record=council.record, header=env.header, index=2, share=council.shares[2], keys=council.keys[2], now=NOW
    )
    prepared = prepare_request(request, council.record)
    verify_partial(prepared, partial)
    refuses(lambda p: verify_partial(prepared, p), partial)


def test_epoch_record(council: Council) -> None:
    def with_bytes(data: dict[str, Any], path: tuple[Any, ...], flip_at: int) -> dict[str, Any]:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        raw = bytearray(b64u_decode(target[path[-1]]))
        raw[flip_at] ^= 1
        target[path[-1]] = b64u_encode(bytes(raw))
        return data

    paths = [("council_key",), ("commitments", 0), ("commitments", 1), ("members", 2, "share_key"), ("origin",)]
    for path in paths:
        try:
            record = from_wire(EpochRecord, with_bytes(to_wire(council.record), path, 0))
        except TesseraError:
            continue  # refused on construction (points, consistency with the commitments)
        # fields not checked on construction (origin) change the digest the members signed
        assert record.digest() != council.record.digest(), path
    data = to_wire(council.record)
    data["commitments"] = data["commitments"][::-1]
    with pytest.raises(TesseraError):
        from_wire(EpochRecord, data)


def test_dkg_messages() -> None:
    keys = {i: AccountKeys.generate() for i in range(1, 4)}
    params = dkg_params(keys, 2)
    dealt = {i: dkg.deal(params, i, keys[i]) for i in keys}
    commitments = [d[1] for d in dealt.values()]
    enc = [d[2] for d in dealt.values()]
    _, enc_keys = dkg.check_round1(params, commitments, enc)
    for name, tampered in flips(commitments[1]):
        with pytest.raises(TesseraError):
            dkg.check_round1(params, [commitments[0], tampered, commitments[2]], enc)
            pytest.fail(name)
    for name, tampered in flips(enc[1]):
        with pytest.raises(TesseraError):
            dkg.check_round1(params, commitments, [enc[0], tampered, enc[2]])
            pytest.fail(name)
    share = dkg.deal_shares(params, dealt[1][0], keys[1], enc_keys)[0]
    for name, tampered in flips(share):
        assert not dkg.share_is_signed(params, tampered), name
    complaint = complain(params.sid, keys[share.recipient], dealt[share.recipient][0], share)
    commitments_by = {c.index: c for c in commitments}
    assert dkg.judge(params, complaint, commitments_by, enc_keys) == share.recipient
    for name, tampered in flips(complaint):
        with pytest.raises(TesseraError):
            dkg.judge(params, tampered, commitments_by, enc_keys)
            pytest.fail(name)


def test_directory_entry_and_checkpoint() -> None:
    server = AccountKeys.generate()
    entry = make_entry(
        seq=0,
        prev=bytes(32),
        kind="server-key",
        payload=payload_for("server-key", server_key=server.public().sign_key),
        day=1,
        signers=[server],
    )
    state = apply_entry(DirectoryState(), entry)
    refuses(lambda e: apply_entry(DirectoryState(), e), entry)
    checkpoint = sign_checkpoint(0, state.head, 1, server)
    refuses(lambda c: verify_checkpoint(c, state, {0: state.head}), checkpoint)


def test_key_switch_contribution(council: Council, case) -> None:  # type: ignore[no-untyped-def]
    env, _ = case
    new = run_dkg(2, 3, epoch=2)
    contribution = contribute_switch(
        old=council.record, new=new.record, index=1, share=council.shares[1], case_id=env.case_id, header=env.header
    )
    refuses(lambda c: verify_contribution(c, old=council.record, new=new.record, header=env.header), contribution)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case_file=st.binary(max_size=3000), identity=st.text(max_size=300))
def test_envelope_round_trip(council: Council, case_file: bytes, identity: str) -> None:
    env = sealed_intake(council, identity=identity.encode(), case_file=case_file)
    keys = council.keys[3]
    wrap = next(w for w in env.wraps if w.recipient == keys.public().box_key)
    signed = open_case_file(env, unwrap_case_key(keys, env.case_id, wrap))
    assert signed.body == case_file
    # the identity opens with the right key only; here we check the digest binding with a wrong key fails
    with pytest.raises(TesseraError):
        open_identity(env, b"\x00" * 32, signed)
