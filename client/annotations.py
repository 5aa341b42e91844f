"""Tags and follow-up notes on a case, kept sealed to the council: council-thread messages whose text is an
annotation (docs/protocol.md §8d). The server stores them as any council-only message: it sees the thread, the
readers and a padded size, never whether a message is a note, a tag or an annotation, nor what it says.

An annotation's text is `ANNOTATION_PREFIX` followed by canonical JSON:
  {"v": 1, "kind": "tags", "tags": ["hospital", "urgent-follow-up"]}     (the case's whole tag set after it)
  {"v": 1, "kind": "follow-up", "note": "call the hospital", "due": "2026-12-20"}   (due: a date or null)
The case's tags are those of its latest verified tags annotation (in the server's order: a server can withhold
or reorder annotations as it can messages, never forge or read them); follow-up notes are every verified one.
Only messages whose author the thread check verified as a council member count (client/commands/messages.py
`open_thread`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from keys.encoding import canonical_json

ANNOTATION_PREFIX: Final = "tessera-annotation/1 "
MAX_TAGS: Final = 20
TAG: Final = re.compile(r"[^\s,]{1,40}")


class AnnotationError(ValueError):
    """A tag or follow-up note that cannot be recorded as given."""


@dataclass
class Annotations:
    tags: list[str] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # the thread without its annotations


def parse_tags(text: str) -> list[str]:
    """Tags typed by a member, separated by commas or spaces; raises AnnotationError for a bad one."""
    tags = sorted({t for t in re.split(r"[\s,]+", text.strip()) if t})
    bad = [t for t in tags if not TAG.fullmatch(t)]
    if bad or len(tags) > MAX_TAGS:
        raise AnnotationError(f"tags are at most {MAX_TAGS} words of up to 40 characters, without spaces or commas")
    return tags


def tags_text(tags: list[str]) -> str:
    return ANNOTATION_PREFIX + canonical_json({"v": 1, "kind": "tags", "tags": sorted(set(tags))}).decode()


def follow_up_text(note: str, due: str | None) -> str:
    if not note.strip():
        raise AnnotationError("a follow-up note needs some text")
    if due is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", due):
        raise AnnotationError("the due date must be a date YYYY-MM-DD")
    return ANNOTATION_PREFIX + canonical_json({"v": 1, "kind": "follow-up", "note": note.strip(), "due": due}).decode()


def _parse(text: str) -> dict[str, Any] | None:
    if not text.startswith(ANNOTATION_PREFIX):
        return None
    try:
        data = json.loads(text[len(ANNOTATION_PREFIX) :])
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("v") == 1 else None


def read_annotations(thread: list[dict[str, Any]]) -> Annotations:
    """Split a case's opened thread (`open_thread`) into tags, follow-up notes and the other messages."""
    out = Annotations()
    for m in thread:
        data = _parse(str(m.get("text", ""))) if m.get("thread") == "council" else None
        if data is None:
            out.messages.append(m)
            continue
        if not m.get("verified"):
            continue  # an annotation by an unverified sender counts for nothing
        if data.get("kind") == "tags" and isinstance(data.get("tags"), list):
            out.tags = sorted({str(t) for t in data["tags"] if isinstance(t, str) and TAG.fullmatch(t)})
        elif data.get("kind") == "follow-up" and isinstance(data.get("note"), str):
            due = data.get("due") if isinstance(data.get("due"), str) else None
            out.follow_ups.append({"note": data["note"], "due": due, "author": m.get("author"), "day": m.get("day")})
    return out
