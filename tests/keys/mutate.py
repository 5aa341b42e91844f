"""Change one field of a signed wire object at a time, every field, each kind of value (for tamper tests that
must cover more than bytes: ids, counters, flags, names and lists are signed too)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

from keys.errors import TesseraError


def _other(value: Any) -> list[Any]:
    """Values of the same type that differ from `value` (some may be refused at construction: that is fine)."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, max(value - 1, 0) if value else 1]
    if isinstance(value, bytes):
        if not value:
            return [b"\x00"]
        out = []
        for i in sorted({0, len(value) // 2, len(value) - 1}):
            out.append(value[:i] + bytes([value[i] ^ 0x01]) + value[i + 1 :])
        return out
    if isinstance(value, str):
        return [value + "x", value[:-1] or "y"]
    if isinstance(value, tuple):
        out = [value[:-1]] if value else []
        if value and isinstance(value[0], bytes):
            out.append((bytes(len(value[0])), *value[1:]))
            out.append((*value, bytes(len(value[0]))))
        return out
    return []


def mutations(
    obj: Any, *, keep: tuple[str, ...] = ("v", "signature"), extra: Mapping[str, Sequence[Any]] | None = None
) -> Iterator[tuple[str, Any]]:
    """(field name, obj with that field changed) for every field but `keep`; variants the type refuses to build
    are skipped (a refusal at parsing is a refusal too). `extra`: more values to try for a field (one of a few
    allowed words, say)."""
    for f in fields(obj):
        if f.name in keep:
            continue
        for changed in [*_other(getattr(obj, f.name)), *(extra or {}).get(f.name, ())]:
            try:
                yield f.name, replace(obj, **{f.name: changed})
            except TesseraError:  # the type refused the value: nothing to verify
                continue
