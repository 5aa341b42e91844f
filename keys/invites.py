"""Invites: the administrator's signed grant (who may join, with which role, until when) and the invite
string a person copies, carrying the server address, the invite id and one-time secret, and the
key-directory head the inviter saw (so the new member detects a substituted server)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import ClassVar, Final

from keys.accounts import AccountKeys, verify_signature
from keys.encoding import b64u_decode, b64u_encode, u64
from keys.errors import EncodingError
from keys.hashing import TAG_GRANT
from keys.wire import decode_json, encode_json, require_len, require_text, require_version, signing_bytes

PREFIX: Final = "tessera-invite:"
ROLES: Final = ("helper", "council", "admin")

SERVER_ISSUER: Final = ""  # the server key issues the first administrator's invite, and only that one


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """An administrator's signed permission for one account to join with one role (part of an invite)."""

    VERSION: ClassVar[int] = 1
    v: int
    invite_id: bytes
    account: str
    role: str
    expires_day: int
    issuer: str
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("invite_id", self.invite_id, 16)
        check_account_name(self.account)
        if self.role not in ROLES:
            raise EncodingError(f"role must be one of {', '.join(ROLES)}")
        if self.issuer != SERVER_ISSUER:
            check_account_name(self.issuer)
        require_len("signature", self.signature, 64)
        u64(self.expires_day)


def sign_grant(*, invite_id: bytes, account: str, role: str, expires_day: int, issuer: str, keys: AccountKeys) -> Grant:
    unsigned = Grant(
        v=1, invite_id=invite_id, account=account, role=role, expires_day=expires_day, issuer=issuer, signature=bytes(64)
    )
    return replace(unsigned, signature=keys.sign(TAG_GRANT, signing_bytes(unsigned)))


def verify_grant(grant: Grant, issuer_key: bytes) -> None:
    """Raises ProofError unless `issuer_key` signed this grant."""
    verify_signature(issuer_key, TAG_GRANT, signing_bytes(grant), grant.signature)


_ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


def check_account_name(name: str) -> str:
    """Account ids are handles chosen at invitation: 1-32 of a-z 0-9 . _ -, starting with a letter or digit.

    Raises EncodingError. Use pseudonyms: the server knows account ids.
    """
    if not isinstance(name, str) or not _ACCOUNT_NAME.fullmatch(name):
        raise EncodingError(f"account name {name!r} must be 1-32 characters of a-z, 0-9, '.', '_', '-'")
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class Invite:
    VERSION: ClassVar[int] = 1
    v: int
    server: str
    invite_id: bytes
    secret: str
    head_seq: int
    head_hash: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_text("server", self.server, max_len=300)
        if not self.server.startswith(("http://", "https://")):
            raise EncodingError("server: expected an http:// or https:// address")
        require_len("invite_id", self.invite_id, 16)
        require_text("secret", self.secret, max_len=64)
        require_len("head_hash", self.head_hash, 32)

    def encode(self) -> str:
        return PREFIX + b64u_encode(encode_json(self))

    @classmethod
    def decode(cls, text: str) -> Invite:
        """Raises EncodingError with a hint when the string was cut or mistyped."""
        text = text.strip()
        if not text.startswith(PREFIX):
            raise EncodingError(f"an invite starts with {PREFIX!r}; copy the whole line")
        try:
            return decode_json(cls, b64u_decode(text[len(PREFIX) :], what="invite"))
        except EncodingError as exc:
            raise EncodingError(f"the invite is damaged or incomplete ({exc}); copy the whole line again") from exc
