"""Byte encodings shared by every format: integers, unpadded base64url, canonical JSON.

Binary in JSON is unpadded base64url through `b64u_encode`/`b64u_decode` only. Where JSON must be
signed or hashed, `canonical_json` produces the one byte string for a value.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from keys.errors import EncodingError

_B64U_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SEXTET = {c: i for i, c in enumerate(_B64U_ALPHABET)}
_TO_URL = bytes.maketrans(b"+/", b"-_")
_FROM_URL = bytes.maketrans(b"-_", b"+/")
# for a text of length 4n+2 (4n+3), the last character's low 4 (2) bits carry no data: canonical means zero
_UNUSED_BITS = {0: 0, 2: 0x0F, 3: 0x03}


def u16(value: int) -> bytes:
    """Encode 0 <= value < 2**16 as 2 bytes big-endian; raises EncodingError when out of range."""
    return _uint(value, 2)


def u32(value: int) -> bytes:
    """Encode 0 <= value < 2**32 as 4 bytes big-endian; raises EncodingError when out of range."""
    return _uint(value, 4)


def u64(value: int) -> bytes:
    """Encode 0 <= value < 2**64 as 8 bytes big-endian; raises EncodingError when out of range."""
    return _uint(value, 8)


def _uint(value: int, size: int) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << (8 * size):
        raise EncodingError(f"expected an integer in 0..{(1 << (8 * size)) - 1}, got {value!r}")
    return value.to_bytes(size, "big")


def lp(data: bytes) -> bytes:
    """Length-prefix `data` with its length as u32 (the framing of every transcript hash)."""
    size = len(data)
    if size >= 1 << 32:
        raise EncodingError("a hashed part is limited to 4 GiB")
    return size.to_bytes(4, "big") + data


def b64u_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url."""
    if not isinstance(data, bytes | bytearray):
        raise EncodingError(f"expected bytes, got {type(data).__name__}")
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=").decode("ascii")


def b64u_decode(text: str, *, length: int | None = None, what: str = "value") -> bytes:
    """Decode unpadded base64url; reject padding, other alphabets, non-canonical forms and bad lengths.

    Raises EncodingError naming `what`.
    """
    if not isinstance(text, str) or not text.isascii():
        raise EncodingError(f"{what}: expected unpadded base64url text")
    raw = text.encode("ascii")
    tail = len(raw) % 4
    if tail == 1 or raw.translate(None, _B64U_ALPHABET):  # what is left after deleting the alphabet: junk
        raise EncodingError(f"{what}: expected unpadded base64url text")
    if tail and _SEXTET[raw[-1]] & _UNUSED_BITS[tail]:
        raise EncodingError(f"{what}: non-canonical base64url (unused bits are set)")
    data = binascii.a2b_base64(raw.translate(_FROM_URL) + b"=" * (-tail % 4), strict_mode=True)
    if length is not None and len(data) != length:
        raise EncodingError(f"{what}: expected {length} bytes, got {len(data)}")
    return data


def canonical_json(value: Any) -> bytes:
    """Encode a JSON value canonically: sorted keys, no spaces, UTF-8, integers only (no floats).

    Raises EncodingError for values JSON cannot carry exactly (floats, non-string keys, bytes).
    """
    _check_canonical(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _check_canonical(value: Any) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) >= 1 << 53:
            raise EncodingError("integers in signed JSON must fit in 53 bits")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_canonical(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError("JSON object keys must be strings")
            _check_canonical(item)
        return
    raise EncodingError(f"{type(value).__name__} cannot be encoded in canonical JSON")


def parse_json(data: bytes, *, what: str = "document") -> Any:
    """Parse UTF-8 JSON bytes; raises EncodingError with `what` on any syntax or encoding problem."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EncodingError(f"{what}: not valid UTF-8 JSON ({exc.__class__.__name__})") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
