"""The VOPRF of RFC 9497 over ristretto255: the RFC's own vectors (provenance in the JSON file), RFC 9496's
group vectors, round trips, wrong keys, flipped bytes, invalid elements and scalars."""

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys import voprf
from keys.errors import CryptoError, EncodingError, InvalidPointError, InvalidScalarError, ProofError, TesseraError
from keys.group import L, Scalar
from keys.proofs import Proof
from keys.ristretto import GENERATOR, Element, expand_message_xmd, self_test, sha512

VECTORS: dict[str, Any] = json.loads(
    Path(__file__).parents[1].joinpath("vectors", "rfc9497-voprf-ristretto255.json").read_text(encoding="utf-8")
)
RFC9497 = VECTORS["voprf"]
RFC9496 = VECTORS["ristretto255"]


def pinned_rng(*scalars_hex: str) -> Callable[[int], bytes]:
    """An rng that makes Scalar.random return exactly these scalars, in order: each is < L, so the 64-byte
    reduction of the scalar followed by 32 zero bytes is the scalar itself."""
    queue = [bytes.fromhex(s) + bytes(32) for s in scalars_hex]

    def rng(size: int) -> bytes:
        assert size == 64, "only Scalar.random may draw from the pinned rng"
        return queue.pop(0)

    return rng


def rfc_key() -> voprf.KeyPair:
    key = RFC9497["key"]
    return voprf.derive_key_pair(bytes.fromhex(key["Seed"]), bytes.fromhex(key["KeyInfo"]))


def test_self_test_passes() -> None:
    self_test()


def test_self_test_fails_closed_on_a_lax_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    import pysodium

    from keys.errors import SelfTestError

    monkeypatch.setattr(pysodium, "crypto_core_ristretto255_is_valid_point", lambda encoding: True)
    with pytest.raises(SelfTestError):
        self_test()


def test_context_string_is_the_rfcs() -> None:
    assert voprf.CONTEXT_STRING == b"OPRFV1-\x01-ristretto255-SHA512"
    assert RFC9497["suite"] == "ristretto255-SHA512" and RFC9497["mode"] == voprf.MODE_VOPRF


def test_rfc9497_derive_key_pair() -> None:
    key = rfc_key()
    assert key.secret.encode().hex() == RFC9497["key"]["skSm"]
    assert key.public.encode().hex() == RFC9497["key"]["pkSm"]


@pytest.mark.parametrize("vector", RFC9497["vectors"], ids=lambda v: v["name"])
def test_rfc9497_vector(vector: dict[str, Any]) -> None:
    key = rfc_key()
    inputs = [bytes.fromhex(x) for x in vector["Input"]]
    rng = pinned_rng(*vector["Blind"], vector["ProofRandomScalar"])
    blinded = [voprf.blind(x, rng=rng) for x in inputs]
    assert [r.encode().hex() for r, _ in blinded] == vector["Blind"]
    assert [e.encode().hex() for _, e in blinded] == vector["BlindedElement"]
    evaluated, proof = voprf.blind_evaluate(key, [e for _, e in blinded], rng=rng)
    assert [e.encode().hex() for e in evaluated] == vector["EvaluationElement"]
    assert proof.encode().hex() == vector["Proof"]
    outputs = voprf.finalize(inputs, [r for r, _ in blinded], evaluated, [e for _, e in blinded], key.public, proof)
    assert [o.hex() for o in outputs] == vector["Output"]
    assert [voprf.evaluate(key.secret, x).hex() for x in inputs] == vector["Output"]


@pytest.mark.parametrize("vector", RFC9497["vectors"], ids=lambda v: v["name"])
def test_rfc9497_vector_as_received_by_a_client(vector: dict[str, Any]) -> None:
    """The client side alone, from the wire bytes: decode everything, verify the RFC's proof, finalize."""
    public = Element.decode(bytes.fromhex(RFC9497["key"]["pkSm"]))
    blinds = [Scalar(bytes.fromhex(b)) for b in vector["Blind"]]
    blinded = [Element.decode(bytes.fromhex(e)) for e in vector["BlindedElement"]]
    evaluated = [Element.decode(bytes.fromhex(e)) for e in vector["EvaluationElement"]]
    proof = Proof.decode(bytes.fromhex(vector["Proof"]))
    inputs = [bytes.fromhex(x) for x in vector["Input"]]
    assert [o.hex() for o in voprf.finalize(inputs, blinds, evaluated, blinded, public, proof)] == vector["Output"]


