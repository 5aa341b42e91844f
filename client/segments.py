"""Cutting metadata out of JPEG and PNG files without rewriting them: which segments (JPEG) and chunks
(PNG) to keep, read from the file's own structure, and the one piece of EXIF worth keeping, the orientation.

Phones store a portrait photo sideways and say "rotate 90°" in its EXIF; without that tag it displays
sideways. So a fresh EXIF holding the orientation alone is built here and takes the old one's place, and the
image data stays byte for byte the original (applying the rotation to the pixels instead would mean decoding
and encoding again, losing quality). No maintained library lists the byte ranges to keep without rewriting
the file, hence these walkers.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from dataclasses import dataclass


class StripError(Exception):
    """The file cannot be cleaned of metadata here."""


@dataclass(frozen=True)
class Built:
    """Bytes made here rather than read from the file: a minimal EXIF that holds the orientation only."""

    data: bytes


# What a walker keeps, in order: a byte range (offset, length) of the file, or bytes built here.
Kept = tuple[int, int] | Built


def unique(items: list[str]) -> list[str]:
    """`items` without repeats, in order."""
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


# -- EXIF: the first directory's entries, and a fresh EXIF holding only the orientation -----------------

EXIF_HEADER = b"Exif\x00\x00"  # before the TIFF structure, in a JPEG's APP1 segment and in HEIC files
_ORIENTATION, _GPS_IFD = 0x0112, 0x8825
_SHORT = 3


def _ifd0(tiff: bytes) -> tuple[str, dict[int, tuple[int, int, bytes]]]:
    """The byte order and the first directory (IFD0) of an EXIF TIFF structure: tag -> (type, count, value
    field). Damaged or cut structures give what could be read (nothing, at worst)."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return "<", {}
    order = "<" if tiff[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", tiff, 4)
    if offset + 2 > len(tiff):
        return order, {}
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    entries: dict[int, tuple[int, int, bytes]] = {}
    for i in range(count):
        at = offset + 2 + 12 * i
        if at + 12 > len(tiff):
            break
        tag, kind, number = struct.unpack_from(order + "HHI", tiff, at)
        entries.setdefault(tag, (kind, number, tiff[at + 8 : at + 12]))
    return order, entries


def exif_has_gps(tiff: bytes) -> bool:
    """True when an EXIF TIFF structure's first directory points to a GPS directory."""
    return _GPS_IFD in _ifd0(tiff)[1]


def _orientation(tiff: bytes) -> int:
    """The EXIF orientation (1 to 8; 1 is upright, 6 is "rotate 90° clockwise to display"), 1 when absent."""
    order, entries = _ifd0(tiff)
    kind, number, value = entries.get(_ORIENTATION, (0, 0, b""))
    if kind != _SHORT or number != 1:
        return 1
    (orientation,) = struct.unpack_from(order + "H", value)
    return orientation if 1 <= orientation <= 8 else 1


def _orientation_only(orientation: int) -> bytes:
    """A TIFF structure with a single entry in IFD0: the orientation (a SHORT stored in the entry itself)."""
    return b"MM\x00\x2a" + struct.pack(">IHHHIHHI", 8, 1, _ORIENTATION, _SHORT, 1, orientation, 0, 0)


# -- JPEG -----------------------------------------------------------------------------------------------

_APP_NAMES = [
    (b"Exif\x00", "EXIF (camera, time, settings)"),
    (b"http://ns.adobe.com/xap/1.0/", "XMP metadata"),
    (b"http://ns.adobe.com/xmp/extension/", "XMP metadata"),
    (b"ICC_PROFILE\x00", "ICC colour profile"),
    (b"MPF\x00", "multi-picture index (embedded previews)"),
    (b"Photoshop 3.0\x00", "Photoshop/IPTC metadata (captions, names, places)"),
]


def _describe_app(marker: int, segment: bytes) -> str | None:
    """None to keep the segment; else what removing it removes."""
    if marker == 0xE0 and segment[:5] in (b"JFIF\x00", b"JFXX\x00"):
        return None
    if marker == 0xEE and segment.startswith(b"Adobe"):
        return None  # colour transform flags the decoder needs; no personal data
    for prefix, text in _APP_NAMES:
        if segment.startswith(prefix):
            if prefix == b"Exif\x00" and exif_has_gps(segment[6:]):
                return "EXIF (camera, time, settings) with GPS position"
            return text
    return f"APP{marker - 0xE0} segment"


def plan_jpeg(data: mmap.mmap | bytes, *, keep_orientation: bool = True) -> tuple[list[Kept], list[str]]:
    """What to keep of a JPEG file, and what dropping the rest removes. Raises StripError when damaged."""
    size = len(data)
    keep: list[Kept] = [(0, 2)]  # SOI
    removed: list[str] = []
    oriented = False
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
            return keep, unique(removed)
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
                segment = bytes(data[pos + 2 : end]) if marker == 0xE1 else b""
                orientation = _orientation(segment[6:]) if segment.startswith(EXIF_HEADER) and keep_orientation else 1
                if orientation != 1 and not oriented:
                    body = EXIF_HEADER + _orientation_only(orientation)
                    keep.append(Built(b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body))
                    oriented = True
                    what += " (its orientation kept)"
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


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def plan_png(data: mmap.mmap | bytes) -> tuple[list[Kept], list[str]]:
    """What to keep of a PNG file, and what dropping the rest removes. Raises StripError when damaged."""
    size = len(data)
    keep: list[Kept] = [(0, 8)]
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
            return keep, unique(removed)
        if critical or kind in _PNG_KEEP:
            keep.append((pos, end - pos))
        else:
            what = _PNG_NAMES.get(kind, f"{kind.decode('ascii')} chunk")
            orientation = _orientation(bytes(data[pos + 8 : end - 4])) if kind == b"eXIf" else 1
            if orientation != 1 and not any(isinstance(p, Built) for p in keep):
                keep.append(Built(_png_chunk(b"eXIf", _orientation_only(orientation))))
                what += " (its orientation kept)"
            removed.append(what)
        pos = end
