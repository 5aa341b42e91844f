from dataclasses import replace

import pytest

from keys.attestation import HeaderAttestation, MerkleTree, check_attested_header, sign_attestation, verify_inclusion
from keys.encoding import u16
from keys.envelope import IntakeEnvelope, open_case_file, open_identity, unwrap_case_key
from keys.errors import DecryptionError, ProofError, QuorumError
from keys.group import Point, Scalar
from keys.hashing import TAG_APPROVE
from keys.keyswitch import SwitchedHeader, combine_switch, contribute_switch, switch_context, verify_contribution
from keys.proofs import prove_dleq
from keys.reveal import AttestedHeader, PartialDecryption, RevealRequest, approve_reveal, combine_reveal, request_reveal
from keys.wire import signing_bytes
from tests.support.council import Council, run_dkg, sealed_intake

NOW = 1_800_000_000


def intake(council: Council, identity: bytes) -> IntakeEnvelope:
    return sealed_intake(council, identity=identity)


@pytest.fixture(scope="module")
def rekeyed() -> tuple[Council, Council, list[IntakeEnvelope], list[SwitchedHeader], HeaderAttestation, MerkleTree]:
    old, new = run_dkg(3, 5), run_dkg(3, 4, epoch=2)
    envs = [intake(old, f"identity {i}".encode()) for i in range(5)]
    swctx = switch_context(old.record, new.record)
    switched = []
    for env in envs:
        contributions = [
            contribute_switch(
                old=old.record, new=new.record, index=i, share=old.shares[i], case_id=env.case_id, header=env.header, swctx=swctx
            )
            for i in (1, 2, 4, 5)
        ]
        switched.append(
            combine_switch(contributions, old=old.record, new=new.record, case_id=env.case_id, header=env.header, swctx=swctx)
        )
    tree = MerkleTree([h.leaf(e.case_id) for h, e in zip(switched, envs, strict=True)])
    sigs = tuple(sign_attestation(new.record, tree.root, tree.size, new.keys[i]) for i in (1, 2, 3))
    attestation = HeaderAttestation(v=1, epoch=new.record.epoch, root=tree.root, size=tree.size, signatures=sigs)
    return old, new, envs, switched, attestation, tree


def reveal(council: Council, env: IntakeEnvelope, header: AttestedHeader, members: tuple[int, ...]) -> bytes:
    request, blinding = request_reveal(
        record=council.record,
        header=header.header,
        case_id=env.case_id,
        keys=council.keys[members[0]],
        purpose="p",
        case_key=b"k" * 32,
        expiry=NOW + 60,
    )
    partials = [
        approve_reveal(
            request, record=council.record, header=header, index=i, share=council.shares[i], keys=council.keys[i], now=NOW
        )
        for i in members
    ]
    return combine_reveal(request, blinding, partials, record=council.record, header=header.header)


def test_new_council_reads_every_switched_identity(rekeyed) -> None:  # type: ignore[no-untyped-def]
    old, new, envs, switched, attestation, tree = rekeyed
    for n, (env, header) in enumerate(zip(envs, switched, strict=True)):
        attested = AttestedHeader(header=header, attestation=attestation, leaf_index=n, path=tree.proof(n))
        identity_key = reveal(new, env, attested, (2, 3, 4))
        keys = old.keys[1]
        wrap = next(w for w in env.wraps if w.recipient == keys.public().box_key)
        signed = open_case_file(env, unwrap_case_key(keys, env.case_id, wrap))
        assert open_identity(env, identity_key, signed) == f"identity {n}".encode()


def forced_partial(council: Council, request: RevealRequest, index: int) -> PartialDecryption:
    """A partial made without approve_reveal's checks (what a careless or coerced member could send)."""
    blinded = Point.decode(request.blinded)
    point = blinded.mul(council.shares[index])
    proof = prove_dleq(
        council.shares[index], council.record.share_key(index), blinded, point, [request.context(council.record), u16(index)]
    )
    partial = PartialDecryption(
        v=1, request_id=request.request_id, index=index, point=point.encode(), proof=proof.encode(), signature=bytes(64)
    )
    return replace(partial, signature=council.keys[index].sign(TAG_APPROVE, signing_bytes(partial)))


