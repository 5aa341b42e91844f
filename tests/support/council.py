"""Real councils made by running the real DKG among simulated members, and intakes sealed to them. Its fixtures
are in tests/keys/conftest.py."""

from __future__ import annotations

from dataclasses import dataclass

from keys import dkg
from keys.accounts import AccountKeys
from keys.council import EpochRecord, Participant
from keys.envelope import IntakeEnvelope, new_case_id, seal_intake
from keys.group import Scalar


@dataclass
class Council:
    record: EpochRecord
    shares: dict[int, Scalar]
    keys: dict[int, AccountKeys]


def participants(keys: dict[int, AccountKeys]) -> tuple[Participant, ...]:
    return tuple(
        Participant(index=i, account=f"member-{i}", sign_key=k.public().sign_key, box_key=k.public().box_key)
        for i, k in sorted(keys.items())
    )


def dkg_params(keys: dict[int, AccountKeys], threshold: int, *, epoch: int = 1) -> dkg.DkgParams:
    return dkg.DkgParams(v=2, epoch=epoch, threshold=threshold, participants=participants(keys), nonce=bytes(16))


def run_dkg(threshold: int, n: int, *, epoch: int = 1) -> Council:
    keys = {i: AccountKeys.generate() for i in range(1, n + 1)}
    params = dkg_params(keys, threshold, epoch=epoch)
    secrets, commitments, enc = {}, {}, {}
    for i in keys:
        secrets[i], commitments[i], enc[i] = dkg.deal(params, i, keys[i])
    transcript, enc_keys = dkg.check_round1(params, list(commitments.values()), list(enc.values()))
    dkg.check_echoes(params, transcript, [dkg.echo(params, i, keys[i], transcript) for i in keys])
    boxed = [s for i in keys for s in dkg.deal_shares(params, secrets[i], keys[i], enc_keys)]
    results = {}
    for j in keys:
        polynomial = secrets[j].polynomial
        assert polynomial is not None
        got = {j: polynomial.evaluate(j)}
        for message in boxed:
            if message.recipient == j:
                got[message.sender] = dkg.receive_share(params, secrets[j], enc_keys[j], commitments[message.sender], message)
        results[j] = dkg.finish(params, j, list(commitments.values()), got)
    records = {r.record.digest() for r in results.values()}
    assert len(records) == 1, "every member must compute the same epoch record"
    return Council(record=results[1].record, shares={j: r.share for j, r in results.items()}, keys=keys)


def sealed_intake(council: Council, *, identity: bytes = b"identity", case_file: bytes = b"{}") -> IntakeEnvelope:
    """An intake sealed to `council` by a fresh helper."""
    return seal_intake(
        case_id=new_case_id(),
        case_file=case_file,
        identity=identity,
        record=council.record,
        author="helper",
        author_keys=AccountKeys.generate(),
        reply_secret=b"\x01" * 32,
        head_seq=0,
        head_hash=bytes(32),
    )
