"""Metadata removal: a photo carrying GPS tags, XMP, comments and trailing data comes out exactly as the
clean image; damaged files and formats this client cannot clean are refused with a reason."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from client.samples import CLEAN_JPEG, CLEAN_PNG, LATITUDE, exif_with_gps
from client.strip import PlanReader, StripError, plan, sniff


def segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def png_chunk(kind: bytes, body: bytes) -> bytes:
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def read_plan(path: Path, **kwargs: bool) -> tuple[bytes, list[str]]:
    p = plan(path, **kwargs)
    with PlanReader(p.path, p.ranges) as reader:
        data = reader.read()
    assert len(data) == p.size
    return data, p.removed


def test_jpeg_with_gps_comes_out_clean(tmp_path: Path) -> None:
    dirty = (
        CLEAN_JPEG[:2]
        + exif_with_gps()
        + segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>Kim Young-hee</x:xmpmeta>")
        + segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + b"profile")
        + segment(0xED, b"Photoshop 3.0\x00" + b"caption: Yanji")
        + CLEAN_JPEG[2:-2]
        + segment(0xFE, b"taken by helper 7")
        + CLEAN_JPEG[-2:]
        + b"trailing preview with EXIF"
    )
    path = tmp_path / "injury.jpg"
    path.write_bytes(dirty)
    assert LATITUDE in dirty
    cleaned, removed = read_plan(path)
    assert cleaned == CLEAN_JPEG
    assert LATITUDE not in cleaned and b"Kim" not in cleaned and b"Yanji" not in cleaned
    assert "EXIF (camera, time, settings) with GPS position" in removed
    assert "XMP metadata" in removed and "ICC colour profile" in removed and "comment" in removed
    assert any("after the end of the image" in r for r in removed)


def test_clean_jpeg_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "clean.jpg"
    path.write_bytes(CLEAN_JPEG)
    assert read_plan(path) == (CLEAN_JPEG, [])


def test_png_text_exif_and_time_are_removed(tmp_path: Path) -> None:
    ihdr_end = 8 + 25
    dirty = (
        CLEAN_PNG[:ihdr_end]
        + png_chunk(b"tEXt", b"Author\x00Kim")
        + png_chunk(b"eXIf", exif_with_gps()[10:])
        + png_chunk(b"tIME", b"\x07\xea\x0b\x1c\x01\x02\x03")
        + png_chunk(b"pHYs", b"\x00\x00\x0b\x13\x00\x00\x0b\x13\x01")
        + CLEAN_PNG[ihdr_end:]
        + b"junk"
    )
    path = tmp_path / "a.png"
    path.write_bytes(dirty)
    cleaned, removed = read_plan(path)
    assert cleaned == CLEAN_PNG[:ihdr_end] + png_chunk(b"pHYs", b"\x00\x00\x0b\x13\x00\x00\x0b\x13\x01") + CLEAN_PNG[ihdr_end:]
    assert b"Kim" not in cleaned and LATITUDE not in cleaned
    assert set(removed) >= {"text (author, software, comments)", "EXIF (camera, time, GPS position)", "modification time"}


def test_formats_that_cannot_be_cleaned_are_refused(tmp_path: Path) -> None:
    heic = tmp_path / "IMG_0001.HEIC"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100))
    with pytest.raises(StripError, match=r"HEIC photo.*--keep-metadata"):
        plan(heic)
    kept = plan(heic, keep_metadata=True)
    assert kept.ranges == [(0, heic.stat().st_size)] and kept.warning and "kept" in kept.warning


def test_documents_pass_with_a_warning(tmp_path: Path) -> None:
    pdf = tmp_path / "bill.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + bytes(50))
    p = plan(pdf)
    assert p.media_type == "application/pdf" and p.ranges == [(0, 59)] and p.removed == []
    assert p.warning and "not a photo" in p.warning
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert plan(empty).ranges == [] and plan(empty).size == 0


@pytest.mark.parametrize("cut", [3, 100, len(CLEAN_JPEG) - 1])
def test_damaged_jpeg_is_refused(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "cut.jpg"
    path.write_bytes(CLEAN_JPEG[:cut])
    with pytest.raises(StripError):
        plan(path)


def test_sniff_trusts_content_over_the_name() -> None:
    assert sniff(CLEAN_JPEG[:16], "notes.txt") == "image/jpeg"
    assert sniff(CLEAN_PNG[:16], "x.jpg") == "image/png"
    assert sniff(b"hello", "notes.txt") == "text/plain"
    assert sniff(b"\x00" * 16, "blob") == "application/octet-stream"
