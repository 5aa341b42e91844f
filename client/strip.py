"""Removing metadata from photos on the device, before sealing: EXIF (camera, time, GPS position), XMP,
IPTC, ICC profiles, comments, text chunks and anything after the end of the image.

The file is never rewritten: a *plan* lists the byte ranges of the original to keep (every segment and
chunk the image needs to display), and `PlanReader` reads just those. So a 1 GiB file costs no memory,
and the same plan read again gives the same bytes (an interrupted upload resumes exactly).
JPEG and PNG are cleaned. HEIC, WebP and TIFF photos are refused (no reader here to clean them) unless
the user keeps their metadata on purpose; other files (PDF, documents) pass unchanged, with a warning.
"""

from __future__ import annotations

import mimetypes
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO


class StripError(Exception):
    """The file cannot be cleaned of metadata here."""


@dataclass
class Plan:
    """What to send of one file: byte ranges of the original, what was removed, and a warning if any."""

    path: Path
    media_type: str
    ranges: list[tuple[int, int]]
    removed: list[str] = field(default_factory=list)
    warning: str | None = None

    @property
    def size(self) -> int:
        return sum(length for _, length in self.ranges)

    def open(self) -> PlanReader:
        return PlanReader(self.path, self.ranges)


class PlanReader:
    """A read-only file object over the kept ranges of a file."""

    def __init__(self, path: Path, ranges: list[tuple[int, int]]) -> None:
        self._file: BinaryIO = path.open("rb")
        self._ranges = list(ranges)
        self._index = 0
        self._left = self._ranges[0][1] if self._ranges else 0
        if self._ranges:
            self._file.seek(self._ranges[0][0])

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        want = size if size >= 0 else 1 << 62
        while want > 0 and self._index < len(self._ranges):
            if self._left == 0:
                self._index += 1
                if self._index < len(self._ranges):
                    offset, self._left = self._ranges[self._index]
                    self._file.seek(offset)
                continue
            data = self._file.read(min(want, self._left))
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

