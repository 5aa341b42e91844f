from dataclasses import replace

import pytest

from keys import dkg
from keys.accounts import AccountKeys
from keys.ceremony import DealerSecret, DkgCommitment, DkgShare, box_share, complain
from keys.council import EpochRecord
from keys.encoding import b64u_encode
from keys.errors import EncodingError, ProtocolError
from keys.group import Point, Scalar
from keys.hashing import TAG_DKG_COMMITMENT, TAG_DKG_COMPLAINT, TAG_DKG_SHARE
from keys.sharing import Polynomial, lagrange_coefficients
from keys.wire import from_wire, signing_bytes, to_wire
from tests.support.council import Council, dkg_params, participants, run_dkg


def setup(k: int = 3, n: int = 5):  # type: ignore[no-untyped-def]
    keys = {i: AccountKeys.generate() for i in range(1, n + 1)}
    params = dkg_params(keys, k)
    secrets, commitments, enc = {}, {}, {}
    for i in keys:
        secrets[i], commitments[i], enc[i] = dkg.deal(params, i, keys[i])
    _transcript, enc_keys = dkg.check_round1(params, list(commitments.values()), list(enc.values()))
    return keys, params, secrets, commitments, enc_keys


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


def _share(params, secrets, keys, enc_keys, dealer: int, recipient: int, value: Scalar | None = None) -> DkgShare:  # type: ignore[no-untyped-def]
    polynomial = secrets[dealer].polynomial
    share = polynomial.evaluate(recipient) if value is None else value
    return box_share(params.sid, keys[dealer], dealer, recipient, enc_keys[recipient], share)


def test_a_bad_share_is_proven_by_a_complaint_without_any_share_published() -> None:
    keys, params, secrets, commitments, enc_keys = setup()
    cheater, victim = 2, 4
    wrong = secrets[cheater].polynomial.evaluate(victim) + Scalar.from_int(1)
    bad = _share(params, secrets, keys, enc_keys, cheater, victim, wrong)
    assert dkg.share_is_signed(params, bad)
    with pytest.raises(ProtocolError) as caught:
        dkg.receive_share(params, secrets[victim], enc_keys[victim], commitments[cheater], bad)
    assert caught.value.culprits == (cheater,)
    complaint = complain(params.sid, keys[victim], secrets[victim], bad)
    assert dkg.judge(params, complaint, commitments, enc_keys) == cheater
    # what the complaint publishes opens this one share and no other: the dealer's other shares stay sealed
    published = to_wire(complaint)
    for j in (1, 3, 5):
        assert b64u_encode(secrets[cheater].polynomial.evaluate(j).encode()) not in str(published)


def test_a_share_that_does_not_open_is_proven_too() -> None:
    keys, params, secrets, commitments, enc_keys = setup()
    share = _share(params, secrets, keys, enc_keys, 1, 3)
    ciphertext = bytearray(share.ciphertext)
    ciphertext[-1] ^= 1
    broken = replace(share, ciphertext=bytes(ciphertext), signature=bytes(64))
    broken = replace(broken, signature=keys[1].sign(TAG_DKG_SHARE, signing_bytes(broken)))  # the dealer signs garbage
    with pytest.raises(ProtocolError, match="does not open"):
        dkg.receive_share(params, secrets[3], enc_keys[3], commitments[1], broken)
    assert dkg.judge(params, complain(params.sid, keys[3], secrets[3], broken), commitments, enc_keys) == 1


def test_a_false_complaint_names_the_accuser() -> None:
    keys, params, secrets, commitments, enc_keys = setup()
    good = _share(params, secrets, keys, enc_keys, 3, 1)
    assert dkg.receive_share(params, secrets[1], enc_keys[1], commitments[3], good) == secrets[3].polynomial.evaluate(1)
    assert dkg.judge(params, complain(params.sid, keys[1], secrets[1], good), commitments, enc_keys) == 1


def test_a_complaint_that_proves_nothing_names_nobody() -> None:
    keys, params, secrets, commitments, enc_keys = setup()
    good = _share(params, secrets, keys, enc_keys, 3, 1)
    forged_signature = complain(params.sid, keys[2], secrets[1], good)  # signed with another member's key
    with pytest.raises(ProtocolError, match="proves nothing") as caught:
        dkg.judge(params, forged_signature, commitments, enc_keys)
    assert caught.value.culprits == ()
    # the relay cannot frame a dealer with a share the dealer did not sign
    unsigned = replace(good, signature=bytes(64))
    assert not dkg.share_is_signed(params, unsigned)
    framing = complain(params.sid, keys[1], secrets[1], unsigned)
    with pytest.raises(ProtocolError, match="proves nothing"):
        dkg.judge(params, framing, commitments, enc_keys)
    # nor can anyone accuse with a DH value it cannot prove
    wrong_dh = replace(complain(params.sid, keys[1], secrets[1], good), dh=Point.base_mul(Scalar.random()).encode())
    wrong_dh = replace(wrong_dh, signature=keys[1].sign(TAG_DKG_COMPLAINT, signing_bytes(wrong_dh)))
    with pytest.raises(ProtocolError, match="not proven"):
        dkg.judge(params, wrong_dh, commitments, enc_keys)


