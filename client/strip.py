"""What to send of a file, cleaned of metadata on the device before sealing: EXIF (camera, time, GPS
position) but its orientation, XMP, IPTC, ICC profiles, comments, text chunks, a PDF's document information,
and anything after the end of an image.

A *plan* lists the pieces to send, in order: byte ranges of the original, and bytes made here. JPEG and PNG
files are never rewritten: their plan keeps every segment and chunk the image needs to display and, in place
of the EXIF, a fresh one that holds only the orientation (client/segments.py), so a 1 GiB file costs no memory
and the same plan read again gives the same bytes (an interrupted upload resumes exactly). A HEIC photo is
converted to JPEG and a PDF rewritten without its metadata, in memory (client/convert.py); the outbox keeps the
kind of conversion, and an upload resumed after a restart converts again. WebP, TIFF and AVIF photos are
refused unless the user keeps their metadata on purpose; other files pass unchanged, with a warning.
"""

from __future__ import annotations

import mimetypes
import mmap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from client.convert import CONVERSIONS
from client.segments import Built, Kept, StripError, plan_jpeg, plan_png
from keys.encoding import b64u_decode, b64u_encode

__all__ = [  # StripError and Built are defined in client/segments.py and part of this module's interface
    "Built",
    "Converted",
    "Piece",
    "Plan",
    "PlanReader",
    "StripError",
    "piece_length",
    "pieces_from_json",
    "pieces_to_json",
    "plan",
    "sniff",
]


@dataclass(frozen=True)
class Converted:
    """The whole file, rewritten here without its metadata (`kind`: one of CONVERSIONS), `length` bytes long.
    `data` holds the bytes while this process has them; a plan read back from the outbox converts again."""

    kind: str
    length: int
    data: bytes | None = field(default=None, compare=False, repr=False)


# What to send, in order: a byte range (offset, length) of the original file, or bytes made here.
Piece = tuple[int, int] | Built | Converted


def piece_length(piece: Piece) -> int:
    if isinstance(piece, Built):
        return len(piece.data)
    if isinstance(piece, Converted):
        return piece.length
    return piece[1]


def pieces_to_json(pieces: list[Piece]) -> list[Any]:
    """The pieces as JSON values: [offset, length], {"bytes": base64url}, or {"convert": kind, "length": n}."""
    out: list[Any] = []
    for piece in pieces:
        if isinstance(piece, Built):
            out.append({"bytes": b64u_encode(piece.data)})
        elif isinstance(piece, Converted):
            out.append({"convert": piece.kind, "length": piece.length})
        else:
            out.append([piece[0], piece[1]])
    return out


def pieces_from_json(raw: list[Any]) -> list[Piece]:
    """Inverse of pieces_to_json. Raises ValueError for anything else."""
    pieces: list[Piece] = []
    for item in raw:
        if isinstance(item, dict) and set(item) == {"bytes"}:
            pieces.append(Built(b64u_decode(item["bytes"])))
        elif isinstance(item, dict) and set(item) == {"convert", "length"} and item["convert"] in CONVERSIONS:
            pieces.append(Converted(str(item["convert"]), int(item["length"])))
        elif isinstance(item, list) and len(item) == 2:
            pieces.append((int(item[0]), int(item[1])))
        else:
            raise ValueError(f"not a piece of an upload plan: {item!r:.60}")
    return pieces


@dataclass
class Plan:
    """What to send of one file: its pieces, what was removed, a warning if any, and the name to send it
    under (a HEIC converted to JPEG is sent as NAME.jpg)."""

    path: Path
    media_type: str
    ranges: list[Piece]
    removed: list[str] = field(default_factory=list)
    warning: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.path.name

    @property
    def size(self) -> int:
        return sum(piece_length(p) for p in self.ranges)

    def open(self) -> PlanReader:
        return PlanReader(self.path, self.ranges)