_UNCLEANABLE = {"image/heic": "HEIC", "image/webp": "WebP", "image/tiff": "TIFF"}


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
    """How to send `path`: cleaned of metadata (JPEG, PNG), or whole. Raises StripError or OSError."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(16)
    media_type = sniff(head, path.name)
    whole = [(0, size)] if size else []
    if keep_metadata:
        return Plan(path, media_type, whole, warning="metadata kept on purpose (--keep-metadata)")
    if media_type in ("image/heic", "image/avif") or media_type in _UNCLEANABLE:
        name = _UNCLEANABLE.get(media_type, "HEIC/AVIF")
        raise StripError(
            f"{path.name} is a {name} photo, and this client cannot remove its metadata (camera, time, GPS position): "
            "convert it to JPEG first, or send it as it is with --keep-metadata"
        )
    if media_type == "image/jpeg":
        return _with_mmap(path, media_type, _plan_jpeg)
    if media_type == "image/png":
        return _with_mmap(path, media_type, _plan_png)
    warning = None
    if not media_type.startswith("text/"):
        warning = "not a photo: sent unchanged (documents can carry an author name or other details; check before sending)"
    return Plan(path, media_type, whole, warning=warning)


def _with_mmap(path: Path, media_type: str, planner: object) -> Plan:
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        ranges, removed = planner(data)  # type: ignore[operator]
    return Plan(path, media_type, _merge(ranges), removed)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for offset, length in ranges:
        if length <= 0:
            continue
        if merged and merged[-1][0] + merged[-1][1] == offset:
            merged[-1] = (merged[-1][0], merged[-1][1] + length)
        else:
            merged.append((offset, length))
    return merged


# -- JPEG -----------------------------------------------------------------------------------------------

_APP_NAMES = [
    (b"Exif\x00", "EXIF (camera, time, settings)"),
    (b"http://ns.adobe.com/xap/1.0/", "XMP metadata"),
    (b"http://ns.adobe.com/xmp/extension/", "XMP metadata"),
    (b"ICC_PROFILE\x00", "ICC colour profile"),
    (b"MPF\x00", "multi-picture index (embedded previews)"),
    (b"Photoshop 3.0\x00", "Photoshop/IPTC metadata (captions, names, places)"),
]


def _exif_has_gps(segment: bytes) -> bool:
    """True when an EXIF segment's first IFD points to a GPS IFD (tag 0x8825)."""
    tiff = segment[6:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return False
    order = "<" if tiff[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", tiff, 4)
    if offset + 2 > len(tiff):
        return False
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    for i in range(count):
        at = offset + 2 + 12 * i
        if at + 2 > len(tiff):
            return False
        if struct.unpack_from(order + "H", tiff, at)[0] == 0x8825:
            return True
    return False


def _describe_app(marker: int, segment: bytes) -> str | None:
    """None to keep the segment; else what removing it removes."""
    if marker == 0xE0 and segment[:5] in (b"JFIF\x00", b"JFXX\x00"):
        return None
    if marker == 0xEE and segment.startswith(b"Adobe"):
        return None  # colour transform flags the decoder needs; no personal data
    for prefix, text in _APP_NAMES:
        if segment.startswith(prefix):
            if prefix == b"Exif\x00" and _exif_has_gps(segment):
                return "EXIF (camera, time, settings) with GPS position"
            return text
    return f"APP{marker - 0xE0} segment"


def _plan_jpeg(data: mmap.mmap) -> tuple[list[tuple[int, int]], list[str]]:
    size = len(data)
    keep: list[tuple[int, int]] = [(0, 2)]  # SOI
    removed: list[str] = []
    pos = 2
    while True:
        if pos >= size:
            raise StripError("the JPEG file ends before its end-of-image marker (damaged?)")
        if data[pos] != 0xFF:
            raise StripError(f"the JPEG file is malformed at byte {pos} (damaged, or not a JPEG)")
        start = pos
        while pos < size and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= size:
            raise StripError("the JPEG file ends inside a marker")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            keep.append((start, pos - start))
            if pos < size:
                removed.append(f"{size - pos} bytes after the end of the image (hidden data or previews)")
            return keep, _unique(removed)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            keep.append((start, pos - start))
            continue
        if pos + 2 > size:
            raise StripError("the JPEG file ends inside a segment header")
        length = int.from_bytes(data[pos : pos + 2], "big")
        end = pos + length
        if length < 2 or end > size:
            raise StripError("a JPEG segment runs past the end of the file (damaged?)")
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            what = "comment" if marker == 0xFE else _describe_app(marker, bytes(data[pos + 2 : min(end, pos + 2 + 4096)]))
            if what is None:
                keep.append((start, end - start))
            else:
                removed.append(what)
            pos = end
            continue
        keep.append((start, end - start))
        pos = end
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            scan = pos
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= size:
                    raise StripError("the JPEG image data is cut short (no end-of-image marker)")
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2  # stuffed byte or restart marker: still image data
                    continue
                if following == 0xFF:
                    pos += 1
                    continue
                break
            keep.append((scan, pos - scan))


def _unique(items: list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


# -- PNG ------------------------------------------------------------------------------------------------

_PNG_KEEP = {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD", b"pHYs", b"acTL", b"fcTL", b"fdAT", b"PLTE", b"IDAT"}
_PNG_NAMES = {
    b"tEXt": "text (author, software, comments)",
    b"zTXt": "text (author, software, comments)",
    b"iTXt": "text (author, software, comments, XMP)",
    b"eXIf": "EXIF (camera, time, GPS position)",
    b"tIME": "modification time",
    b"iCCP": "ICC colour profile",
}


def _plan_png(data: mmap.mmap) -> tuple[list[tuple[int, int]], list[str]]:
    size = len(data)
    keep: list[tuple[int, int]] = [(0, 8)]
    removed: list[str] = []
    pos = 8
    while True:
        if pos + 12 > size:
            raise StripError("the PNG file ends before its IEND chunk (damaged?)")
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = bytes(data[pos + 4 : pos + 8])
        end = pos + 12 + length
        if end > size or not kind.isalpha():
            raise StripError(f"the PNG file is malformed at byte {pos} (damaged, or not a PNG)")
        critical = kind[0:1].isupper()
        if kind == b"IEND":
            keep.append((pos, end - pos))
            if end < size:
                removed.append(f"{size - end} bytes after the end of the image (hidden data)")
            return keep, _unique(removed)
        if critical or kind in _PNG_KEEP:
            keep.append((pos, end - pos))
        else:
            removed.append(_PNG_NAMES.get(kind, f"{kind.decode('ascii')} chunk"))
        pos = end
