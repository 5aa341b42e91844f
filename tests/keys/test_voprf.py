"""The VOPRF of keys/voprf.py (RFC 9497's protocol on edwards25519, docs/protocol.md §10.2): known answers
(provenance: tests/vectors/generate.py) checked against an independent computation (hashlib's BLAKE2b and the
integer edwards25519 of tests/keys/reference.py), round trips, wrong keys, flipped bytes, invalid points
and scalars."""

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_core_ed25519_is_valid_point, crypto_scalarmult_ed25519_noclamp

from keys import hashing, voprf
from keys.errors import CryptoError, EncodingError, InvalidPointError, InvalidScalarError, ProofError, TesseraError
from keys.group import IDENTITY_ENCODING, L, Point, Scalar
from keys.proofs import BASE, Proof
from tests.keys import reference as ref
from tests.keys.reference import INVALID_POINTS, blake2b, h2s

VECTOR: dict[str, Any] = json.loads(Path(__file__).parents[1].joinpath("vectors", "keys-v1.json").read_text())["voprf"]


def num(hex_scalar: str) -> int:
    return int.from_bytes(bytes.fromhex(hex_scalar), "little")


def pt(hex_point: str) -> ref.Affine:
    return ref.decode(bytes.fromhex(hex_point))


# --- known answers, and an independent computation of each of them ---


def test_the_tags_are_the_documented_strings() -> None:
    assert hashing.TAG_VOPRF_HASH_TO_GROUP_0 == b"voprf/hash-to-group/0"
    assert hashing.TAG_VOPRF_HASH_TO_GROUP_1 == b"voprf/hash-to-group/1"
    assert hashing.TAG_VOPRF_SEED == b"voprf/seed"
    assert hashing.TAG_VOPRF_COMPOSITE == b"voprf/composite"
    assert hashing.TAG_VOPRF_CHALLENGE == b"voprf/challenge"
    assert hashing.TAG_VOPRF_FINALIZE == b"voprf/finalize"


def test_reference_curve_agrees_with_libsodium_on_the_basics() -> None:
    """The cross-checks below are only worth something if the integer curve is right: RFC 8032's base
    point, libsodium's multiples of it, and the order L."""
    assert ref.encode(ref.BASE).hex() == "58" + "66" * 31
    assert ref.encode(ref.BASE) == BASE.encode()
    for k in (2, 3, 2**200 + 7):
        assert ref.encode(ref.mul(k, ref.BASE)) == Point.base_mul(Scalar.from_int(k)).encode()
    assert ref.mul(L, ref.BASE) == ref.IDENTITY


def test_key_vector() -> None:
    assert ref.encode(ref.mul(num(VECTOR["secret"]), ref.BASE)).hex() == VECTOR["public"]
    assert voprf.KeyPair.from_secret(Scalar(bytes.fromhex(VECTOR["secret"]))).public.encode().hex() == VECTOR["public"]


@pytest.mark.parametrize("item", VECTOR["hash_to_group"], ids=lambda i: f"input-{len(i['input']) // 2}-bytes")
def test_hash_to_group_vector(item: dict[str, str]) -> None:
    data = bytes.fromhex(item["input"])
    assert blake2b(b"voprf/hash-to-group/0", data, size=32).hex() == item["u0"]
    assert blake2b(b"voprf/hash-to-group/1", data, size=32).hex() == item["u1"]
    for u, half in ((item["u0"], item["half0"]), (item["u1"], item["half1"])):
        assert ref.encode(ref.from_uniform(bytes.fromhex(u))).hex() == half
        assert crypto_core_ed25519_is_valid_point(bytes.fromhex(half))  # in the prime-order subgroup
        assert ref.mul(L, pt(half)) == ref.IDENTITY
    assert ref.encode(ref.add(pt(item["half0"]), pt(item["half1"]))).hex() == item["point"]
    assert crypto_core_ed25519_is_valid_point(bytes.fromhex(item["point"]))
    assert voprf.hash_to_group(data).encode().hex() == item["point"]


def test_from_uniform_matches_the_documented_map_on_many_inputs() -> None:
    """libsodium's map against docs/protocol.md §10.1's description, on hash outputs and edge cases."""
    inputs = [hashlib.blake2b(i.to_bytes(4, "big"), digest_size=32).digest() for i in range(64)]
    inputs += [b"\xff" * 32, (1).to_bytes(32, "little"), (2**255 - 20).to_bytes(32, "little"), bytes(31) + b"\x7f"]
    for u in inputs:
        assert Point.from_uniform(u).encode() == ref.encode(ref.from_uniform(u))


