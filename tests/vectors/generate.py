"""Known-answer vectors for `keys/`, produced with pinned randomness.

Provenance: every random byte comes from libsodium's `randombytes_buf_deterministic` (ChaCha20 keyed by
BLAKE2b-256("tessera-vectors" ‖ label ‖ counter)), so the same code gives the same bytes on any machine.
Run `make vectors` (this script) to rewrite `keys-v1.json` after a deliberate format change; the test
`tests/keys/test_vectors.py` fails whenever the code stops producing exactly these bytes, and it checks
the hash vectors against Python's own BLAKE2b (hashlib, an independent implementation) and the group
vectors against RFC 8032's base point.

The "voprf" and "tokens" sections (docs/protocol.md §10) come from the same pinned randomness, which fixes the
key, the nonces, the blinds and the fresh half of the proof's hedged scalar. `tests/keys/test_voprf.py` and
`tests/keys/test_tokens.py` check them against an independent computation: hashlib's BLAKE2b for every hash,
and a slow edwards25519 in Python integers (`tests/keys/reference.py`) for hash-to-group, every
multiplication and the proof's verification.

Formats whose randomness libsodium draws internally (crypto_box_seal wraps, crypto_box shares) get
decryption-only vectors: ciphertext, key and expected plaintext.

Added for issues 18 and 25 (existing sections unchanged): `decisions` (a version-2 proposal, its digest and a
version-2 vote), `receipt` (the server's signed intake receipt), `attachment_list` (the helper's signed list)
and `envelope_v3` (decryption-only, like `envelope`: a version-3 case file listing its intake attachments;
`envelope` stays the version-2 one, which clients still read); `reveal` (issue 18: a pinned 2-of-3 council and
its successor, an identity header, a blinded reveal request, two partial decryptions with their DLEQ proofs, and
two key-switch contributions with the switched header they combine to), checked in `tests/keys/test_vectors.py`
with Python integers and the reference curve, not with keys/.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.bindings import crypto_generichash_blake2b_salt_personal, randombytes_buf_deterministic

from keys import hashing, tokens, voprf
from keys.accounts import AccountKeys
from keys.attachments import CHUNK, new_descriptor, seal_stream, sign_attachment_list
from keys.council import EpochRecord, Participant
from keys.decisions import proposal_digest, propose, vote
from keys.dkg import DkgParams, check_round1, deal, finish
from keys.encoding import b64u_encode
from keys.envelope import seal_intake
from keys.group import Point, Scalar
from keys.kem import encapsulate
from keys.keystore import KeystorePolicy, seal_keystore
from keys.keyswitch import combine_verified, contribute_switch, switch_context, verify_contribution
from keys.proofs import BASE, prove_dleq, prove_knowledge
from keys.receipts import envelope_digest, sign_receipt
from keys.reveal import approve_reveal, combine_reveal, request_reveal
from keys.sharing import lagrange_coefficients
from keys.wire import to_wire

OUT = Path(__file__).with_name("keys-v1.json")


class PinnedRng:
    def __init__(self, label: str) -> None:
        self.label = label.encode()
        self.counter = 0

    def __call__(self, size: int) -> bytes:
        self.counter += 1
        seed = crypto_generichash_blake2b_salt_personal(
            b"tessera-vectors" + self.label + self.counter.to_bytes(4, "big"), digest_size=32
        )
        return randombytes_buf_deterministic(size, seed)


def h(data: bytes) -> str:
    return data.hex()


@dataclass
class PinnedCouncil:
    record: EpochRecord
    shares: dict[int, Scalar]
    keys: dict[int, AccountKeys]


def pinned_council(rng: PinnedRng, *, epoch: int) -> PinnedCouncil:
    """A 2-of-3 council from a DKG run with pinned randomness (the share boxes are left out: the arithmetic is
    what these vectors pin)."""
    keys = {i: AccountKeys(sign_seed=rng(32), box_secret=rng(32)) for i in (1, 2, 3)}
    params = DkgParams(
        v=2,
        epoch=epoch,
        threshold=2,
        participants=tuple(
            Participant(index=i, account=f"m{i}", sign_key=k.public().sign_key, box_key=k.public().box_key)
            for i, k in keys.items()
        ),
        nonce=rng(16),
    )
    dealt = {i: deal(params, i, keys[i], rng=rng) for i in keys}
    commitments = [c for _, c, _ in dealt.values()]
    results = {}
    for j in keys:
        shares = {i: secret.polynomial.evaluate(j) for i, (secret, _, _) in dealt.items() if secret.polynomial is not None}
        results[j] = finish(params, j, commitments, shares)
    return PinnedCouncil(results[1].record, {j: r.share for j, r in results.items()}, keys)


def build_vectors() -> dict[str, Any]:
    v: dict[str, Any] = {}
    parts = [b"", b"a", bytes(range(40))]
    v["hash"] = {
        "tag": "pok-r",
        "parts_hex": [h(p) for p in parts],
        "kdf32": h(hashing.kdf32(hashing.TAG_POK_R, *parts)),
        "transcript_hash": h(hashing.transcript_hash(hashing.TAG_POK_R, *parts)),
        "hash_to_scalar": h(hashing.hash_to_scalar_bytes(hashing.TAG_POK_R, *parts)),
    }
    v["group"] = {
        "base": h(BASE.encode()),
        "mul": [{"scalar": n, "point": h(Point.base_mul(Scalar.from_int(n)).encode())} for n in (1, 2, 7, 2**200 + 3)],
        "lagrange_1_3_5": {str(i): h(s.encode()) for i, s in lagrange_coefficients([1, 3, 5]).items()},
    }
    rng = PinnedRng("proofs")
    x = Scalar.random(rng)
    y = Point.base_mul(x)
    base = Point.base_mul(Scalar.random(rng))
    pok = prove_knowledge(hashing.TAG_POK_R, BASE, y, x, [b"context"], rng=rng)
    dleq = prove_dleq(x, y, base, base.mul(x), [b"request-context", b"\x00\x02"], rng=rng)
    v["proofs"] = {
        "secret": h(x.encode()),
        "public": h(y.encode()),
        "base": h(base.encode()),
        "schnorr_context": h(b"context"),
        "schnorr": h(pok.encode()),
        "dleq_context": [h(b"request-context"), h(b"\x00\x02")],
        "dleq": h(dleq.encode()),
    }
    rng = PinnedRng("kem")
    council_secret = Scalar.random(rng)
    council_key = Point.base_mul(council_secret)
    kid = hashing.kdf32(hashing.TAG_CTX_KEY, council_key.encode())
    case_id, identity_key = rng(16), rng(32)
    header = encapsulate(council_key=council_key, kid=kid, case_id=case_id, identity_key=identity_key, rng=rng)
    v["kem"] = {
        "council_secret": h(council_secret.encode()),
        "kid": h(kid),
        "case_id": h(case_id),
        "identity_key": h(identity_key),
        "header": to_wire(header),
    }
    rng = PinnedRng("dkg")
    members = {i: AccountKeys(sign_seed=rng(32), box_secret=rng(32)) for i in (1, 2, 3)}
    params = DkgParams(
        v=2,
        epoch=1,
        threshold=2,
        participants=tuple(
            Participant(index=i, account=f"m{i}", sign_key=k.public().sign_key, box_key=k.public().box_key)
            for i, k in members.items()
        ),
        nonce=rng(16),
    )
    dealt = [deal(params, i, members[i], rng=rng) for i in members]
    round1 = [d[1] for d in dealt]
    keys = [d[2] for d in dealt]
    v["dkg"] = {
        "seeds": {str(i): [h(k.sign_seed), h(k.box_secret)] for i, k in members.items()},
        "nonce": h(params.nonce),
        "sid": h(params.sid),
        "round1": [to_wire(m) for m in round1],
        "keys": [to_wire(k) for k in keys],
        "transcript": h(check_round1(params, round1, keys)[0]),
    }
    rng = PinnedRng("attachment")
    reply = AccountKeys(sign_seed=rng(32), box_secret=rng(32))
    streams = []
    for size in (5, CHUNK + 1):
        content = rng(size)
        descriptor = new_descriptor(
            case_id=bytes(range(16)),
            kind="case",
            name="bill.pdf",
            media_type="application/pdf",
            size=size,
            removed=(),
            reply=reply,
            rng=rng,
        )
        chunks = list(seal_stream(io.BytesIO(content), descriptor))
        streams.append(
            {
                "descriptor": to_wire(descriptor),
                "content_blake2b": hashlib.blake2b(content).hexdigest(),
                "chunks_blake2b": [hashlib.blake2b(c).hexdigest() for c in chunks],
                "first_chunk_head": h(chunks[0][:64]),
            }
        )
    v["attachment"] = {"reply_sign_key": h(reply.public().sign_key), "streams": streams}
    rng = PinnedRng("decisions")
    proposer, voter = AccountKeys(sign_seed=rng(32), box_secret=rng(32)), AccountKeys(sign_seed=rng(32), box_secret=rng(32))
    case_id, case_key, head = rng(16), rng(32), rng(32)
    proposal = propose(
        case_id=case_id,
        case_key=case_key,
        action="approve",
        note="800 USD for the operation",
        epoch=3,
        needed=2,
        head_seq=41,
        head_hash=head,
        keys=proposer,
        rng=rng,
    )
    ballot = vote(proposal=proposal, approve=True, head_seq=42, head_hash=head, keys=voter)
    v["decisions"] = {
        "proposer_seed": h(proposer.sign_seed),
        "voter_seed": h(voter.sign_seed),
        "case_key": h(case_key),
        "note": "800 USD for the operation",
        "proposal": to_wire(proposal),
        "proposal_digest": h(proposal_digest(proposal)),
        "vote": to_wire(ballot),
    }
    rng = PinnedRng("receipt")
    server = AccountKeys(sign_seed=rng(32), box_secret=rng(32))
    envelope_json = b'{"case_id":"AAECAwQFBgcICQoLDA0ODw","v":1}'
    receipt = sign_receipt(case_id=bytes(range(16)), envelope_digest=envelope_digest(envelope_json), day=20_500, server=server)
    v["receipt"] = {
        "server_sign_key": h(server.public().sign_key),
        "envelope_json": envelope_json.decode(),
        "receipt": to_wire(receipt),
    }
    rng = PinnedRng("attachment-list")
    reply = AccountKeys(sign_seed=rng(32), box_secret=rng(32))
    listing = sign_attachment_list(case_id=bytes(range(16)), serial=2, attachment_ids=[rng(16), rng(16)], reply=reply)
    v["attachment_list"] = {"reply_sign_key": h(reply.public().sign_key), "list": to_wire(listing)}
    rng = PinnedRng("keystore")
    v["keystore"] = {
        "passphrase": "한국어 passphrase ünïcode",
        "t_cost": 1,
        "m_kib": 8192,
        "payload": h(b'{"seed":"..."}'),
        "file": h(seal_keystore(b'{"seed":"..."}', "한국어 passphrase ünïcode", KeystorePolicy(1, 8192), rng=rng)),
    }
    v["voprf"] = build_voprf_vector()
    v["tokens"] = build_tokens_vector()
    # Reveal and re-key (issue 18: known answers for partial decryption, combination and key switching).
    rng = PinnedRng("reveal")
    old = pinned_council(rng, epoch=1)
    new = pinned_council(rng, epoch=2)
    case_id = rng(16)
    identity_key = rng(32)
    header = encapsulate(council_key=old.record.key, kid=old.record.kid, case_id=case_id, identity_key=identity_key, rng=rng)
    requester = old.keys[1]
    request, blinding = request_reveal(
        record=old.record,
        header=header,
        case_id=case_id,
        keys=requester,
        purpose="hospital",
        case_key=rng(32),
        expiry=1_900_000_000,
        rng=rng,
    )
    partials = [
        approve_reveal(
            request, record=old.record, header=header, index=i, share=old.shares[i], keys=old.keys[i], now=1_899_999_000, rng=rng
        )
        for i in (1, 2)
    ]
    revealed = combine_reveal(request, blinding, partials, record=old.record, header=header)
    assert revealed == identity_key
    swctx = switch_context(old.record, new.record)
    contributions = [
        contribute_switch(
            old=old.record, new=new.record, index=i, share=old.shares[i], case_id=case_id, header=header, swctx=swctx, rng=rng
        )
        for i in (1, 3)
    ]
    points = {c.index: verify_contribution(c, old=old.record, new=new.record, header=header, swctx=swctx) for c in contributions}
    switched = combine_verified(points, threshold=2, header=header)
    v["reveal"] = {
        "old_record": to_wire(old.record),
        "old_shares": {str(i): h(s.encode()) for i, s in old.shares.items()},
        "header": to_wire(header),
        "case_id": h(case_id),
        "identity_key": h(identity_key),
        "request": to_wire(request),
        "blinding": h(blinding.encode()),
        "partials": [to_wire(p) for p in partials],
        "new_record": to_wire(new.record),
        "new_shares": {str(i): h(s.encode()) for i, s in new.shares.items()},
        "swctx": h(swctx),
        "contributions": [to_wire(c) for c in contributions],
        "switched": to_wire(switched),
    }
    return v


def build_voprf_vector() -> dict[str, Any]:
    """The VOPRF of docs/protocol.md §10.2: a key, hash-to-group with both halves, a batch of three and a
    batch of one (blinds, blinded and evaluated points, proof, outputs)."""
    rng = PinnedRng("voprf")
    key = voprf.generate_key_pair(rng=rng)
    inputs = [b"", b"\x00", bytes(range(32))]
    to_group = []
    for x in inputs:
        u0 = hashing.kdf32(hashing.TAG_VOPRF_HASH_TO_GROUP_0, x)
        u1 = hashing.kdf32(hashing.TAG_VOPRF_HASH_TO_GROUP_1, x)
        to_group.append(
            {
                "input": h(x),
                "u0": h(u0),
                "u1": h(u1),
                "half0": h(Point.from_uniform(u0).encode()),
                "half1": h(Point.from_uniform(u1).encode()),
                "point": h(voprf.hash_to_group(x).encode()),
            }
        )
    batches = []
    for batch in (inputs, [b"one input"]):
        blinded = [voprf.blind(x, rng=rng) for x in batch]
        evaluated, proof = voprf.blind_evaluate(key, [c for _, c in blinded], rng=rng)
        outputs = voprf.finalize(batch, [r for r, _ in blinded], evaluated, [c for _, c in blinded], key.public, proof)
        batches.append(
            {
                "inputs": [h(x) for x in batch],
                "blinds": [h(r.encode()) for r, _ in blinded],
                "blinded": [h(c.encode()) for _, c in blinded],
                "evaluated": [h(d.encode()) for d in evaluated],
                "proof": h(proof.encode()),
                "outputs": [h(o) for o in outputs],
            }
        )
    return {"secret": h(key.secret.encode()), "public": h(key.public.encode()), "hash_to_group": to_group, "batches": batches}


def build_tokens_vector() -> dict[str, Any]:
    """Tokens (docs/protocol.md §10.3): an epoch key, an issuance of two tokens in wire form, the tokens."""
    rng = PinnedRng("tokens")
    key = tokens.generate_token_key(1, rng=rng)
    request, pending = tokens.request_tokens(key.public, 2, rng=rng)
    response = tokens.issue_tokens(key, request, rng=rng)
    minted = tokens.finish_tokens(pending, response)
    return {
        "secret": h(key.secret_bytes()),
        "public_key": to_wire(key.public),
        "key_id": h(key.key_id),
        "nonces": [h(n) for n in pending.nonces],
        "blinds": [h(r.encode()) for r in pending.blinds],
        "request": to_wire(request),
        "response": to_wire(response),
        "tokens": [to_wire(t) for t in minted],
    }


def build_envelope_vector() -> dict[str, Any]:
    """Decryption-only: an envelope sealed once; its sealed boxes use libsodium's internal randomness."""
    from tests.support.council import run_dkg

    council = run_dkg(2, 3)
    helper = AccountKeys.generate()
    envelope = seal_intake(
        case_id=bytes(range(16)),
        case_file="지원 요청: 수술비".encode(),
        identity="김영희 1990-01-01".encode(),
        record=council.record,
        author="helper-1",
        author_keys=helper,
        reply_secret=b"\x05" * 32,
        head_seq=4,
        head_hash=b"\x06" * 32,
    )
    return {
        "envelope": to_wire(envelope),
        "record": to_wire(council.record),
        "member_box_secret": b64u_encode(council.keys[1].box_secret),
        "member_box_key": b64u_encode(council.keys[1].public().box_key),
        "case_file": "지원 요청: 수술비",
        "author": "helper-1",
    }


