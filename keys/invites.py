"""The invite string: one line a person copies, carrying the server address, the invite id and one-time
secret, and the key-directory head the inviter saw (so the new member detects a substituted server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from keys.encoding import b64u_decode, b64u_encode
from keys.errors import EncodingError
from keys.wire import decode_json, encode_json, require_len, require_text, require_version

PREFIX: Final = "tessera-invite:"


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
