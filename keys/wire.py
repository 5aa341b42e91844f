"""Frozen wire types and their JSON form.

Every wire and storage format is a frozen, keyword-only dataclass whose first field is the version `v`.
`to_wire` turns one into a JSON object (bytes as unpadded base64url); `from_wire` parses one strictly:
version first, then exact fields (no unknown keys, no missing ones), then the type's own length checks in
`__post_init__`. Everything raises EncodingError / VersionError, never KeyError or TypeError.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, ClassVar, Protocol, TypeVar

from keys.encoding import b64u_decode, b64u_encode, canonical_json, parse_json
from keys.errors import EncodingError, TesseraError, VersionError

MAX_TEXT = 4096  # longest free-text field (purpose, names) carried in a signed record


class WireType(Protocol):
    VERSION: ClassVar[int]

    @property
    def v(self) -> int: ...


W = TypeVar("W")


def require_len(name: str, value: bytes, size: int) -> None:
    """Raise EncodingError unless `value` is bytes of exactly `size`."""
    if not isinstance(value, bytes) or len(value) != size:
        raise EncodingError(f"{name}: expected {size} bytes")


def require_text(name: str, value: str, *, max_len: int = MAX_TEXT) -> None:
    """Raise EncodingError unless `value` is a non-empty string of at most `max_len` characters."""
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise EncodingError(f"{name}: expected text of 1..{max_len} characters")


def require_version(obj: WireType) -> None:
    if obj.v != obj.VERSION:
        raise VersionError(f"{type(obj).__name__}: unknown version {obj.v!r} (this program reads {obj.VERSION})")


def _encode_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return b64u_encode(value)
    if isinstance(value, tuple):
        return [_encode_value(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_wire(value)
    return value


def to_wire(obj: Any) -> dict[str, Any]:
    """The JSON object for a wire dataclass (bytes as unpadded base64url, tuples as lists)."""
    return {f.name: _encode_value(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}


Decoder = typing.Callable[[Any, str], Any]


def _decode_bytes(value: Any, where: str) -> bytes:
    return b64u_decode(value, what=where)


def _decode_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodingError(f"{where}: expected an integer")
    return value


def _decode_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise EncodingError(f"{where}: expected text")
    return value


def _decode_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise EncodingError(f"{where}: expected true or false")
    return value


@functools.cache
def _decoder(tp: Any) -> Decoder:
    """The parser of one field type, built once per type (derived from code, not state)."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = _decoder(next(a for a in typing.get_args(tp) if a is not type(None)))
        return lambda value, where: None if value is None else inner(value, where)
    simple = {bytes: _decode_bytes, int: _decode_int, str: _decode_str, bool: _decode_bool}.get(tp)
    if simple is not None:
        return simple
    if origin is tuple:
        item = _decoder(typing.get_args(tp)[0])

        def decode_tuple(value: Any, where: str) -> tuple[Any, ...]:
            if not isinstance(value, list):
                raise EncodingError(f"{where}: expected a list")
            return tuple([item(v, f"{where}[{i}]") for i, v in enumerate(value)])

        return decode_tuple
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return functools.partial(_from_obj, tp)

    def unsupported(value: Any, where: str) -> Any:  # pragma: no cover - not a wire type (a programming error)
        raise EncodingError(f"{where}: unsupported field type {tp!r}")

    return unsupported


@dataclasses.dataclass(frozen=True)
class _Spec:
    version: int | None
    names: frozenset[str]
    fields: tuple[tuple[str, Decoder], ...]


@functools.cache
def _spec(cls: type) -> _Spec:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    return _Spec(getattr(cls, "VERSION", None), frozenset(names), tuple((n, _decoder(hints[n])) for n in names))


def _from_obj(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise EncodingError(f"{where}: expected a JSON object")
    spec = _spec(cls)
    if spec.version is not None and data.get("v") != spec.version:
        raise VersionError(f"{where}: unknown version {data.get('v')!r} (this program reads {spec.version})")
    if data.keys() != spec.names:
        unknown = sorted(set(data) - spec.names)
        if unknown:
            raise EncodingError(f"{where}: unknown field(s) {', '.join(unknown)}")
        missing = [n for n, _ in spec.fields if n not in data]
        raise EncodingError(f"{where}: missing field(s) {', '.join(missing)}")
    values = {n: decode(data[n], f"{where}.{n}") for n, decode in spec.fields}
    try:
        return cls(**values)
    except TesseraError as exc:
        if isinstance(exc, EncodingError):
            raise
        raise EncodingError(f"{where}: {exc}") from exc


def from_wire(cls: type[W], data: Any) -> W:
    """Parse a JSON object into `cls`; raises EncodingError (VersionError for an unknown version)."""
    result: W = _from_obj(cls, data, cls.__name__)
    return result


def encode_json(obj: Any) -> bytes:
    """Canonical JSON bytes of a wire dataclass (what gets stored, hashed and signed)."""
    return canonical_json(to_wire(obj))


def decode_json(cls: type[W], data: bytes) -> W:
    """Parse JSON bytes into `cls`; raises EncodingError."""
    return from_wire(cls, parse_json(data, what=cls.__name__))


def signing_bytes(obj: Any, *, without: tuple[str, ...] = ("signature",)) -> bytes:
    """Canonical JSON of a wire dataclass with its signature field(s) left out: what its author signs."""
    wire = to_wire(obj)
    for name in without:
        wire.pop(name, None)
    return canonical_json(wire)
