"""Anonymous submission tokens: known answers (provenance: tests/vectors/generate.py), issuance, redemption,
wire forms, flipped bytes in every field of every format, and what a hostile server could try (keys per
helper, foreign or altered responses, invalid points)."""

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from keys import hashing, tokens, voprf
from keys.encoding import b64u_encode, lp
from keys.errors import CryptoError, EncodingError, InvalidPointError, InvalidScalarError, ProofError, TesseraError, VersionError
from keys.group import Point, Scalar
from keys.tokens import IssueRequest, IssueResponse, Token, TokenKeyPair, TokenPublicKey
from keys.wire import decode_json, encode_json, from_wire, to_wire
from tests.keys import reference as ref
from tests.keys.reference import INVALID_POINTS

VECTOR: dict[str, Any] = json.loads(Path(__file__).parents[1].joinpath("vectors", "keys-v1.json").read_text())["tokens"]


def issue(key: TokenKeyPair, count: int = 3) -> tuple[IssueRequest, tokens.PendingIssue, IssueResponse]:
    request, pending = tokens.request_tokens(key.public, count)
    return request, pending, tokens.issue_tokens(key, request)


@pytest.fixture(scope="module")
def key() -> TokenKeyPair:
    return tokens.generate_token_key(7)


def test_issue_finish_and_redeem(key: TokenKeyPair) -> None:
    request, pending, response = issue(key, 5)
    tokens.check_issue_response(response, request, key.public)
    minted = tokens.finish_tokens(pending, response)
    assert len(minted) == 5 and len({t.nonce for t in minted}) == 5
    for token in minted:
        assert token.key_id == key.key_id
        tokens.check_token(key, token)


def test_one_token_per_issuance_and_the_largest_batch(key: TokenKeyPair) -> None:
    for count in (1, tokens.MAX_TOKENS_PER_ISSUE):
        _, pending, response = issue(key, count)
        assert len(tokens.finish_tokens(pending, response)) == count


def test_batch_limits(key: TokenKeyPair) -> None:
    for count in (0, tokens.MAX_TOKENS_PER_ISSUE + 1, -1):
        with pytest.raises(EncodingError):
            tokens.request_tokens(key.public, count)
    request, _, _ = issue(key, 1)
    with pytest.raises(EncodingError):
        replace(request, blinded=request.blinded * (tokens.MAX_TOKENS_PER_ISSUE + 1))
    with pytest.raises(EncodingError):
        replace(request, blinded=())


def test_wire_forms_round_trip(key: TokenKeyPair) -> None:
    request, pending, response = issue(key, 2)
    token = tokens.finish_tokens(pending, response)[0]
    for obj in (key.public, request, response, token):
        data = encode_json(obj)
        assert decode_json(type(obj), data) == obj
        assert encode_json(decode_json(type(obj), data)) == data
    assert set(to_wire(token)) == {"v", "key_id", "nonce", "output"}
    assert set(to_wire(request)) == {"v", "key_id", "blinded"}
    assert set(to_wire(response)) == {"v", "key_id", "evaluated", "proof"}
    assert set(to_wire(key.public)) == {"v", "epoch", "key"}


@pytest.mark.parametrize("cls", [TokenPublicKey, IssueRequest, IssueResponse, Token])
def test_unknown_versions_and_fields_are_refused(key: TokenKeyPair, cls: type) -> None:
    request, pending, response = issue(key, 1)
    token = tokens.finish_tokens(pending, response)[0]
    sample = {TokenPublicKey: key.public, IssueRequest: request, IssueResponse: response, Token: token}
    wire = to_wire(sample[cls])
    with pytest.raises(VersionError):
        from_wire(cls, {**wire, "v": 2})
    with pytest.raises(EncodingError):
        from_wire(cls, {**wire, "extra": 1})
    missing = next(name for name in sorted(wire) if name != "v")
    with pytest.raises(EncodingError):
        from_wire(cls, {k: v for k, v in wire.items() if k != missing})