def build_envelope_v3_vector() -> dict[str, Any]:
    """Decryption-only, as `build_envelope_vector`: a version-3 case file, which lists its intake attachments."""
    from tests.support.council import run_dkg

    council = run_dkg(2, 3)
    envelope = seal_intake(
        case_id=bytes(range(16)),
        case_file="지원 요청: 수술비".encode(),
        identity="김영희 1990-01-01".encode(),
        record=council.record,
        author="helper-1",
        author_keys=AccountKeys.generate(),
        reply_secret=b"\x05" * 32,
        head_seq=4,
        head_hash=b"\x06" * 32,
        attachment_ids=[b"\x0a" * 16, b"\x0b" * 16],
    )
    return {
        "envelope": to_wire(envelope),
        "record": to_wire(council.record),
        "member_box_secret": b64u_encode(council.keys[1].box_secret),
        "member_box_key": b64u_encode(council.keys[1].public().box_key),
        "case_file": "지원 요청: 수술비",
        "attachments": [b64u_encode(b"\x0a" * 16), b64u_encode(b"\x0b" * 16)],
    }


def main() -> None:
    vectors = build_vectors()
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    vectors["envelope"] = previous.get("envelope") or build_envelope_vector()
    vectors["envelope_v3"] = previous.get("envelope_v3") or build_envelope_v3_vector()
    OUT.write_text(json.dumps(vectors, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
