"""Addenda: what a helper adds to her case after the intake (protocol doc §8c). An amendment carries case-file
fields (what a request-info decision asked for) and a note; a withdrawal asks the council to close the case.

An addendum travels as a case-thread message (keys/messages.py) whose text is `ADDENDUM_PREFIX` followed by the
canonical JSON of an `Addendum`: sealed to the current council and the case's reply key, signed inside with the
case's reply key (author "helper"), bound to the case by the message's associated data and again by the
addendum's own `case_id`. Readers count it as the helper's only when the message's author key is the reply key
the helper signed into the case file (client/threads.py); the server sees one more case-thread message and no
more. Identity fields never travel in an addendum: they are sealed to the threshold key at intake only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from keys.encoding import canonical_json
from keys.errors import EncodingError
from keys.kem import CASE_ID_SIZE
from keys.wire import MAX_TEXT, decode_json, require_len, require_text, require_version, to_wire

ADDENDUM_PREFIX: Final = "tessera-addendum/v1 "
ADDENDUM_KINDS: Final = ("amendment", "withdrawal")
MAX_FIELDS: Final = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class AddendumField:
    VERSION: ClassVar[int] = 1
    v: int
    name: str
    value: str

    def __post_init__(self) -> None:
        require_version(self)
        require_text("name", self.name, max_len=64)
        if not isinstance(self.value, str) or len(self.value) > 8000:
            raise EncodingError("value: expected text of at most 8000 characters")


@dataclass(frozen=True, slots=True, kw_only=True)
class Addendum:
    VERSION: ClassVar[int] = 1
    v: int
    case_id: bytes
    kind: str  # "amendment" or "withdrawal"
    fields: tuple[AddendumField, ...]  # case-file fields, as text (an amendment; none for a withdrawal)
    note: str  # what the helper says: the answer to a request, the reason for a withdrawal ("" for none)

    def __post_init__(self) -> None:
        require_version(self)
        require_len("case_id", self.case_id, CASE_ID_SIZE)
        if self.kind not in ADDENDUM_KINDS:
            raise EncodingError(f"kind must be one of {', '.join(ADDENDUM_KINDS)}")
        if len(self.fields) > MAX_FIELDS or len({f.name for f in self.fields}) != len(self.fields):
            raise EncodingError(f"fields: at most {MAX_FIELDS}, each named once")
        if self.kind == "withdrawal" and self.fields:
            raise EncodingError("a withdrawal carries no fields")
        if not isinstance(self.note, str) or len(self.note) > MAX_TEXT:
            raise EncodingError(f"note: expected text of at most {MAX_TEXT} characters")
        if self.kind == "amendment" and not self.fields and not self.note:
            raise EncodingError("an amendment carries fields or a note")


def addendum_text(addendum: Addendum) -> str:
    """The message text that carries `addendum`."""
    return ADDENDUM_PREFIX + canonical_json(to_wire(addendum)).decode()


def parse_addendum(text: str, *, case_id: bytes) -> Addendum | None:
    """The addendum a message text carries, or None for an ordinary message. Raises EncodingError when the text
    claims to be an addendum but does not parse, or names another case."""
    if not text.startswith(ADDENDUM_PREFIX):
        return None
    addendum = decode_json(Addendum, text[len(ADDENDUM_PREFIX) :].encode())
    if addendum.case_id != case_id:
        raise EncodingError("the addendum names another case")
    return addendum
