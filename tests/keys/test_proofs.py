import pytest

from keys.errors import EncodingError, InvalidScalarError, ProofError
from keys.group import L, Point, Scalar
from keys.proofs import (
    BASE,
    Proof,
    SwitchProof,
    prove_dleq,
    prove_knowledge,
    prove_switch,
    verify_dleq,
    verify_knowledge,
    verify_switch,
)


def flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :]


def test_schnorr_proof_verifies_and_is_bound_to_tag_base_and_context() -> None:
    s = Scalar.random()
    pub = Point.base_mul(s)
    proof = prove_knowledge(b"pok-r", BASE, pub, s, [b"case-1"])
    verify_knowledge(b"pok-r", BASE, pub, proof, [b"case-1"])
    with pytest.raises(ProofError):
        verify_knowledge(b"pok-r", BASE, pub, proof, [b"case-2"])
    with pytest.raises(ProofError):
        verify_knowledge(b"pok-b", BASE, pub, proof, [b"case-1"])
    with pytest.raises(ProofError):
        verify_knowledge(b"pok-r", BASE, Point.base_mul(Scalar.random()), proof, [b"case-1"])


def test_schnorr_proof_with_another_base() -> None:
    base = Point.base_mul(Scalar.random())
    b = Scalar.random()
    proof = prove_knowledge(b"pok-b", base, base.mul(b), b, [b"ctx"])
    verify_knowledge(b"pok-b", base, base.mul(b), proof, [b"ctx"])
    with pytest.raises(ProofError):
        verify_knowledge(b"pok-b", BASE, base.mul(b), proof, [b"ctx"])


def test_every_byte_of_a_proof_matters() -> None:
    s = Scalar.random()
    pub = Point.base_mul(s)
    encoded = prove_knowledge(b"t", BASE, pub, s, []).encode()
    for i in range(64):
        try:
            tampered = Proof.decode(flip(encoded, i))
        except InvalidScalarError:
            continue  # the flip pushed a scalar to >= L: also refused
        with pytest.raises(ProofError):
            verify_knowledge(b"t", BASE, pub, tampered, [])


def test_proofs_with_unreduced_scalars_are_refused() -> None:
    s = Scalar.random()
    proof = prove_knowledge(b"t", BASE, Point.base_mul(s), s, [])
    malleated = proof.c.encode() + (proof.z.to_int() + L).to_bytes(33, "little")[:32]
    if (proof.z.to_int() + L) < 2**256:
        with pytest.raises(InvalidScalarError):
            Proof.decode(malleated)
    with pytest.raises(EncodingError):
        Proof.decode(b"short")


def test_hedged_nonces_differ_even_with_a_stuck_rng() -> None:
    s = Scalar.random()
    pub = Point.base_mul(s)
    stuck = lambda n: b"\x00" * n  # noqa: E731
    p1 = prove_knowledge(b"t", BASE, pub, s, [b"1"], rng=stuck)
    p2 = prove_knowledge(b"t", BASE, pub, s, [b"2"], rng=stuck)
    assert p1.z != p2.z and p1.c != p2.c  # otherwise z1 - z2 = (c1 - c2)·s would leak s


def test_dleq_verifies_and_is_bound_to_context() -> None:
    x = Scalar.random()
    share_key = Point.base_mul(x)
    base = Point.base_mul(Scalar.random())
    result = base.mul(x)
    proof = prove_dleq(x, share_key, base, result, [b"request-1", b"\x00\x01"])
    verify_dleq(share_key, base, result, proof, [b"request-1", b"\x00\x01"])
    with pytest.raises(ProofError):
        verify_dleq(share_key, base, result, proof, [b"request-2", b"\x00\x01"])
    with pytest.raises(ProofError):
        verify_dleq(share_key, base, base.mul(Scalar.random()), proof, [b"request-1", b"\x00\x01"])
    with pytest.raises(ProofError):
        verify_dleq(Point.base_mul(Scalar.random()), base, result, proof, [b"request-1", b"\x00\x01"])


def test_dleq_for_different_logs_does_not_verify() -> None:
    x, y = Scalar.random(), Scalar.random()
    base = Point.base_mul(Scalar.random())
    proof = prove_dleq(x, Point.base_mul(x), base, base.mul(y), [b"c"])
    with pytest.raises(ProofError):
        verify_dleq(Point.base_mul(x), base, base.mul(y), proof, [b"c"])


def test_switch_proof() -> None:
    x, t = Scalar.random(), Scalar.random()
    r = Point.base_mul(Scalar.random())
    y2 = Point.base_mul(Scalar.random())
    t_point, u_point = Point.base_mul(t), r.mul(x) - y2.mul(t)
    args = dict(share_key=Point.base_mul(x), header_r=r, new_key=y2, t_point=t_point, u_point=u_point)
    proof = prove_switch(x, t, **args, context=[b"c"])  # type: ignore[arg-type]
    verify_switch(proof, **args, context=[b"c"])  # type: ignore[arg-type]
    with pytest.raises(ProofError):
        verify_switch(proof, **{**args, "u_point": u_point + BASE}, context=[b"c"])  # type: ignore[arg-type]
    with pytest.raises(ProofError):
        verify_switch(proof, **args, context=[b"d"])  # type: ignore[arg-type]
    assert SwitchProof.decode(proof.encode()) == proof
