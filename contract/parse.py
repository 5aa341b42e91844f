"""A client's check of every answer against its route's type (contract/routes.py), before any of it is used.

An answer is what the server chose to send: a field missing or of another type must end in "the server's answer
is malformed", never in a KeyError deep in a command. The signed formats of `keys/` inside an answer are parsed
strictly by their own `from_wire` (version, exact fields, lengths, points); the answer types around them follow the
OpenAPI document's rules (server/http/openapi.py makes its schemas from the same types): no unknown field, a field
with a default may be absent, Literal values exact, B64 text in the base64url alphabet.

Written here rather than with a schema library: the same dataclasses already describe the answers (one
description, not two), and a wire type's own checks (a valid point, a 32-byte key) are beyond a JSON Schema.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from contract.answers import B64
from keys.errors import EncodingError
from keys.wire import from_wire

Check = Callable[[Any, str], None]
_B64U = re.compile(r"[A-Za-z0-9_-]*")


def check_answer(tp: type, data: Any, where: str) -> None:
    """Raise EncodingError, naming the first field that does not fit, unless `data` (parsed JSON) is a `tp`."""
    _check(tp)(data, where)


def _is_wire_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp) and tp.__module__.startswith("keys.")


@functools.cache
def _check(tp: Any) -> Check:  # one branch per kind of type, as server/http/openapi.py has
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [_check(a) for a in typing.get_args(tp)]

        def one_of(value: Any, where: str) -> None:
            problems = []
            for option in options:
                try:
                    option(value, where)
                    return
                except EncodingError as exc:
                    problems.append(str(exc))
            raise EncodingError(" or ".join(problems))

        return one_of
    if origin is typing.Literal:
        allowed = typing.get_args(tp)

        def literal(value: Any, where: str) -> None:
            if not any(value == a and type(value) is type(a) for a in allowed):
                raise EncodingError(f"{where}: expected one of {', '.join(map(repr, allowed))}")

        return literal
    if tp is type(None):
        return _expect(lambda v: v is None, "null")
    if tp is B64:
        return _expect(lambda v: isinstance(v, str) and _B64U.fullmatch(v) is not None, "base64url text")
    if tp is typing.Any:
        return lambda value, where: None
    if tp is int:
        return _expect(lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
    if tp is str:
        return _expect(lambda v: isinstance(v, str), "text")
    if tp is bool:
        return _expect(lambda v: isinstance(v, bool), "true or false")
    if origin in (tuple, list):
        item = _check(typing.get_args(tp)[0])

        def array(value: Any, where: str) -> None:
            if not isinstance(value, list):
                raise EncodingError(f"{where}: expected a list")
            for i, v in enumerate(value):
                item(v, f"{where}[{i}]")

        return array
    if origin is dict:
        entry = _check(typing.get_args(tp)[1])

        def mapping(value: Any, where: str) -> None:
            if not isinstance(value, dict):
                raise EncodingError(f"{where}: expected a JSON object")
            for k, v in value.items():
                entry(v, f"{where}.{k}")

        return mapping
    if _is_wire_type(tp):

        def wire(value: Any, where: str) -> None:
            try:
                from_wire(tp, value)
            except EncodingError as exc:
                raise EncodingError(f"{where}: {exc}") from None

        return wire
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _object(tp)
    raise TypeError(f"no check for {tp!r}")  # a type contract/answers.py should not use (a programming error)


def _expect(test: Callable[[Any], bool], what: str) -> Check:
    def check(value: Any, where: str) -> None:
        if not test(value):
            raise EncodingError(f"{where}: expected {what}")

    return check


def _object(tp: type) -> Check:
    hints = typing.get_type_hints(tp)
    renamed: dict[str, str] = getattr(tp, "RENAMED", {})
    fields = []
    for f in dataclasses.fields(tp):
        if f.init:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            fields.append((renamed.get(f.name, f.name), required, hints[f.name]))
    names = {name for name, _, _ in fields}

    def obj(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise EncodingError(f"{where}: expected a JSON object")
        unknown = sorted(set(value) - names)
        if unknown:
            raise EncodingError(f"{where}: unknown field(s) {', '.join(unknown)}")
        for name, required, hint in fields:
            if name in value:
                _check(hint)(value[name], f"{where}.{name}")
            elif required:
                raise EncodingError(f"{where}: missing field {name}")

    return obj