@pytest.mark.parametrize("batch", VECTOR["batches"], ids=lambda b: f"batch-of-{len(b['inputs'])}")
def test_batch_vector_against_direct_computation(batch: dict[str, Any]) -> None:
    """Every point of the vector recomputed with the integer curve, every output as TH(finalize; x, k·H(x))
    with the key (not by unblinding), and the proof verified from the document's transcripts."""
    k, public = num(VECTOR["secret"]), pt(VECTOR["public"])
    inputs = [bytes.fromhex(x) for x in batch["inputs"]]
    c_points, d_points = [pt(c) for c in batch["blinded"]], [pt(d) for d in batch["evaluated"]]
    for x, r, c, d, out in zip(inputs, batch["blinds"], c_points, d_points, batch["outputs"], strict=True):
        hx = ref.hash_to_group(x)
        assert c == ref.mul(num(r), hx)
        assert d == ref.mul(k, c)
        assert ref.output(x, ref.mul(k, hx)).hex() == out
        # and with libsodium's multiplication called directly, outside keys/
        direct = crypto_scalarmult_ed25519_noclamp(bytes.fromhex(VECTOR["secret"]), ref.encode(hx))
        assert blake2b(b"voprf/finalize", x, direct, size=64).hex() == out
        assert voprf.evaluate(Scalar(bytes.fromhex(VECTOR["secret"])), x).hex() == out

    proof = bytes.fromhex(batch["proof"])
    challenge, s = int.from_bytes(proof[:32], "little"), int.from_bytes(proof[32:], "little")
    assert challenge < L and s < L
    seed = blake2b(b"voprf/seed", ref.encode(public), size=32)
    weights = [
        h2s(b"voprf/composite", seed, i.to_bytes(2, "big"), ref.encode(c), ref.encode(d))
        for i, (c, d) in enumerate(zip(c_points, d_points, strict=True))
    ]
    m, z = ref.IDENTITY, ref.IDENTITY
    for w, c, d in zip(weights, c_points, d_points, strict=True):
        m, z = ref.add(m, ref.mul(w, c)), ref.add(z, ref.mul(w, d))
    t2 = ref.add(ref.mul(s, ref.BASE), ref.mul(challenge, public))
    t3 = ref.add(ref.mul(s, m), ref.mul(challenge, z))
    parts = (ref.encode(public), ref.encode(m), ref.encode(z), ref.encode(t2), ref.encode(t3))
    assert h2s(b"voprf/challenge", *parts) == challenge


@pytest.mark.parametrize("batch", VECTOR["batches"], ids=lambda b: f"batch-of-{len(b['inputs'])}")
def test_batch_vector_as_received_by_a_client(batch: dict[str, Any]) -> None:
    """The client side alone, from the wire bytes: decode everything, verify the proof, finalize."""
    public = Point.decode(bytes.fromhex(VECTOR["public"]))
    blinds = [Scalar(bytes.fromhex(r)) for r in batch["blinds"]]
    blinded = [Point.decode(bytes.fromhex(c)) for c in batch["blinded"]]
    evaluated = [Point.decode(bytes.fromhex(d)) for d in batch["evaluated"]]
    inputs = [bytes.fromhex(x) for x in batch["inputs"]]
    outputs = voprf.finalize(inputs, blinds, evaluated, blinded, public, Proof.decode(bytes.fromhex(batch["proof"])))
    assert [o.hex() for o in outputs] == batch["outputs"]


# --- hash-to-group ---


