"""Known-answer vectors (provenance: tests/vectors/generate.py) plus independent cross-checks."""

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from keys import hashing
from keys.accounts import AccountKeys
from keys.council import EpochRecord
from keys.encoding import b64u_decode, lp
from keys.envelope import IntakeEnvelope, check_envelope, open_case_file, unwrap_case_key
from keys.group import L, Point, Scalar
from keys.kem import IdentityHeader, check_header, unwrap_identity_key
from keys.keystore import open_keystore
from keys.wire import from_wire
from tests.keys import reference
from tests.vectors.generate import build_vectors

VECTORS: dict[str, Any] = json.loads(Path(__file__).parents[1].joinpath("vectors", "keys-v1.json").read_text())
RFC8032_BASE = "5866666666666666666666666666666666666666666666666666666666666666"


SECTIONS = ["hash", "group", "proofs", "kem", "dkg", "attachment", "keystore", "voprf", "tokens", "reveal"]


@pytest.mark.parametrize("section", SECTIONS)
def test_code_still_produces_the_recorded_bytes(section: str) -> None:
    assert build_vectors()[section] == VECTORS[section]


def test_hash_vectors_match_an_independent_blake2b() -> None:
    v = VECTORS["hash"]
    parts = [bytes.fromhex(p) for p in v["parts_hex"]]
    framed = lp(hashing.PREFIX + v["tag"].encode()) + b"".join(lp(p) for p in parts)
    assert hashlib.blake2b(framed, digest_size=32).hexdigest() == v["kdf32"]
    wide = hashlib.blake2b(framed, digest_size=64).digest()
    assert hashlib.blake2b(framed, digest_size=64).hexdigest() == v["transcript_hash"]
    assert int.from_bytes(wide, "little") % L == int.from_bytes(bytes.fromhex(v["hash_to_scalar"]), "little")


def test_group_vectors_match_rfc8032_and_integer_arithmetic() -> None:
    v = VECTORS["group"]
    assert v["base"] == RFC8032_BASE
    g = Point.decode(bytes.fromhex(RFC8032_BASE))
    for item in v["mul"]:
        assert g.mul(Scalar.from_int(item["scalar"])).encode().hex() == item["point"]
    weights = {int(i): int.from_bytes(bytes.fromhex(w), "little") for i, w in v["lagrange_1_3_5"].items()}
    # λ_i(0) over {1,3,5}: 15/8, -5/4, 3/8 mod L
    assert weights[1] == 15 * pow(8, -1, L) % L
    assert weights[3] == -5 * pow(4, -1, L) % L
    assert weights[5] == 3 * pow(8, -1, L) % L


def test_kem_vector_decrypts_with_the_recorded_council_secret() -> None:
    v = VECTORS["kem"]
    header = from_wire(IdentityHeader, v["header"])
    case_id = bytes.fromhex(v["case_id"])
    big_r, c = check_header(header, kid=bytes.fromhex(v["kid"]), case_id=case_id)
    x = Scalar(bytes.fromhex(v["council_secret"]))
    m = c - big_r.mul(x)  # what k members jointly compute, done here with the test's own x
    assert unwrap_identity_key(case_id=case_id, wrap=header.wrap, m=m).hex() == v["identity_key"]


def test_keystore_vector_opens() -> None:
    v = VECTORS["keystore"]
    unlocked = open_keystore(bytes.fromhex(v["file"]), v["passphrase"])
    assert unlocked.payload.hex() == v["payload"]
    assert (unlocked.policy.t_cost, unlocked.policy.m_kib) == (v["t_cost"], v["m_kib"])


def test_envelope_vector_opens() -> None:
    v = VECTORS["envelope"]
    envelope = from_wire(IntakeEnvelope, v["envelope"])
    record = from_wire(EpochRecord, v["record"])
    check_envelope(envelope, record)
    member = AccountKeys(sign_seed=bytes(32), box_secret=b64u_decode(v["member_box_secret"]))
    wrap = next(w for w in envelope.wraps if w.recipient == b64u_decode(v["member_box_key"]))
    signed = open_case_file(envelope, unwrap_case_key(member, envelope.case_id, wrap))
    assert signed.body.decode() == v["case_file"] and signed.author == v["author"]


def _lagrange_at_zero(i: int, others: list[int]) -> int:
    value = 1
    for j in others:
        if j != i:
            value = value * j * pow(j - i, -1, reference.L) % reference.L
    return value


def test_reveal_and_key_switch_vectors_hold_in_integer_arithmetic() -> None:
    """Issue 18: known answers for partial decryption, combination and key switching, checked with Python
    integers and the reference curve (tests/keys/reference.py), not with keys/: every D_i is x_i·R'; k of them,
    unblinded, give the M that opens the header's wrap; the switched header opens to the same M under the new
    council's shares."""
    v = VECTORS["reveal"]
    old = {int(i): int.from_bytes(bytes.fromhex(x), "little") for i, x in v["old_shares"].items()}
    new = {int(i): int.from_bytes(bytes.fromhex(x), "little") for i, x in v["new_shares"].items()}
    blinded = reference.decode(b64u_decode(v["request"]["blinded"]))
    partials = {p["index"]: reference.decode(b64u_decode(p["point"])) for p in v["partials"]}
    for i, point in partials.items():
        assert point == reference.mul(old[i], blinded)
    b = int.from_bytes(bytes.fromhex(v["blinding"]), "little")
    subset = sorted(partials)
    total = reference.IDENTITY
    for i in subset:
        total = reference.add(total, reference.mul(_lagrange_at_zero(i, subset), partials[i]))
    c = reference.decode(b64u_decode(v["header"]["c"]))
    m = reference.add(c, reference.mul(reference.L - pow(b, -1, reference.L), total))
    case_id = bytes.fromhex(v["case_id"])
    wrap = b64u_decode(v["header"]["wrap"])
    assert unwrap_identity_key(case_id=case_id, wrap=wrap, m=Point.decode(reference.encode(m))).hex() == v["identity_key"]
    # the same M from the old council's key directly, and from the switched header under the new council's key
    x_old = sum(_lagrange_at_zero(i, [1, 2]) * old[i] for i in (1, 2)) % reference.L
    r = reference.decode(b64u_decode(v["header"]["r"]))
    assert reference.add(c, reference.mul(reference.L - x_old, r)) == m
    x_new = sum(_lagrange_at_zero(i, [2, 3]) * new[i] for i in (2, 3)) % reference.L
    r2 = reference.decode(b64u_decode(v["switched"]["r"]))
    c2 = reference.decode(b64u_decode(v["switched"]["c"]))
    assert reference.add(c2, reference.mul(reference.L - x_new, r2)) == m
    assert reference.encode(reference.mul(x_old, reference.BASE)) == b64u_decode(v["old_record"]["council_key"])
    assert reference.encode(reference.mul(x_new, reference.BASE)) == b64u_decode(v["new_record"]["council_key"])