def test_a_dealer_cannot_reuse_another_dealers_ephemeral_key() -> None:
    """Else an honest complaint about the copy would publish the DH value that opens the original."""
    keys, params, secrets, commitments, enc_keys = setup()
    original = _share(params, secrets, keys, enc_keys, 3, 1)
    mine = _share(params, secrets, keys, enc_keys, 2, 1)
    copy = replace(mine, ephemeral=original.ephemeral, ephemeral_pok=original.ephemeral_pok)
    copy = replace(copy, signature=keys[2].sign(TAG_DKG_SHARE, signing_bytes(copy)))
    with pytest.raises(ProtocolError, match="does not open"):
        dkg.receive_share(params, secrets[1], enc_keys[1], commitments[2], copy)
    complaint = complain(params.sid, keys[1], secrets[1], copy)
    assert complaint.dh == bytes(32)  # no DH value published: it would open dealer 3's share
    assert dkg.judge(params, complaint, commitments, enc_keys) == 2  # the copied proof is bound to dealer 3


def _resign(keys: AccountKeys, message: DkgCommitment) -> DkgCommitment:
    return replace(message, signature=keys.sign(TAG_DKG_COMMITMENT, signing_bytes(message)))


def test_bad_round_one_messages_are_named() -> None:
    keys, params, _secrets, commitments, _enc_keys = setup()
    enc = [dkg.deal(params, i, keys[i])[2] for i in keys]
    other = Point.base_mul(Scalar.random()).encode()
    bad_pok = _resign(keys[2], replace(commitments[2], commitments=(other, *commitments[2].commitments[1:])))
    short = _resign(keys[5], replace(commitments[5], commitments=commitments[5].commitments[:2]))
    messages = [commitments[1], bad_pok, commitments[3], short]  # member 4 missing
    with pytest.raises(ProtocolError) as caught:
        dkg.check_round1(params, messages, enc)
    assert caught.value.culprits == (2, 4, 5)
    # a commitment not signed by its member is the relay's: signed_by_author tells the client to drop it
    assert not dkg.signed_by_author(params, replace(commitments[3], signature=bytes(64)))
    assert dkg.signed_by_author(params, commitments[3]) and dkg.signed_by_author(params, enc[0])


def test_split_views_are_caught_by_the_transcript_echo() -> None:
    keys, params, _secrets, commitments, _enc_keys = setup()
    enc = [dkg.deal(params, i, keys[i])[2] for i in keys]
    honest, _ = dkg.check_round1(params, list(commitments.values()), enc)
    # A member signed two round-1 messages; the server shows member 5 the other one.
    _, other_commitment, _ = dkg.deal(params, 1, keys[1])
    forked, _ = dkg.check_round1(params, [other_commitment, *list(commitments.values())[1:]], enc)
    assert forked != honest
    echoes = [dkg.echo(params, i, keys[i], honest) for i in range(1, 5)] + [dkg.echo(params, 5, keys[5], forked)]
    with pytest.raises(ProtocolError, match="different round 1") as caught:
        dkg.check_echoes(params, honest, echoes)
    assert caught.value.culprits == ()  # member 5 is not at fault: the relay showed it something else
    # A forged echo (signed by the wrong key) does not count: member 2's echo is then still missing.
    forged = replace(dkg.echo(params, 2, keys[3], honest), index=2)
    with pytest.raises(ProtocolError, match=r"no signed echo yet from member\(s\) \[2\]"):
        dkg.check_echoes(params, honest, [*echoes[:1], forged, *echoes[2:4], dkg.echo(params, 5, keys[5], honest)])


def test_a_tampered_share_no_longer_carries_its_dealers_signature() -> None:
    keys, params, secrets, _commitments, enc_keys = setup()
    message = dkg.deal_shares(params, secrets[1], keys[1], enc_keys)[0]
    assert dkg.share_is_signed(params, message)
    for name in ("ciphertext", "ephemeral", "ephemeral_pok", "sid"):
        value = bytearray(getattr(message, name))
        value[3] ^= 1
        assert not dkg.share_is_signed(params, replace(message, **{name: bytes(value)}))
    assert not dkg.share_is_signed(params, replace(message, recipient=message.recipient + 1))


def test_finish_needs_every_dealer() -> None:
    _keys, params, secrets, commitments, _enc_keys = setup()
    with pytest.raises(ProtocolError, match="no verified share"):
        dkg.finish(params, 1, list(commitments.values()), {1: secrets[1].polynomial.evaluate(1)})


def test_dealer_secret_round_trip_and_council_shape() -> None:
    secret = DealerSecret(3, Polynomial.random(2), Scalar.random())
    again = DealerSecret.decode(secret.encode())
    assert again.index == 3 and again.polynomial == secret.polynomial and again.key == secret.key
    recipient = DealerSecret(4, None, Scalar.random())
    assert DealerSecret.decode(recipient.encode()).polynomial is None
    with pytest.raises(EncodingError):
        DealerSecret.decode(b"\x00")
    keys = {i: AccountKeys.generate() for i in range(1, 4)}
    with pytest.raises(EncodingError, match="threshold"):
        dkg.DkgParams(v=2, epoch=1, threshold=1, participants=participants(keys), nonce=bytes(16))
    with pytest.raises(EncodingError, match=r"3\.\.255 members"):
        dkg.DkgParams(v=2, epoch=1, threshold=2, participants=participants({1: keys[1], 2: keys[2]}), nonce=bytes(16))
    with pytest.raises(EncodingError, match="nonce"):
        dkg.DkgParams(v=2, epoch=1, threshold=2, participants=participants(keys), nonce=bytes(8))
    # the nonce makes two ceremonies of the same council two sessions
    assert dkg_params(keys, 2).sid != replace(dkg_params(keys, 2), nonce=b"\x01" * 16).sid