def test_old_shares_fail_on_every_switched_header(rekeyed) -> None:  # type: ignore[no-untyped-def]
    old, _new, envs, switched, attestation, tree = rekeyed
    for n, (env, header) in enumerate(zip(envs, switched, strict=True)):
        request, blinding = request_reveal(
            record=old.record,
            header=header,
            case_id=env.case_id,
            keys=old.keys[1],
            purpose="p",
            case_key=b"k" * 32,
            expiry=NOW + 60,
        )
        attested = AttestedHeader(header=header, attestation=attestation, leaf_index=n, path=tree.proof(n))
        with pytest.raises(ProofError):  # an old member's client refuses: not attested by its council
            approve_reveal(request, record=old.record, header=attested, index=1, share=old.shares[1], keys=old.keys[1], now=NOW)
        partials = [forced_partial(old, request, i) for i in (1, 2, 3)]
        with pytest.raises(DecryptionError):  # and forced partials give a wrong M
            combine_reveal(request, blinding, partials, record=old.record, header=header)


def test_nobody_learns_m_contributions_are_masked(rekeyed) -> None:  # type: ignore[no-untyped-def]
    old, new, envs, switched, _a, _t = rekeyed
    env = envs[0]
    c1 = contribute_switch(old=old.record, new=new.record, index=1, share=old.shares[1], case_id=env.case_id, header=env.header)
    x1_r = Point.decode(env.header.r).mul(old.shares[1])
    assert c1.u_point != x1_r.encode()  # U_i = x_i·R − t_i·Y2 is not the partial decryption x_i·R
    assert switched[0].wrap == env.header.wrap  # the wrap (and the identity ciphertext) do not change
    assert switched[0].r != env.header.r and switched[0].c != env.header.c


def test_bad_contributions_are_refused_and_k_good_ones_are_needed(rekeyed) -> None:  # type: ignore[no-untyped-def]
    old, new, envs, _s, _a, _t = rekeyed
    env = envs[1]
    good = [
        contribute_switch(old=old.record, new=new.record, index=i, share=old.shares[i], case_id=env.case_id, header=env.header)
        for i in (1, 2, 3)
    ]
    bad = replace(good[0], u_point=Point.base_mul(Scalar.random()).encode())
    with pytest.raises(ProofError, match="member 1"):
        verify_contribution(bad, old=old.record, new=new.record, header=env.header)
    with pytest.raises(QuorumError):
        combine_switch([bad, *good[1:]], old=old.record, new=new.record, case_id=env.case_id, header=env.header)
    wrong_share = contribute_switch(
        old=old.record, new=new.record, index=2, share=old.shares[3], case_id=env.case_id, header=env.header
    )
    with pytest.raises(ProofError):
        verify_contribution(wrong_share, old=old.record, new=new.record, header=env.header)
    other = envs[2]
    with pytest.raises(ProofError):
        verify_contribution(replace(good[0], case_id=other.case_id), old=old.record, new=new.record, header=other.header)


def test_attestation_needs_k_signatures_and_inclusion(rekeyed) -> None:  # type: ignore[no-untyped-def]
    old, new, envs, switched, attestation, tree = rekeyed
    check_attested_header(
        switched[0], case_id=envs[0].case_id, record=new.record, attestation=attestation, index=0, path=tree.proof(0)
    )
    weak = replace(attestation, signatures=attestation.signatures[:2])
    with pytest.raises(ProofError, match="2 member"):
        check_attested_header(
            switched[0], case_id=envs[0].case_id, record=new.record, attestation=weak, index=0, path=tree.proof(0)
        )
    with pytest.raises(ProofError, match="not included"):
        check_attested_header(
            switched[1], case_id=envs[0].case_id, record=new.record, attestation=attestation, index=0, path=tree.proof(0)
        )
    with pytest.raises(ProofError, match="another council epoch"):
        check_attested_header(
            switched[0], case_id=envs[0].case_id, record=old.record, attestation=attestation, index=0, path=tree.proof(0)
        )


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_merkle_inclusion_for_every_leaf(size: int) -> None:
    leaves = [bytes([i]) * 8 for i in range(size)]
    tree = MerkleTree(leaves)
    for i, leaf in enumerate(leaves):
        assert verify_inclusion(leaf, i, size, tree.proof(i), tree.root)
        assert not verify_inclusion(leaf + b"x", i, size, tree.proof(i), tree.root)
        if size > 1:
            assert not verify_inclusion(leaf, (i + 1) % size, size, tree.proof(i), tree.root)