class PlanReader:
    """A read-only file object over the pieces of a plan: kept ranges of the file and bytes made here."""

    def __init__(self, path: Path, ranges: list[Piece]) -> None:
        self._file: BinaryIO = path.open("rb")
        self._pieces = list(ranges)
        self._index = -1
        self._left = 0
        self._memory: bytes | None = None  # the current piece, when it is not read from the file
        self._next_piece()

    def _next_piece(self) -> None:
        self._index += 1
        if self._index >= len(self._pieces):
            return
        piece = self._pieces[self._index]
        self._memory = None
        if isinstance(piece, Built):
            self._memory = piece.data
        elif isinstance(piece, Converted):
            self._memory = piece.data if piece.data is not None else self._convert_again(piece.kind)
        else:
            offset, self._left = piece
            self._file.seek(offset)
            return
        self._left = len(self._memory)

    def _convert_again(self, kind: str) -> bytes:
        try:
            return CONVERSIONS[kind][1](self._file).data
        except StripError:
            return b""  # the file changed into something unreadable: the caller notices the short read

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        want = size if size >= 0 else 1 << 62
        while want > 0 and self._index < len(self._pieces):
            if self._left == 0:
                self._next_piece()
                continue
            count = min(want, self._left)
            if self._memory is not None:
                start = len(self._memory) - self._left
                data = self._memory[start : start + count]
            else:
                data = self._file.read(count)
            if not data:
                break  # the file shrank: the reader's caller notices the short read
            parts.append(data)
            self._left -= len(data)
            want -= len(data)
        return b"".join(parts)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PlanReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- detection ------------------------------------------------------------------------------------------

_UNCLEANABLE = {"image/webp": "WebP", "image/tiff": "TIFF", "image/avif": "AVIF"}


def sniff(head: bytes, name: str) -> str:
    """The media type from the first bytes (never trusting the name for photos), else from the name."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif"):
        return "image/heic" if head[8:12] != b"avif" else "image/avif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def plan(path: Path, *, keep_metadata: bool = False) -> Plan:
    """How to send `path`: cleaned of metadata (JPEG, PNG, HEIC as JPEG, PDF), or whole.
    Raises StripError (an empty photo or PDF, a damaged one, a format this client cannot clean) or OSError."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(16)
    media_type = sniff(head, path.name)
    if size == 0 and (media_type.startswith("image/") or media_type == "application/pdf"):
        raise StripError(
            "the file is empty (0 bytes): there is no picture or document in it to send, with or without "
            "--keep-metadata; copy it again from the phone or wherever it came from"
        )
    whole: list[Piece] = [(0, size)] if size else []
    if keep_metadata:
        return Plan(path, media_type, whole, warning="metadata kept on purpose (--keep-metadata)")
    if media_type in _UNCLEANABLE:
        raise StripError(
            f"{path.name} is a {_UNCLEANABLE[media_type]} photo, and this client cannot remove its metadata "
            "(camera, time, GPS position): convert it to JPEG first, or send it as it is with --keep-metadata"
        )
    if media_type == "image/jpeg":
        return _with_mmap(path, media_type, plan_jpeg)
    if media_type == "image/png":
        return _with_mmap(path, media_type, plan_png)
    if media_type == "image/heic":
        return _converted(path, "jpeg-from-heic", warning="HEIC photo converted to JPEG on this device (sent as {name})")
    if media_type == "application/pdf":
        return _converted(
            path,
            "pdf",
            warning="the pages themselves (text, pictures, comments, form fields, attached files) are sent as they "
            "are: check them before sending",
        )
    warning = None
    if not media_type.startswith("text/"):
        warning = "not a photo: sent unchanged (documents can carry an author name or other details; check before sending)"
    return Plan(path, media_type, whole, warning=warning)


def _with_mmap(path: Path, media_type: str, planner: Callable[[Any], tuple[list[Kept], list[str]]]) -> Plan:
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        ranges, removed = planner(data)
    return Plan(path, media_type, _merge(ranges), removed)


def _converted(path: Path, kind: str, *, warning: str) -> Plan:
    media_type, convert = CONVERSIONS[kind]
    with path.open("rb") as source:
        done = convert(source)
    name = path.name if media_type != "image/jpeg" else path.stem + ".jpg"
    warnings = [warning.format(name=name), *done.warnings]
    return Plan(path, media_type, [Converted(kind, len(done.data), done.data)], done.removed, "; ".join(warnings), name)


def _merge(ranges: list[Kept]) -> list[Piece]:
    merged: list[Piece] = []
    for piece in ranges:
        if not isinstance(piece, tuple):
            merged.append(piece)
            continue
        offset, length = piece
        if length <= 0:
            continue
        last = merged[-1] if merged else None
        if isinstance(last, tuple) and last[0] + last[1] == offset:
            merged[-1] = (last[0], last[1] + length)
        else:
            merged.append((offset, length))
    return merged
