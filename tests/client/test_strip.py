"""Metadata removal: a photo carrying GPS tags, XMP, comments and trailing data comes out exactly as the
clean image; damaged files and formats this client cannot clean are refused with a reason."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from client.strip import PlanReader, StripError, plan, sniff

# Provenance: Pillow 13.0.0, Image.new("RGB", (2, 2), (200, 30, 30)) saved as JPEG (quality=50) and as PNG.
CLEAN_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a181616183123251d283a"
    "333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c656763ffdb0043011112121815182f1a1a"
    "2f634238426363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363"
    "636363ffc00011080002000203012200021101031101ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c1"
    "1552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63646566676869"
    "6a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9"
    "cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffc4001f01000301010101010101010100000000000001"
    "02030405060708090a0bffc400b51100020102040403040705040400010277000102031104052131061241510761711322328108"
    "144291a1b1c109233352f0156272d10a162434e125f11718191a262728292a35363738393a434445464748494a53545556575859"
    "5a636465666768696a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9"
    "bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c03010002110311003f00c7"
    "a28a2b84fa83ffd9"
)
CLEAN_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a730000001649444154789c633c2127c7c0c0c0c4"
    "c0c0c0c0c000000d0401087d71ca660000000049454e44ae426082"
)
LATITUDE = b"39 deg 1 min N, secret village"


def exif_with_gps() -> bytes:
    """An APP1 EXIF segment (little-endian TIFF) whose IFD0 points to a GPS IFD with a latitude."""
    gps_ifd_offset = 8 + 2 + 12 + 4
    gps = struct.pack("<H", 2)
    gps += struct.pack("<HHII", 0x0001, 2, 2, int.from_bytes(b"N\x00\x00\x00", "little"))  # GPSLatitudeRef
    text_offset = gps_ifd_offset + 2 + 2 * 12 + 4
    gps += struct.pack("<HHII", 0x010E, 2, len(LATITUDE), text_offset)  # a text tag carrying the place
    gps += struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x8825, 4, 1, gps_ifd_offset)
    tiff += struct.pack("<I", 0) + gps + LATITUDE
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


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
