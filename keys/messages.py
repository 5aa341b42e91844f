"""Case messages: each sealed under a fresh message key wrapped to each reader, the author's signature inside.

Threads: `case` (council members and the case's helper, reached through the reply key) and `council`
(members only: notes the helper never sees). The server sees the thread, the readers' X25519 keys and
a padded size; it checks the reader set, not the content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Final

from keys import aead
from keys.accounts import AccountKeys, verify_signature
from keys.envelope import KeyWrap, unwrap_case_key, wrap_case_key
from keys.errors import DecryptionError, EncodingError, ProofError
from keys.group import Rng, default_rng, new_id
from keys.hashing import TAG_AD_MESSAGE, TAG_MESSAGE, kdf32
from keys.kem import CASE_ID_SIZE
from keys.wire import decode_json, encode_json, require_len, require_text, require_version, signing_bytes

THREADS: Final = ("case", "council")
MAX_TEXT: Final = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedMessage:
    VERSION: ClassVar[int] = 1
    v: int
    message_id: bytes
    case_id: bytes
    thread: str
    wraps: tuple[KeyWrap, ...]
    body: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_len("message_id", self.message_id, 16)
        require_len("case_id", self.case_id, CASE_ID_SIZE)
        if self.thread not in THREADS:
            raise EncodingError("thread must be 'case' or 'council'")
        recipients = [w.recipient for w in self.wraps]
        if not recipients or len(set(recipients)) != len(recipients):
            raise EncodingError("wraps: one per reader, at least one")
        if not aead.is_padded_size(len(self.body)):
            raise EncodingError("body: sealed size is not a padding bucket")


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageBody:
    VERSION: ClassVar[int] = 1
    v: int
    message_id: bytes
    case_id: bytes
    thread: str
    author: str
    author_key: bytes
    text: str
    signature: bytes

    def __post_init__(self) -> None:
        require_version(self)
        require_text("author", self.author, max_len=64)
        require_text("text", self.text, max_len=MAX_TEXT)
        require_len("author_key", self.author_key, 32)
        require_len("signature", self.signature, 64)


def _ad(case_id: bytes, message_id: bytes, thread: str) -> bytes:
    return kdf32(TAG_AD_MESSAGE, case_id, message_id, thread.encode())


def seal_message(
    *,
    case_id: bytes,
    thread: str,
    text: str,
    author: str,
    author_keys: AccountKeys,
    readers: Sequence[bytes],
    rng: Rng = default_rng,
) -> SealedMessage:
    """Seal a message to every reader's X25519 key. `author` is an account name, or "helper"."""
    message_id, message_key = new_id(rng), rng(32)
    unsigned = MessageBody(
        v=1,
        message_id=message_id,
        case_id=case_id,
        thread=thread,
        author=author,
        author_key=author_keys.public().sign_key,
        text=text,
        signature=bytes(64),
    )
    signed = replace(unsigned, signature=author_keys.sign(TAG_MESSAGE, signing_bytes(unsigned)))
    body = aead.seal_padded(message_key, encode_json(signed), _ad(case_id, message_id, thread), rng=rng)
    wraps = tuple(wrap_case_key(message_id, message_key, r) for r in dict.fromkeys(readers))
    return SealedMessage(v=1, message_id=message_id, case_id=case_id, thread=thread, wraps=wraps, body=body)


def open_message(message: SealedMessage, keys: AccountKeys) -> MessageBody:
    """Open a message addressed to `keys`; checks the author's signature (who the author is: the caller).

    Raises DecryptionError (not a reader, altered) or ProofError (forged or moved).
    """
    box_key = keys.public().box_key
    wrap = next((w for w in message.wraps if w.recipient == box_key), None)
    if wrap is None:
        raise DecryptionError("this message is not addressed to you")
    message_key = unwrap_case_key(keys, message.message_id, wrap)
    plaintext = aead.open_padded(message_key, message.body, _ad(message.case_id, message.message_id, message.thread))
    try:
        body = decode_json(MessageBody, plaintext)
    except EncodingError as exc:
        raise DecryptionError(f"message content is malformed: {exc}") from exc
    if (body.message_id, body.case_id, body.thread) != (message.message_id, message.case_id, message.thread):
        raise ProofError("message was moved to another case or thread")
    verify_signature(body.author_key, TAG_MESSAGE, signing_bytes(body), body.signature)
    return body


__all__ = ["THREADS", "KeyWrap", "MessageBody", "SealedMessage", "open_message", "seal_message"]
