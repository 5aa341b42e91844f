from dataclasses import replace

import pytest

from keys.accounts import AccountKeys
from keys.envelope import IntakeEnvelope, open_case_file, open_identity, unwrap_case_key
from keys.errors import DecryptionError, InvalidPointError, ProofError, ProtocolError, QuorumError
from keys.group import Point, Scalar
from keys.kem import unwrap_identity_key
from keys.reveal import (
    Blinding,
    PartialDecryption,
    RevealRequest,
    approve_reveal,
    combine_reveal,
    open_purpose,
    prepare_request,
    request_reveal,
    verify_partial,
)
from keys.sharing import lagrange_coefficients
from tests.support.council import Council, sealed_intake

NOW = 1_800_000_000
LATER = NOW + 7 * 86400
IDENTITY = "박민수, 1985-03-02, 연길시".encode()
CASE_KEY = b"\x09" * 32


def intake(council: Council) -> IntakeEnvelope:
    return sealed_intake(council, identity=IDENTITY)


def ask(
    council: Council, env: IntakeEnvelope, requester: int = 1, purpose: str = "relocation to a third country"
) -> tuple[RevealRequest, Blinding]:
    return request_reveal(
        record=council.record,
        header=env.header,
        case_id=env.case_id,
        keys=council.keys[requester],
        purpose=purpose,
        case_key=CASE_KEY,
        expiry=LATER,
    )


def approve(council: Council, env: IntakeEnvelope, request: RevealRequest, index: int) -> PartialDecryption:
    return approve_reveal(
        request,
        record=council.record,
        header=env.header,
        index=index,
        share=council.shares[index],
        keys=council.keys[index],
        now=NOW,
    )


def test_k_approvals_reveal_the_identity(council: Council) -> None:
    env = intake(council)
    request, blinding = ask(council, env)
    partials = [approve(council, env, request, i) for i in (2, 4, 5)]
    identity_key = combine_reveal(request, blinding, partials, record=council.record, header=env.header)
    keys = council.keys[1]
    wrap = next(w for w in env.wraps if w.recipient == keys.public().box_key)
    signed = open_case_file(env, unwrap_case_key(keys, env.case_id, wrap))
    assert open_identity(env, identity_key, signed) == IDENTITY


def test_k_minus_1_approvals_reveal_nothing(council: Council) -> None:
    env = intake(council)
    request, blinding = ask(council, env)
    partials = [approve(council, env, request, i) for i in (1, 3)]
    with pytest.raises(QuorumError, match="2 valid approval"):
        combine_reveal(request, blinding, partials, record=council.record, header=env.header)
    # Forcing a k-1 combination anyway yields a wrong M: the wrap does not open.
    prepared = prepare_request(request, council.record)
    points = {p.index: verify_partial(prepared, p) for p in partials}
    weights = lagrange_coefficients(sorted(points))
    s = points[1].mul(weights[1]) + points[3].mul(weights[3])
    m = Point.decode(env.header.c) - s.mul(blinding.scalar.invert())
    with pytest.raises(DecryptionError):
        unwrap_identity_key(case_id=env.case_id, wrap=env.header.wrap, m=m)


def test_the_same_member_twice_does_not_count_twice(council: Council) -> None:
    env = intake(council)
    request, blinding = ask(council, env)
    partials = [approve(council, env, request, 2), approve(council, env, request, 2), approve(council, env, request, 3)]
    with pytest.raises(QuorumError):
        combine_reveal(request, blinding, partials, record=council.record, header=env.header)


def test_blinded_partials_are_useless_without_b(council: Council) -> None:
    """What the server holds after k approvals: it cannot open the wrap."""
    env = intake(council)
    request, _blinding = ask(council, env)
    partials = [approve(council, env, request, i) for i in (1, 2, 3)]
    wrong = Blinding(Scalar.random())
    with pytest.raises(DecryptionError):
        combine_reveal(request, wrong, partials, record=council.record, header=env.header)


def test_dleq_proof_replayed_under_another_request_fails(council: Council) -> None:
    env = intake(council)
    first, _ = ask(council, env)
    second, _ = ask(council, env)
    partial = approve(council, env, first, 2)
    replayed = replace(partial, request_id=second.request_id)
    with pytest.raises(ProofError):
        verify_partial(prepare_request(second, council.record), replayed)
    with pytest.raises(ProtocolError, match="another request"):
        verify_partial(prepare_request(second, council.record), partial)


def test_tampered_partials_are_refused_and_a_bad_one_is_skipped_when_enough_remain(council: Council) -> None:
    env = intake(council)
    request, blinding = ask(council, env)
    prepared = prepare_request(request, council.record)
    good = [approve(council, env, request, i) for i in (1, 2, 3, 4)]
    other_point = Point.base_mul(Scalar.random()).encode()
    bad = replace(good[0], point=other_point)
    with pytest.raises(ProofError):
        verify_partial(prepared, bad)
    forged_sig = replace(good[1], signature=bytes(64))
    with pytest.raises(ProofError):
        verify_partial(prepared, forged_sig)
    # combine ignores the bad one and still has k = 3 good ones (and checks a second subset agrees)
    identity_key = combine_reveal(request, blinding, [bad, *good[1:]], record=council.record, header=env.header)
    assert len(identity_key) == 32


def test_requests_are_checked_before_a_member_decrypts(council: Council, other_council: Council) -> None:
    env = intake(council)
    request, _ = ask(council, env)
    with pytest.raises(ProtocolError, match="expired"):
        approve_reveal(
            request, record=council.record, header=env.header, index=2, share=council.shares[2], keys=council.keys[2], now=LATER
        )
    # a request for another case's point: π_b does not verify against this case's R
    other = intake(council)
    moved = replace(request, case_id=other.case_id)
    with pytest.raises(ProofError):
        approve(council, other, moved, 2)
    # a request made by someone outside the council (the server minting its own requests)
    outsider = request_reveal(
        record=council.record,
        header=env.header,
        case_id=env.case_id,
        keys=AccountKeys.generate(),
        purpose="x",
        case_key=CASE_KEY,
        expiry=LATER,
    )[0]
    with pytest.raises(ProtocolError, match="not a member"):
        approve(council, env, outsider, 2)
    # an altered (sealed) purpose breaks the requester's signature
    other_purpose = request_reveal(
        record=council.record,
        header=env.header,
        case_id=env.case_id,
        keys=council.keys[1],
        purpose="other",
        case_key=CASE_KEY,
        expiry=LATER,
    )[0].purpose
    with pytest.raises(ProofError):
        approve(council, env, replace(request, purpose=other_purpose), 2)
    # a wrong share for the index
    with pytest.raises(ProtocolError, match="does not belong"):
        approve_reveal(
            request, record=council.record, header=env.header, index=2, share=council.shares[3], keys=council.keys[2], now=NOW
        )
    # a header moved from another case
    with pytest.raises(ProofError):
        approve_reveal(
            request, record=council.record, header=other.header, index=2, share=council.shares[2], keys=council.keys[2], now=NOW
        )


def test_invalid_blinded_point_is_refused(council: Council) -> None:
    env = intake(council)
    request, _ = ask(council, env)
    with pytest.raises(InvalidPointError):
        prepare_request(replace(request, blinded=bytes(32)), council.record)


def test_purpose_is_sealed_under_the_case_key(council: Council) -> None:
    env = intake(council)
    request, _ = ask(council, env, purpose="이주 지원 (relocation)")
    assert b"relocation" not in request.purpose
    assert open_purpose(request, CASE_KEY) == "이주 지원 (relocation)"
    with pytest.raises(DecryptionError):
        open_purpose(request, b"\x00" * 32)