def test_rfc9496_multiples_of_the_generator() -> None:
    multiples = RFC9496["multiples"]
    assert multiples[0] == "00" * 32
    assert GENERATOR.encode().hex() == multiples[1]
    total = GENERATOR
    for k, expected in enumerate(multiples[1:], start=1):
        assert Element.base_mul(Scalar.from_int(k)).encode().hex() == expected
        assert GENERATOR.mul(Scalar.from_int(k)).encode().hex() == expected
        assert Element.decode(bytes.fromhex(expected)).encode().hex() == expected
        if k > 1:
            total = total + GENERATOR
            assert total.encode().hex() == expected
    with pytest.raises(CryptoError):
        Element.base_mul(Scalar.from_int(0))


@pytest.mark.parametrize("case", RFC9496["invalid"], ids=lambda c: f"{c['reason']}:{c['encoding'][:8]}")
def test_rfc9496_invalid_encodings_are_refused(case: dict[str, str]) -> None:
    with pytest.raises(InvalidPointError):
        Element.decode(bytes.fromhex(case["encoding"]))


def test_rfc9496_one_way_map() -> None:
    for item in RFC9496["from_uniform"]:
        uniform = hashlib.sha512(item["label"].encode()).digest()
        assert Element.from_uniform(uniform).encode().hex() == item["element"]


def test_identity_wrong_lengths_and_top_bit_are_refused() -> None:
    for bad in (bytes(32), bytes(31), GENERATOR.encode() + b"\x00", b"", "e2" * 32):
        with pytest.raises(InvalidPointError):
            Element.decode(bad)  # type: ignore[arg-type]
    top = bytearray(GENERATOR.encode())
    top[31] |= 0x80
    with pytest.raises(InvalidPointError):
        Element.decode(bytes(top))
    with pytest.raises(CryptoError):
        GENERATOR - GENERATOR  # the identity is never a result
    with pytest.raises(EncodingError):
        Element.from_uniform(bytes(63))