def test_the_identity_is_refused_from_either_half_and_from_the_sum(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ref.from_uniform(bytes(32)) == ref.IDENTITY  # 32 zero bytes map to the identity
    with pytest.raises(CryptoError):
        Point.from_uniform(bytes(32))
    with pytest.raises(EncodingError):
        Point.from_uniform(bytes(31))
    real_kdf32 = hashing.kdf32
    u = real_kdf32(b"any", b"x")
    u_negated = u[:31] + bytes([u[31] ^ 0x80])  # bit 255 is the sign of x: the map gives −P
    assert ref.add(ref.from_uniform(u), ref.from_uniform(u_negated)) == ref.IDENTITY

    def halves(first: bytes, second: bytes) -> Any:
        def kdf32(tag: bytes, *parts: bytes) -> bytes:
            if tag == hashing.TAG_VOPRF_HASH_TO_GROUP_0:
                return first
            return second if tag == hashing.TAG_VOPRF_HASH_TO_GROUP_1 else real_kdf32(tag, *parts)

        return kdf32

    for first, second in ((bytes(32), u), (u, bytes(32)), (u, u_negated)):
        monkeypatch.setattr(voprf, "kdf32", halves(first, second))
        with pytest.raises(CryptoError):
            voprf.hash_to_group(b"x")
    monkeypatch.setattr(voprf, "kdf32", halves(u, u))
    assert voprf.hash_to_group(b"x") == Point.from_uniform(u).mul(Scalar.from_int(2))


def test_hash_to_group_gives_valid_distinct_points() -> None:
    seen = set()
    for i in range(50):
        p = voprf.hash_to_group(i.to_bytes(2, "big"))
        assert crypto_core_ed25519_is_valid_point(p.encode()) and p.encode() != IDENTITY_ENCODING
        seen.add(p)
    assert len(seen) == 50


# --- the protocol ---


def run(inputs: list[bytes], key: voprf.KeyPair) -> tuple[list[Scalar], list[Point], list[Point], Proof]:
    blinded = [voprf.blind(x) for x in inputs]
    evaluated, proof = voprf.blind_evaluate(key, [c for _, c in blinded])
    return [r for r, _ in blinded], [c for _, c in blinded], evaluated, proof


@settings(max_examples=25, deadline=None)
@given(inputs=st.lists(st.binary(max_size=80), min_size=1, max_size=5))
def test_round_trip_equals_evaluate(inputs: list[bytes]) -> None:
    key = voprf.generate_key_pair()
    blinds, blinded, evaluated, proof = run(inputs, key)
    outputs = voprf.finalize(inputs, blinds, evaluated, blinded, key.public, proof)
    assert outputs == [voprf.evaluate(key.secret, x) for x in inputs]
    assert all(len(o) == voprf.OUTPUT_SIZE for o in outputs)


def test_blinding_is_randomised() -> None:
    (_, a), (_, b) = voprf.blind(b"same"), voprf.blind(b"same")
    assert a != b


def test_a_stuck_rng_gives_different_proof_scalars_for_different_batches() -> None:
    """The hedged proof scalar: with an rng that always returns the same bytes, two batches still get
    unrelated t (else s1 - s2 = (c2 - c1)·k would give the key away)."""
    key = voprf.generate_key_pair()
    stuck = lambda size: b"\x07" * size  # noqa: E731
    _, blinded_a, evaluated_a, _ = run([b"a"], key)
    _, blinded_b, evaluated_b, _ = run([b"b"], key)
    proof_a = voprf.generate_proof(key, blinded_a, evaluated_a, rng=stuck)
    proof_b = voprf.generate_proof(key, blinded_b, evaluated_b, rng=stuck)
    voprf.verify_proof(key.public, blinded_a, evaluated_a, proof_a)
    voprf.verify_proof(key.public, blinded_b, evaluated_b, proof_b)
    # were t the same, s_a + c_a·k == s_b + c_b·k
    assert proof_a.z + proof_a.c * key.secret != proof_b.z + proof_b.c * key.secret


def test_proof_under_another_key_is_refused() -> None:
    published, other = voprf.generate_key_pair(), voprf.generate_key_pair()
    inputs = [b"a", b"b", b"c"]
    blinds, blinded, evaluated, proof = run(inputs, other)
    with pytest.raises(ProofError):
        voprf.finalize(inputs, blinds, evaluated, blinded, published.public, proof)


def test_one_point_under_another_key_is_refused() -> None:
    key, other = voprf.generate_key_pair(), voprf.generate_key_pair()
    blinded = [voprf.blind(x)[1] for x in (b"a", b"b", b"c")]
    evaluated = [blinded[0].mul(key.secret), blinded[1].mul(other.secret), blinded[2].mul(key.secret)]
    # a server that knows only its published key cannot prove the mixed batch; it tries anyway
    proof = voprf.generate_proof(key, blinded, evaluated)
    with pytest.raises(ProofError):
        voprf.verify_proof(key.public, blinded, evaluated, proof)


def test_reordered_dropped_and_foreign_batches_are_refused() -> None:
    key = voprf.generate_key_pair()
    inputs = [b"a", b"b", b"c"]
    blinds, blinded, evaluated, proof = run(inputs, key)
    with pytest.raises(ProofError):
        voprf.finalize(inputs, blinds, evaluated[::-1], blinded, key.public, proof)
    with pytest.raises(ProofError):
        voprf.verify_proof(key.public, blinded[:2], evaluated[:2], proof)
    _, _, other_evaluated, other_proof = run(inputs, key)
    with pytest.raises(ProofError):
        voprf.finalize(inputs, blinds, other_evaluated, blinded, key.public, other_proof)
    with pytest.raises(EncodingError):
        voprf.finalize(inputs, blinds, evaluated[:2], blinded, key.public, proof)
    with pytest.raises(EncodingError):
        voprf.verify_proof(key.public, blinded, evaluated[:2], proof)


def flipped(data: bytes, positions: tuple[int, ...] = ()) -> list[bytes]:
    """`data` with one bit changed at each position (default: its start, middle and end)."""
    where = positions or tuple(sorted({0, len(data) // 2, len(data) - 1}))
    return [data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :] for i in where]


def test_every_flipped_byte_of_every_message_is_refused() -> None:
    """Wire bytes of one batch of two: blinded points (to the server), evaluated points and proof (to the
    client), the public key (from the directory). Each change ends in one of our errors."""
    key = voprf.generate_key_pair()
    inputs = [b"first", b"second"]
    blinds, blinded, evaluated, proof = run(inputs, key)

    def client(evaluated_b: list[bytes], proof_b: bytes, public_b: bytes, blinded_b: list[bytes]) -> None:
        voprf.finalize(
            inputs,
            blinds,
            [Point.decode(e) for e in evaluated_b],
            [Point.decode(e) for e in blinded_b],
            Point.decode(public_b),
            Proof.decode(proof_b),
        )

    wire = {
        "evaluated": [e.encode() for e in evaluated],
        "proof": proof.encode(),
        "public": key.public.encode(),
        "blinded": [e.encode() for e in blinded],
    }
    client(wire["evaluated"], wire["proof"], wire["public"], wire["blinded"])  # untouched: accepted
    cases = 0
    for i in range(2):
        for bad in flipped(wire["evaluated"][i]):
            evaluated_b = list(wire["evaluated"])
            evaluated_b[i] = bad
            with pytest.raises(TesseraError):
                client(evaluated_b, wire["proof"], wire["public"], wire["blinded"])
            cases += 1
        for bad in flipped(wire["blinded"][i]):
            # the server evaluates what it received; the client checks against what it sent
            try:
                seen = [Point.decode(bad) if j == i else blinded[j] for j in range(2)]
            except InvalidPointError:
                cases += 1
                continue
            server_evaluated, server_proof = voprf.blind_evaluate(key, seen)
            with pytest.raises(ProofError):
                voprf.finalize(inputs, blinds, server_evaluated, blinded, key.public, server_proof)
            cases += 1
    for bad in flipped(wire["proof"], (0, 16, 31, 32, 48, 63)):  # both ends of c and of s
        with pytest.raises(TesseraError):
            client(wire["evaluated"], bad, wire["public"], wire["blinded"])
        cases += 1
    for bad in flipped(wire["public"]):
        with pytest.raises(TesseraError):
            client(wire["evaluated"], wire["proof"], bad, wire["blinded"])
        cases += 1
    assert cases == 2 * 3 * 2 + 6 + 3


@pytest.mark.parametrize("name", INVALID_POINTS)
def test_invalid_points_are_refused_when_decoded(name: str) -> None:
    with pytest.raises(InvalidPointError):
        Point.decode(INVALID_POINTS[name])


def test_invalid_scalars_are_refused() -> None:
    key = voprf.generate_key_pair()
    _, blinded, evaluated, proof = run([b"x"], key)
    c, s = proof.c.encode(), proof.z.encode()
    for unreduced in (L.to_bytes(32, "little"), (2**256 - 1).to_bytes(32, "little")):
        with pytest.raises(InvalidScalarError):
            Proof.decode(unreduced + s)
        with pytest.raises(InvalidScalarError):
            Proof.decode(c + unreduced)
    for zeroed in (Proof(c=Scalar.from_int(0), z=proof.z), Proof(c=proof.c, z=Scalar.from_int(0))):
        with pytest.raises(ProofError):
            voprf.verify_proof(key.public, blinded, evaluated, zeroed)
    with pytest.raises(EncodingError):
        Proof.decode(c + s[:31])
    with pytest.raises(InvalidScalarError):
        voprf.KeyPair.from_secret(Scalar.decode_nonzero(bytes(32)))
    with pytest.raises(CryptoError):
        voprf.KeyPair.from_secret(Scalar.from_int(0))


def test_input_and_batch_limits() -> None:
    key = voprf.generate_key_pair()
    voprf.blind(b"x" * voprf.MAX_INPUT)
    with pytest.raises(EncodingError):
        voprf.blind(b"x" * (voprf.MAX_INPUT + 1))
    with pytest.raises(EncodingError):
        voprf.evaluate(key.secret, b"x" * (voprf.MAX_INPUT + 1))
    with pytest.raises(EncodingError):
        voprf.blind("text")  # type: ignore[arg-type]
    with pytest.raises(EncodingError):
        voprf.blind_evaluate(key, [])
    with pytest.raises(EncodingError):
        voprf.verify_proof(key.public, [], [], Proof(c=Scalar.from_int(1), z=Scalar.from_int(1)))


def test_secret_key_is_not_printed() -> None:
    key = voprf.generate_key_pair()
    assert key.secret.encode().hex() not in repr(key)
