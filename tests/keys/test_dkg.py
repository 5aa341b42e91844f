from dataclasses import replace

import pytest

from keys import dkg
from keys.accounts import AccountKeys
from keys.ceremony import DealerSecret
from keys.council import EpochRecord
from keys.errors import EncodingError, ProtocolError
from keys.group import Point, Scalar
from keys.sharing import Polynomial, lagrange_coefficients
from keys.wire import from_wire, to_wire

from .conftest import Council, participants, run_dkg


def setup(k: int = 3, n: int = 5):  # type: ignore[no-untyped-def]
    keys = {i: AccountKeys.generate() for i in range(1, n + 1)}
    params = dkg.DkgParams(v=1, epoch=1, threshold=k, participants=participants(keys))
    secrets, commitments = {}, {}
    for i in keys:
        secrets[i], commitments[i] = dkg.deal(params, i)
    return keys, params, secrets, commitments


def test_dkg_gives_one_council_key_that_no_one_dealt() -> None:
    c: Council = run_dkg(3, 5)
    shares = c.shares
    # x is never formed by the protocol; the test forms it once to check the shares are consistent.
    weights = lagrange_coefficients([1, 2, 3])
    x = weights[1] * shares[1] + weights[2] * shares[2] + weights[3] * shares[3]
    assert Point.base_mul(x) == c.record.key
    for i, s in shares.items():
        assert Point.base_mul(s) == c.record.share_key(i)
    assert from_wire(EpochRecord, to_wire(c.record)) == c.record


def test_bad_share_is_caught_by_the_complaint_step_and_the_dealer_named() -> None:
    keys, params, secrets, commitments = setup()
    cheater, victim = 2, 4
    # The cheater boxes a wrong value to the victim.
    wrong = secrets[cheater].polynomial.evaluate(victim) + Scalar.from_int(1)
    from keys.ceremony import box_share

    bad = box_share(params.sid, keys[cheater], cheater, victim, keys[victim].public().box_key, wrong)
    with pytest.raises(ProtocolError) as caught:
        dkg.receive_share(params, victim, keys[victim], commitments[cheater], bad)
    assert caught.value.culprits == (cheater,)
    complaint = dkg.complain(params, victim, keys[victim], cheater)
    # A cheater who answers with the same wrong share is disqualified and named.
    honest_answer = dkg.answer_complaint(params, secrets[cheater], keys[cheater], complaint)
    cheating_answer = replace(honest_answer, share=wrong.encode())
    from keys.hashing import TAG_DKG_ANSWER
    from keys.wire import signing_bytes

    cheating_answer = replace(cheating_answer, signature=keys[cheater].sign(TAG_DKG_ANSWER, signing_bytes(cheating_answer)))
    with pytest.raises(ProtocolError, match="dealt a bad share") as judged:
        dkg.judge_complaint(params, commitments[cheater], complaint, cheating_answer)
    assert judged.value.culprits == (cheater,)
    # Silence is also disqualifying.
    with pytest.raises(ProtocolError, match="did not answer") as silent:
        dkg.judge_complaint(params, commitments[cheater], complaint, None)
    assert silent.value.culprits == (cheater,)


def test_a_false_complaint_is_settled_by_the_published_share() -> None:
    keys, params, secrets, commitments = setup()
    complaint = dkg.complain(params, 1, keys[1], 3)
    answer = dkg.answer_complaint(params, secrets[3], keys[3], complaint)
    share = dkg.judge_complaint(params, commitments[3], complaint, answer)
    assert share == secrets[3].polynomial.evaluate(1)


def test_forged_complaint_names_the_accuser() -> None:
    keys, params, secrets, commitments = setup()
    complaint = dkg.complain(params, 1, keys[2], 3)  # signed with someone else's key
    answer = dkg.answer_complaint(params, secrets[3], keys[3], complaint)
    with pytest.raises(ProtocolError) as caught:
        dkg.judge_complaint(params, commitments[3], complaint, answer)
    assert caught.value.culprits == (1,)


def test_bad_round_one_messages_are_named() -> None:
    _keys, params, _secrets, commitments = setup()
    other = Point.base_mul(Scalar.random()).encode()
    bad_pok = replace(commitments[2], commitments=(other, *commitments[2].commitments[1:]))
    short = replace(commitments[5], commitments=commitments[5].commitments[:2])
    messages = [commitments[1], bad_pok, commitments[3], short]  # member 4 missing
    with pytest.raises(ProtocolError) as caught:
        dkg.check_commitments(params, messages)
    assert caught.value.culprits == (2, 4, 5)


def test_split_views_are_caught_by_the_transcript_echo() -> None:
    keys, params, _secrets, commitments = setup()
    honest = dkg.check_commitments(params, list(commitments.values()))
    # The server shows member 5 a different round-1 message from member 1.
    _, other_commitment = dkg.deal(params, 1)
    forked = dkg.check_commitments(params, [other_commitment, *list(commitments.values())[1:]])
    assert forked != honest
    echoes = [dkg.echo(params, i, keys[i], honest) for i in range(1, 5)] + [dkg.echo(params, 5, keys[5], forked)]
    with pytest.raises(ProtocolError) as caught:
        dkg.check_echoes(params, honest, echoes)
    assert caught.value.culprits == (5,)
    # A forged echo (signed by the wrong key) does not count either.
    forged = replace(dkg.echo(params, 2, keys[3], honest), index=2)
    with pytest.raises(ProtocolError):
        dkg.check_echoes(params, honest, [*echoes[:1], forged, *echoes[2:4], dkg.echo(params, 5, keys[5], honest)])


def test_tampered_share_box_is_refused() -> None:
    keys, params, secrets, commitments = setup()
    message = dkg.deal_shares(params, secrets[1], keys[1])[0]
    ct = bytearray(message.ciphertext)
    ct[30] ^= 1
    with pytest.raises(ProtocolError) as caught:
        dkg.receive_share(
            params, message.recipient, keys[message.recipient], commitments[1], replace(message, ciphertext=bytes(ct))
        )
    assert caught.value.culprits == (1,)


def test_finish_needs_every_dealer() -> None:
    _keys, params, secrets, commitments = setup()
    with pytest.raises(ProtocolError, match="no verified share"):
        dkg.finish(params, 1, list(commitments.values()), {1: secrets[1].polynomial.evaluate(1)})


def test_dealer_secret_round_trip_and_council_shape() -> None:
    secret = DealerSecret(3, Polynomial.random(2))
    again = DealerSecret.decode(secret.encode())
    assert again.index == 3 and again.polynomial == secret.polynomial
    with pytest.raises(EncodingError):
        DealerSecret.decode(b"\x00")
    keys = {i: AccountKeys.generate() for i in range(1, 4)}
    with pytest.raises(EncodingError, match="threshold"):
        dkg.DkgParams(v=1, epoch=1, threshold=1, participants=participants(keys))
    with pytest.raises(EncodingError, match=r"3\.\.255 members"):
        dkg.DkgParams(v=1, epoch=1, threshold=2, participants=participants({1: keys[1], 2: keys[2]}))
