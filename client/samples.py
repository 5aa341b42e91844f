"""A sample photo for `tessera demo` and the tests: a tiny JPEG, and the same JPEG carrying an EXIF
segment with a GPS position, the way a phone camera writes one."""

from __future__ import annotations

import struct

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


def photo_with_gps() -> bytes:
    """CLEAN_JPEG with an EXIF segment carrying a GPS position right after its start marker."""
    return CLEAN_JPEG[:2] + exif_with_gps() + CLEAN_JPEG[2:]