def test_sha512_and_expand_message_xmd_match_an_independent_implementation() -> None:
    def xmd(msg: bytes, dst: bytes, size: int) -> bytes:  # RFC 9380 §5.3.1 over hashlib
        dst_prime = dst + bytes([len(dst)])
        b0 = hashlib.sha512(bytes(128) + msg + size.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
        blocks = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
        for i in range(2, -(-size // 64) + 1):
            mixed = bytes(x ^ y for x, y in zip(b0, blocks[-1], strict=True))
            blocks.append(hashlib.sha512(mixed + bytes([i]) + dst_prime).digest())
        return b"".join(blocks)[:size]

    assert sha512(b"abc") == hashlib.sha512(b"abc").digest()
    for size in (1, 32, 64, 65, 200):
        assert expand_message_xmd(b"message", b"DST-test", size) == xmd(b"message", b"DST-test", size)
    with pytest.raises(EncodingError):
        expand_message_xmd(b"m", b"x" * 256, 64)
    with pytest.raises(EncodingError):
        expand_message_xmd(b"m", b"", 64)
    with pytest.raises(EncodingError):
        expand_message_xmd(b"m", b"d", 0)


def run(inputs: list[bytes], key: voprf.KeyPair) -> tuple[list[Scalar], list[Element], list[Element], Proof]:
    blinded = [voprf.blind(x) for x in inputs]
    evaluated, proof = voprf.blind_evaluate(key, [e for _, e in blinded])
    return [r for r, _ in blinded], [e for _, e in blinded], evaluated, proof


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


def test_proof_under_another_key_is_refused() -> None:
    published, other = voprf.generate_key_pair(), voprf.generate_key_pair()
    inputs = [b"a", b"b", b"c"]
    blinds, blinded, evaluated, proof = run(inputs, other)
    with pytest.raises(ProofError):
        voprf.finalize(inputs, blinds, evaluated, blinded, published.public, proof)


def test_one_element_under_another_key_is_refused() -> None:
    key, other = voprf.generate_key_pair(), voprf.generate_key_pair()
    blinded = [voprf.blind(x)[1] for x in (b"a", b"b", b"c")]
    evaluated = [blinded[0].mul(key.secret), blinded[1].mul(other.secret), blinded[2].mul(key.secret)]
    # a server that knows only its published key cannot prove the mixed batch; it tries anyway
    proof = voprf.generate_proof(key.secret, GENERATOR, key.public, blinded, evaluated)
    with pytest.raises(ProofError):
        voprf.verify_proof(GENERATOR, key.public, blinded, evaluated, proof)


def test_reordered_dropped_and_foreign_batches_are_refused() -> None:
    key = voprf.generate_key_pair()
    inputs = [b"a", b"b", b"c"]
    blinds, blinded, evaluated, proof = run(inputs, key)
    with pytest.raises(ProofError):
        voprf.finalize(inputs, blinds, evaluated[::-1], blinded, key.public, proof)
    with pytest.raises(ProofError):
        voprf.verify_proof(GENERATOR, key.public, blinded[:2], evaluated[:2], proof)
    _, _, other_evaluated, other_proof = run(inputs, key)
    with pytest.raises(ProofError):
        voprf.finalize(inputs, blinds, other_evaluated, blinded, key.public, other_proof)
    with pytest.raises(EncodingError):
        voprf.finalize(inputs, blinds, evaluated[:2], blinded, key.public, proof)
    with pytest.raises(EncodingError):
        voprf.verify_proof(GENERATOR, key.public, blinded, evaluated[:2], proof)


def flipped(data: bytes, positions: tuple[int, ...] = ()) -> list[bytes]:
    """`data` with one bit changed at each position (default: its start, middle and end)."""
    where = positions or tuple(sorted({0, len(data) // 2, len(data) - 1}))
    return [data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :] for i in where]


def test_every_flipped_byte_of_every_message_is_refused() -> None:
    """Wire bytes of one batch of two: blinded elements (to the server), evaluated elements and proof (to
    the client), the public key (from the directory). Each change ends in one of our errors."""
    key = voprf.generate_key_pair()
    inputs = [b"first", b"second"]
    blinds, blinded, evaluated, proof = run(inputs, key)

    def client(evaluated_b: list[bytes], proof_b: bytes, public_b: bytes, blinded_b: list[bytes]) -> None:
        voprf.finalize(
            inputs,
            blinds,
            [Element.decode(e) for e in evaluated_b],
            [Element.decode(e) for e in blinded_b],
            Element.decode(public_b),
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
                seen = [Element.decode(bad) if j == i else blinded[j] for j in range(2)]
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


def test_invalid_scalars_are_refused() -> None:
    key = voprf.generate_key_pair()
    _, blinded, evaluated, proof = run([b"x"], key)
    c, s = proof.c.encode(), proof.z.encode()
    for unreduced in (L.to_bytes(32, "little"), (2**256 - 1).to_bytes(32, "little")):
        with pytest.raises(InvalidScalarError):
            Proof.decode(unreduced + s)
        with pytest.raises(InvalidScalarError):
            Proof.decode(c + unreduced)
        with pytest.raises(InvalidScalarError):
            Scalar(unreduced)
    for zeroed in (Proof(c=Scalar.from_int(0), z=proof.z), Proof(c=proof.c, z=Scalar.from_int(0))):
        with pytest.raises(ProofError):
            voprf.verify_proof(GENERATOR, key.public, blinded, evaluated, zeroed)
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
        voprf.derive_key_pair(bytes(31), b"")
    with pytest.raises(EncodingError):
        voprf.derive_key_pair(bytes(32), b"i" * (voprf.MAX_INPUT + 1))


def test_secret_key_is_not_printed() -> None:
    key = voprf.generate_key_pair()
    assert key.secret.encode().hex() not in repr(key)