def test_key_id_is_the_documented_hash() -> None:
    """docs/protocol.md §10: key id = BLAKE2b-256(LP("tessera/v1/token/key-id") ‖ LP(pkS)), checked with hashlib."""
    public = tokens.generate_token_key(1).public
    framed = lp(hashing.PREFIX + b"token/key-id") + lp(public.key)
    assert public.key_id == hashlib.blake2b(framed, digest_size=32).digest()
    # the worked example in docs/protocol.md §10.3: the key of the "tokens" vector
    vector_key = from_wire(TokenPublicKey, VECTOR["public_key"])
    assert vector_key.key.hex() == "bef24dc294b18bde0fa5b0c03932fdb0738c75698cba0703a351a20b29270618"
    assert vector_key.key_id.hex() == VECTOR["key_id"] == "c089844292b2597ae63e23fde652e593685427cbd29a230b17cd6981a6b78445"
    assert ref.blake2b(b"token/key-id", vector_key.key, size=32).hex() == VECTOR["key_id"]


def test_token_output_is_the_voprf_of_the_nonce(key: TokenKeyPair) -> None:
    _, pending, response = issue(key, 1)
    token = tokens.finish_tokens(pending, response)[0]
    assert token.output == voprf.evaluate(key.pair.secret, token.nonce)


def test_token_key_round_trips_through_its_secret(key: TokenKeyPair) -> None:
    loaded = tokens.load_token_key(7, key.secret_bytes())
    assert loaded.public == key.public and loaded.key_id == key.key_id
    with pytest.raises(InvalidScalarError):
        tokens.load_token_key(7, bytes(32))
    with pytest.raises(EncodingError):
        tokens.load_token_key(2**32, key.secret_bytes())
    with pytest.raises(EncodingError):
        tokens.generate_token_key(-1)


def test_pending_state_and_keys_do_not_print_secrets(key: TokenKeyPair) -> None:
    _, pending, _ = issue(key, 1)
    assert pending.nonces[0].hex() not in repr(pending) and repr(pending.nonces[0]) not in repr(pending)
    assert key.secret_bytes().hex() not in repr(key) and repr(key.secret_bytes()) not in repr(key)


# --- flipped bytes: every bytes field, and every element of every tuple field, of every format ---


