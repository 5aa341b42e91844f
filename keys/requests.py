"""Request authentication: an Ed25519 signature over method, path, query, body digest, time and nonce.

The signer is an account (its device key) or, for a helper reaching their own case, the case's reply
key (principal `case:<case id>`), so the server never needs the helper's account to serve a reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from keys.accounts import AccountKeys, verify_signature
from keys.encoding import b64u_decode, b64u_encode, lp, u64
from keys.errors import EncodingError
from keys.group import Rng, default_rng
from keys.hashing import TAG_REQUEST_AUTH, digest

HEADER_PRINCIPAL: Final = "X-Tessera-Principal"
HEADER_TIME: Final = "X-Tessera-Time"
HEADER_NONCE: Final = "X-Tessera-Nonce"
HEADER_SIGNATURE: Final = "X-Tessera-Signature"
NONCE_SIZE: Final = 16
CASE_PRINCIPAL_PREFIX: Final = "case:"


def auth_message(
    *, method: str, path: str, query: str, body_digest: bytes, timestamp: int, nonce: bytes, principal: str
) -> bytes:
    """The exact bytes a request signature covers (`body_digest` is `digest(body)`)."""
    return b"".join(
        lp(x)
        for x in (method.upper().encode(), path.encode(), query.encode(), body_digest, u64(timestamp), nonce, principal.encode())
    )


@dataclass(frozen=True, slots=True)
class AuthHeaders:
    principal: str
    timestamp: int
    nonce: bytes
    signature: bytes

    def as_dict(self) -> dict[str, str]:
        return {
            HEADER_PRINCIPAL: self.principal,
            HEADER_TIME: str(self.timestamp),
            HEADER_NONCE: b64u_encode(self.nonce),
            HEADER_SIGNATURE: b64u_encode(self.signature),
        }

    @classmethod
    def parse(cls, headers: dict[str, str]) -> AuthHeaders:
        """Raises EncodingError when a header is missing or malformed."""
        try:
            principal = headers[HEADER_PRINCIPAL]
            timestamp_text = headers[HEADER_TIME]
            nonce = b64u_decode(headers[HEADER_NONCE], length=NONCE_SIZE, what="nonce")
            signature = b64u_decode(headers[HEADER_SIGNATURE], length=64, what="signature")
        except KeyError as exc:
            raise EncodingError(f"missing header {exc.args[0]}") from None
        if not timestamp_text.isdigit() or len(timestamp_text) > 12 or not 0 < len(principal) <= 64:
            raise EncodingError("malformed authentication headers")
        return cls(principal, int(timestamp_text), nonce, signature)


def sign_request(
    keys: AccountKeys,
    *,
    principal: str,
    method: str,
    path: str,
    query: str,
    body: bytes,
    timestamp: int,
    body_digest: bytes | None = None,
    rng: Rng = default_rng,
) -> AuthHeaders:
    """Sign a request; pass `body_digest` (digest of the body) instead of hashing `body` again."""
    nonce = rng(NONCE_SIZE)
    message = auth_message(
        method=method,
        path=path,
        query=query,
        body_digest=digest(body) if body_digest is None else body_digest,
        timestamp=timestamp,
        nonce=nonce,
        principal=principal,
    )
    return AuthHeaders(principal, timestamp, nonce, keys.sign(TAG_REQUEST_AUTH, message))


def verify_request(
    sign_key: bytes, headers: AuthHeaders, *, method: str, path: str, query: str, body: bytes, body_digest: bytes | None = None
) -> None:
    """Raises ProofError unless the signature covers exactly this request (`body_digest`: digest(body), if known)."""
    message = auth_message(
        method=method,
        path=path,
        query=query,
        body_digest=digest(body) if body_digest is None else body_digest,
        timestamp=headers.timestamp,
        nonce=headers.nonce,
        principal=headers.principal,
    )
    verify_signature(sign_key, TAG_REQUEST_AUTH, message, headers.signature)


def case_principal(case_id: bytes) -> str:
    return CASE_PRINCIPAL_PREFIX + b64u_encode(case_id)
