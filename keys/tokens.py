"""Anonymous submission tokens in the style of Privacy Pass (RFC 9576, RFC 9578 §5) on the VOPRF of
`keys/voprf.py` (protocol doc §10). The server and the client use it as §10.6 says.

A helper's client obtains a batch of tokens while signed in, and later spends one per intake instead of
signing with its account. A token is (key id, nonce, output): the nonce is 32 random bytes the client
chose, the output is the VOPRF of the nonce under the epoch's token key. The server saw only blinded
elements at issuance, so it cannot tell which issuance a spent token came from.

1. Server, per epoch: `generate_token_key`; the public half (`TokenPublicKey`) goes into the signed key
   directory (entry kind `token-key`), the secret stays on the server (`secret_bytes`/`load_token_key`).
2. Client, signed in: `request_tokens(pinned key, n)` gives the request to send and the pending state to
   keep (secret: it links the request to the tokens). Server: `issue_tokens`. Client: `finish_tokens`.
3. Client, anonymous: sends a `Token` (`token_header`, header `X-Tessera-Token`). Server: `check_token`, then
   records (key id, nonce) as spent in the same transaction as the intake. Refusing a second spend is the
   server's storage's job, not this module's.

What a hostile server could try, and what stops it:
* Tag helpers with keys: issue each helper's tokens under a key of its own, then see whose key a spent token
  names. The client only accepts an issuance whose key id is that of the epoch key it took from the signed
  directory (`check_issue_response`), and the batched DLEQ proof shows every output is under that key.
  Integration must pass the directory's key, never one the server sent with the response.
* Evaluate with another key while naming the published one: the proof fails (ProofError).
* Answer with another helper's response, reorder, drop or add elements: the proof covers the client's own
  blinded elements in order, which the response never echoes; any change fails.
* Send an invalid point (identity, small or mixed order, non-canonical): `Point.decode` refuses it
  (InvalidPointError) when the response is parsed.
* Partition helpers in time (a new epoch key for a few helpers at a time): not detectable here; the
  directory integration must limit how often the epoch key may change.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import ClassVar, Final

from keys import voprf
from keys.encoding import b64u_decode, b64u_encode, u32
from keys.errors import CryptoError, EncodingError
from keys.group import POINT_SIZE, Point, Rng, Scalar, default_rng
from keys.hashing import TAG_TOKEN_KEY_ID, kdf32
from keys.proofs import PROOF_SIZE, Proof
from keys.wire import decode_json, encode_json, require_len, require_version

NONCE_SIZE: Final = 32
KEY_ID_SIZE: Final = 32
#: most tokens one issuance may ask for (the per-account budget is the server's)
MAX_TOKENS_PER_ISSUE: Final = 100


def token_key_id(public_key: bytes) -> bytes:
    """KDF32(token/key-id; pkS): what a request, a response and a token name their epoch key by."""
    return kdf32(TAG_TOKEN_KEY_ID, public_key)


def _check_batch(name: str, items: tuple[bytes, ...]) -> None:
    if not isinstance(items, tuple) or not 0 < len(items) <= MAX_TOKENS_PER_ISSUE:
        raise EncodingError(f"{name}: expected 1..{MAX_TOKENS_PER_ISSUE} points")
    for i, item in enumerate(items):
        require_len(f"{name}[{i}]", item, POINT_SIZE)
        Point.decode(item)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenPublicKey:
    """An epoch's token key as the signed directory will publish it."""

    VERSION: ClassVar[int] = 1
    v: int
    epoch: int
    key: bytes  # pkS, a point of the prime-order subgroup (keys/group.py)

    def __post_init__(self) -> None:
        require_version(self)
        u32(self.epoch)
        require_len("key", self.key, POINT_SIZE)
        Point.decode(self.key)

    @property
    def key_id(self) -> bytes:
        return token_key_id(self.key)

    def element(self) -> Point:
        """pkS as a group element."""
        return Point.decode(self.key)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueRequest:
    """Client to server, signed in: the blinded nonces."""

    VERSION: ClassVar[int] = 1
    v: int
    key_id: bytes
    blinded: tuple[bytes, ...]

    def __post_init__(self) -> None:
        require_version(self)
        require_len("key_id", self.key_id, KEY_ID_SIZE)
        _check_batch("blinded", self.blinded)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueResponse:
    """Server to client: the evaluated elements, in request order, and one proof for them all."""

    VERSION: ClassVar[int] = 1
    v: int
    key_id: bytes
    evaluated: tuple[bytes, ...]
    proof: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("key_id", self.key_id, KEY_ID_SIZE)
        _check_batch("evaluated", self.evaluated)
        require_len("proof", self.proof, PROOF_SIZE)
        Proof.decode(self.proof)


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """One anonymous submission token. A bearer credential until spent: keep it as secret as a key."""

    VERSION: ClassVar[int] = 1
    v: int
    key_id: bytes
    nonce: bytes
    output: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("key_id", self.key_id, KEY_ID_SIZE)
        require_len("nonce", self.nonce, NONCE_SIZE)
        require_len("output", self.output, voprf.OUTPUT_SIZE)