def flips(obj: Any) -> Iterator[tuple[str, Callable[[], Any]]]:
    """For each bytes field (and each item of a tuple of bytes), a maker of `obj` with one bit changed at the
    start, middle and end. A maker may raise: a change refused while parsing is refused."""

    def flip(value: bytes, i: int) -> bytes:
        return value[:i] + bytes([value[i] ^ 0x01]) + value[i + 1 :]

    for f in fields(obj):
        value = getattr(obj, f.name)
        items = list(enumerate(value)) if isinstance(value, tuple) else [(None, value)]
        for index, item in items:
            if not isinstance(item, bytes):
                continue
            for i in sorted({0, len(item) // 2, len(item) - 1}):
                if index is None:
                    changed: Any = flip(item, i)
                else:
                    changed = (*value[:index], flip(item, i), *value[index + 1 :])
                yield f"{f.name}[{index}][{i}]", lambda changed=changed, name=f.name: replace(obj, **{name: changed})


def refuses(check: Callable[[Any], object], obj: Any) -> int:
    count = 0
    for name, make in flips(obj):
        with pytest.raises(TesseraError):
            check(make())
            pytest.fail(f"a change in {name} was accepted")
        count += 1
    return count


def test_flipped_request_is_refused(key: TokenKeyPair) -> None:
    request, pending, _ = issue(key, 2)
    tokens.finish_tokens(pending, tokens.issue_tokens(key, request))

    def through_the_server(tampered: IssueRequest) -> None:
        # what the server received was changed on the way; the client finishes with its own pending state
        tokens.finish_tokens(pending, tokens.issue_tokens(key, tampered))

    assert refuses(through_the_server, request) == 3 * 3


def test_flipped_response_is_refused(key: TokenKeyPair) -> None:
    request, pending, response = issue(key, 2)
    assert refuses(lambda r: tokens.finish_tokens(pending, r), response) == 3 * 4
    assert refuses(lambda r: tokens.check_issue_response(r, request, key.public), response) == 3 * 4


def test_flipped_token_is_refused(key: TokenKeyPair) -> None:
    _, pending, response = issue(key, 1)
    token = tokens.finish_tokens(pending, response)[0]
    assert refuses(lambda t: tokens.check_token(key, t), token) == 3 * 3


def test_flipped_public_key_is_refused(key: TokenKeyPair) -> None:
    request, _, response = issue(key, 2)
    assert refuses(lambda k: tokens.check_issue_response(response, request, k), key.public) == 3


# --- a hostile server ---


def test_a_key_per_helper_is_caught(key: TokenKeyPair) -> None:
    """The server gives helper B tokens under a key of B's own, to recognise B's tokens when spent."""
    tagging_key = tokens.generate_token_key(7)
    request, pending = tokens.request_tokens(key.public, 3)  # B asks for the epoch key of the directory
    honest_about_it = tokens.issue_tokens(tagging_key, replace(request, key_id=tagging_key.key_id))
    with pytest.raises(CryptoError, match="signed directory"):
        tokens.finish_tokens(pending, honest_about_it)
    lying = replace(honest_about_it, key_id=key.key_id)  # names the directory key, evaluates with its own
    with pytest.raises(ProofError):
        tokens.finish_tokens(pending, lying)
    with pytest.raises(ProofError):
        tokens.check_issue_response(lying, request, key.public)


def test_a_client_that_trusts_the_response_key_would_be_tagged(key: TokenKeyPair) -> None:
    """Why the pinned key matters: checked against the tagging key itself, the tagged response verifies."""
    tagging_key = tokens.generate_token_key(7)
    request, _ = tokens.request_tokens(tagging_key.public, 2)
    response = tokens.issue_tokens(tagging_key, request)
    tokens.check_issue_response(response, request, tagging_key.public)  # passes: only the directory catches it
    with pytest.raises(CryptoError):
        tokens.check_issue_response(response, request, key.public)


def test_another_helpers_response_is_refused(key: TokenKeyPair) -> None:
    _, pending_a, _ = issue(key, 2)
    _, _, response_b = issue(key, 2)
    with pytest.raises(ProofError):
        tokens.finish_tokens(pending_a, response_b)


def test_reordered_dropped_or_added_elements_are_refused(key: TokenKeyPair) -> None:
    _, pending, response = issue(key, 3)
    with pytest.raises(ProofError):
        tokens.finish_tokens(pending, replace(response, evaluated=response.evaluated[::-1]))
    with pytest.raises(CryptoError):
        tokens.finish_tokens(pending, replace(response, evaluated=response.evaluated[:2]))
    with pytest.raises(CryptoError):
        tokens.finish_tokens(pending, replace(response, evaluated=response.evaluated + response.evaluated[:1]))


@pytest.mark.parametrize("name", INVALID_POINTS)
def test_invalid_points_are_refused_in_every_format(key: TokenKeyPair, name: str) -> None:
    """Identity, small-order, mixed-order and non-canonical points, as a server's evaluated point, a client's
    blinded point (the server parses the request) and a published key: refused when parsed."""
    bad = INVALID_POINTS[name]
    request, _, response = issue(key, 2)
    with pytest.raises(InvalidPointError):
        replace(response, evaluated=(response.evaluated[0], bad))
    with pytest.raises(InvalidPointError):
        from_wire(IssueResponse, {**to_wire(response), "evaluated": [to_wire(response)["evaluated"][0], b64u_encode(bad)]})
    with pytest.raises(InvalidPointError):
        from_wire(IssueRequest, {**to_wire(request), "blinded": [b64u_encode(bad), to_wire(request)["blinded"][1]]})
    with pytest.raises(InvalidPointError):
        from_wire(TokenPublicKey, {**to_wire(key.public), "key": b64u_encode(bad)})


def test_wrong_lengths_and_unreduced_proof_scalars_are_refused(key: TokenKeyPair) -> None:
    _, _, response = issue(key, 1)
    with pytest.raises(EncodingError):
        replace(response, evaluated=(b"\x01" * 31,))
    with pytest.raises(InvalidScalarError):
        replace(response, proof=b"\xff" * 64)


def test_redemption_under_another_epoch_key_is_refused(key: TokenKeyPair) -> None:
    _, pending, response = issue(key, 1)
    token = tokens.finish_tokens(pending, response)[0]
    next_epoch = tokens.generate_token_key(8)
    with pytest.raises(CryptoError):
        tokens.check_token(next_epoch, token)
    with pytest.raises(CryptoError):
        tokens.check_token(next_epoch, replace(token, key_id=next_epoch.key_id))


def test_a_request_for_another_key_is_refused_by_the_server(key: TokenKeyPair) -> None:
    request, _ = tokens.request_tokens(tokens.generate_token_key(8).public, 1)
    with pytest.raises(CryptoError):
        tokens.issue_tokens(key, request)


def test_the_server_sees_nothing_of_the_nonce_at_issuance(key: TokenKeyPair) -> None:
    """The same nonce blinded twice gives unrelated elements: the blinded element is r·H(nonce) with a fresh
    uniformly random r, so it is a uniformly random group element whatever the nonce."""
    nonce = b"\x07" * 32
    seen = {voprf.blind(nonce)[1] for _ in range(20)}
    assert len(seen) == 20
    assert Point.decode(tokens.request_tokens(key.public, 1)[0].blinded[0]) not in seen


# --- known answers (the "tokens" section of tests/vectors/keys-v1.json) ---


def test_tokens_vector_finishes_from_the_recorded_client_state() -> None:
    """The client's side from the wire bytes and the recorded nonces and blinds: the response verifies against
    the recorded epoch key and unblinds to exactly the recorded tokens."""
    public = from_wire(TokenPublicKey, VECTOR["public_key"])
    request = from_wire(IssueRequest, VECTOR["request"])
    response = from_wire(IssueResponse, VECTOR["response"])
    pending = tokens.PendingIssue(
        public_key=public,
        request=request,
        nonces=tuple(bytes.fromhex(n) for n in VECTOR["nonces"]),
        blinds=tuple(Scalar(bytes.fromhex(r)) for r in VECTOR["blinds"]),
    )
    tokens.check_issue_response(response, request, public)
    assert [to_wire(t) for t in tokens.finish_tokens(pending, response)] == VECTOR["tokens"]


def test_tokens_vector_against_direct_computation() -> None:
    """Each recorded token's output is TH(voprf/finalize; nonce, k·H(nonce)) computed with hashlib and the
    integer curve from the recorded secret; each blinded point is r·H(nonce); the server accepts each token."""
    k = int.from_bytes(bytes.fromhex(VECTOR["secret"]), "little")
    key = tokens.load_token_key(1, bytes.fromhex(VECTOR["secret"]))
    assert key.public == from_wire(TokenPublicKey, VECTOR["public_key"])
    request = from_wire(IssueRequest, VECTOR["request"])
    for nonce_hex, blind_hex, blinded, wire_token in zip(
        VECTOR["nonces"], VECTOR["blinds"], request.blinded, VECTOR["tokens"], strict=True
    ):
        nonce = bytes.fromhex(nonce_hex)
        hx = ref.hash_to_group(nonce)
        assert ref.encode(ref.mul(int.from_bytes(bytes.fromhex(blind_hex), "little"), hx)) == blinded
        token = from_wire(Token, wire_token)
        assert token.nonce == nonce and token.key_id.hex() == VECTOR["key_id"]
        assert token.output == ref.output(nonce, ref.mul(k, hx))
        tokens.check_token(key, token)