@dataclass(frozen=True, slots=True)
class TokenKeyPair:
    """The server's token key for one epoch."""

    epoch: int
    pair: voprf.KeyPair

    @property
    def public(self) -> TokenPublicKey:
        return TokenPublicKey(v=1, epoch=self.epoch, key=self.pair.public.encode())

    @property
    def key_id(self) -> bytes:
        return token_key_id(self.pair.public.encode())

    def secret_bytes(self) -> bytes:
        """The 32-byte secret, for the server's own storage. Warning: whoever has it can mint tokens."""
        return self.pair.secret.encode()


def generate_token_key(epoch: int, *, rng: Rng = default_rng) -> TokenKeyPair:
    """A fresh random token key for `epoch`; raises EncodingError for an epoch outside u32."""
    u32(epoch)
    return TokenKeyPair(epoch=epoch, pair=voprf.generate_key_pair(rng=rng))


def load_token_key(epoch: int, secret: bytes) -> TokenKeyPair:
    """The token key from `secret_bytes`; raises InvalidScalarError for a zero or unreduced secret,
    EncodingError for an epoch outside u32."""
    u32(epoch)
    return TokenKeyPair(epoch=epoch, pair=voprf.KeyPair.from_secret(Scalar.decode_nonzero(secret)))


@dataclass(frozen=True, slots=True)
class PendingIssue:
    """What the client keeps between request and response. Secret: the blinds link the request to the
    tokens, so it never leaves the client and is dropped once the tokens are made."""

    public_key: TokenPublicKey
    request: IssueRequest
    nonces: tuple[bytes, ...] = field(repr=False)
    blinds: tuple[Scalar, ...] = field(repr=False)


def request_tokens(public_key: TokenPublicKey, count: int, *, rng: Rng = default_rng) -> tuple[IssueRequest, PendingIssue]:
    """Blind `count` fresh random nonces for the epoch key `public_key`.

    `public_key` must be the one the client verified in the signed directory (see the module docstring).
    Raises EncodingError unless 1 <= count <= MAX_TOKENS_PER_ISSUE."""
    if not isinstance(count, int) or not 0 < count <= MAX_TOKENS_PER_ISSUE:
        raise EncodingError(f"ask for 1..{MAX_TOKENS_PER_ISSUE} tokens at a time")
    nonces = tuple(rng(NONCE_SIZE) for _ in range(count))
    blinded = [voprf.blind(nonce, rng=rng) for nonce in nonces]
    request = IssueRequest(v=1, key_id=public_key.key_id, blinded=tuple(e.encode() for _, e in blinded))
    return request, PendingIssue(public_key=public_key, request=request, nonces=nonces, blinds=tuple(r for r, _ in blinded))


def issue_tokens(key: TokenKeyPair, request: IssueRequest, *, rng: Rng = default_rng) -> IssueResponse:
    """Server: evaluate every blinded nonce under this epoch's key, with one batched DLEQ proof.

    Raises CryptoError when the request names another key (look the key up by `request.key_id` first);
    the request's elements were validated when it was parsed. The caller authenticates the account and
    charges its issuance budget before calling this."""
    if not hmac.compare_digest(request.key_id, key.key_id):
        raise CryptoError("this issuance request is for another epoch's token key")
    blinded = [Point.decode(b) for b in request.blinded]
    evaluated, proof = voprf.blind_evaluate(key.pair, blinded, rng=rng)
    return IssueResponse(v=1, key_id=key.key_id, evaluated=tuple(e.encode() for e in evaluated), proof=proof.encode())


def _response_points(response: IssueResponse, request: IssueRequest, public_key: TokenPublicKey) -> list[Point]:
    """The evaluated points, after the checks that need no proof: same key id as the pinned key, as many
    points as requested. Raises CryptoError."""
    expected = public_key.key_id
    if not (hmac.compare_digest(request.key_id, expected) and hmac.compare_digest(response.key_id, expected)):
        raise CryptoError("the server answered with a token key other than the epoch key in the signed directory")
    if len(response.evaluated) != len(request.blinded):
        raise CryptoError(f"the server answered {len(response.evaluated)} points for {len(request.blinded)} requested")
    return [Point.decode(e) for e in response.evaluated]


def check_issue_response(response: IssueResponse, request: IssueRequest, public_key: TokenPublicKey) -> None:
    """Client: check a response against the client's own request and the epoch key `public_key` that the
    client verified in the signed directory (never a key that came with the response).

    Raises CryptoError for another key id or a wrong number of points, ProofError unless the proof shows
    every point was evaluated with `public_key`'s secret, in order."""
    evaluated = _response_points(response, request, public_key)
    blinded = [Point.decode(b) for b in request.blinded]
    voprf.verify_proof(public_key.element(), blinded, evaluated, Proof.decode(response.proof))


def finish_tokens(pending: PendingIssue, response: IssueResponse) -> tuple[Token, ...]:
    """Client: check the response as `check_issue_response` does, then unblind the tokens.

    Raises CryptoError or ProofError as `check_issue_response` does; then drop `pending`."""
    evaluated = _response_points(response, pending.request, pending.public_key)
    blinded = [Point.decode(b) for b in pending.request.blinded]
    outputs = voprf.finalize(
        pending.nonces, pending.blinds, evaluated, blinded, pending.public_key.element(), Proof.decode(response.proof)
    )
    key_id = pending.public_key.key_id
    return tuple(Token(v=1, key_id=key_id, nonce=n, output=o) for n, o in zip(pending.nonces, outputs, strict=True))


def check_token(key: TokenKeyPair, token: Token) -> None:
    """Server: raises CryptoError unless `token` was issued under `key` (constant-time comparison).

    Says nothing about double spending: the caller records (key id, nonce) as spent, atomically with the
    intake the token pays for, and refuses a nonce it has seen under that key."""
    expected = voprf.evaluate(key.pair.secret, token.nonce)
    if not (hmac.compare_digest(token.key_id, key.key_id) & hmac.compare_digest(token.output, expected)):
        raise CryptoError("this submission token is not valid")


TOKEN_HEADER: Final = "X-Tessera-Token"  # noqa: S105 - a header's name, not a secret
MAX_TOKEN_HEADER: Final = 512  # base64url of the canonical JSON of a token is 286 characters


def token_header(token: Token) -> str:
    """A token as the `X-Tessera-Token` header value: base64url of its canonical JSON."""
    return b64u_encode(encode_json(token))


def parse_token_header(text: str) -> Token:
    """The token in an `X-Tessera-Token` header; raises EncodingError for anything else (too long, not canonical)."""
    if not 0 < len(text) <= MAX_TOKEN_HEADER:
        raise EncodingError("submission token: malformed header")
    return decode_json(Token, b64u_decode(text, what="submission token"))
