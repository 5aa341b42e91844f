"""Metadata removal: a photo carrying GPS tags, XMP, comments and trailing data comes out exactly as the
clean image, but for its orientation; a HEIC comes out as a clean JPEG, a PDF without its document information
and XMP; damaged or empty files and formats this client cannot clean are refused with a reason."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pikepdf
import pillow_heif
import pytest
from PIL import Image, ImageOps, PngImagePlugin

from client.attaching import plan_files
from client.attachments import PendingUpload, prepare_upload
from client.samples import CLEAN_JPEG, CLEAN_PNG, LATITUDE, exif_with_gps, photo_with_gps
from client.session import UsageError
from client.strip import PlanReader, StripError, pieces_from_json, pieces_to_json, plan, sniff
from keys.envelope import new_case_id, reply_keys

ORIENTATION, MAKE, GPS_IFD = 0x0112, 0x010F, 0x8825
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">taken by Kim Young-hee in Yanji</x:xmpmeta>'
RED, BLUE = (220, 20, 20), (20, 20, 220)


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


def phone_photo(fmt: str) -> tuple[bytes, Image.Image]:
    """A 40x20 picture (left half red, right half blue) stored the way phones store a portrait photo: sideways,
    with EXIF Orientation 6 ("rotate 90 degrees clockwise to display"), the camera, a GPS position and XMP.
    Returns the file and the picture as it should display (20x40: red on top)."""
    picture = Image.new("RGB", (40, 20), RED)
    picture.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[MAKE] = "PhoneMaker"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (39.0, 1.0, 0.0), 27: LATITUDE.decode()})
    out = io.BytesIO()
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        picture.save(out, "PNG", exif=exif, pnginfo=info)
    elif fmt == "HEIC":
        pillow_heif.from_pillow(picture).save(out, exif=exif.tobytes(), xmp=XMP, quality=90)
    else:
        picture.save(out, "JPEG", exif=exif, xmp=XMP, quality=90)
    return out.getvalue(), picture.transpose(Image.Transpose.ROTATE_270)


def assert_displays_as(data: bytes, expected: Image.Image) -> Image.Image:
    """`data` opens as a picture of the expected size as displayed (orientation applied), red on top."""
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert shown.size == expected.size == (20, 40)
    top, bottom = shown.convert("RGB").getpixel((10, 5)), shown.convert("RGB").getpixel((10, 35))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0], (top, bottom)
    return shown


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_portrait_photo_keeps_its_orientation_and_nothing_else(tmp_path: Path, fmt: str) -> None:
    dirty, expected = phone_photo(fmt)
    path = tmp_path / f"portrait.{fmt.lower()}"
    path.write_bytes(dirty)
    assert b"PhoneMaker" in dirty and LATITUDE in dirty and b"Kim Young-hee" in dirty
    assert_displays_as(dirty, expected)

    cleaned, removed = read_plan(path)
    assert b"PhoneMaker" not in cleaned and LATITUDE not in cleaned and b"Kim Young-hee" not in cleaned
    opened = Image.open(io.BytesIO(cleaned))
    assert dict(opened.getexif()) == {ORIENTATION: 6}  # a fresh EXIF with the orientation alone: no GPS directory
    assert opened.size == (40, 20)  # stored sideways, as the phone stored it ...
    assert_displays_as(cleaned, expected)  # ... and displayed upright, 20x40, as before
    assert opened.tobytes() == Image.open(io.BytesIO(dirty)).tobytes()
    if fmt == "JPEG":  # the compressed image data is copied byte for byte
        assert cleaned[cleaned.index(b"\xff\xda") :] == dirty[dirty.index(b"\xff\xda") :]
        assert "EXIF (camera, time, settings) with GPS position (its orientation kept)" in removed
        assert "XMP metadata" in removed
    else:
        assert "EXIF (camera, time, GPS position) (its orientation kept)" in removed
        assert "text (author, software, comments, XMP)" in removed


def test_a_plan_read_back_from_the_outbox_gives_the_same_bytes(tmp_path: Path) -> None:
    dirty, _ = phone_photo("JPEG")
    path = tmp_path / "portrait.jpg"
    path.write_bytes(dirty)
    p = plan(path)
    again = pieces_from_json(pieces_to_json(p.ranges))
    assert again == p.ranges
    with p.open() as first, PlanReader(path, again) as second:
        assert first.read() == b"".join(iter(lambda: second.read(7), b""))


@pytest.mark.parametrize("what", ["portrait.jpg", "IMG_0001.HEIC", "bill.pdf"])
def test_the_outbox_record_of_an_upload_keeps_its_plan(tmp_path: Path, what: str) -> None:
    """The pending upload in the outbox (its record is all that survives a restart) reads the same bytes."""
    path = tmp_path / what
    path.write_bytes(document_pdf() if what.endswith(".pdf") else phone_photo("HEIC" if "HEIC" in what else "JPEG")[0])
    p = plan(path)
    case_id = new_case_id()
    pending = prepare_upload(
        case_id=case_id,
        plan=p,
        kind="case",
        reply=reply_keys(bytes(32), case_id),
        case_key=bytes(32),
        identity_attachment_key=bytes(32),
    )
    assert pending.descriptor.name == p.name and pending.descriptor.size == p.size
    again = PendingUpload.from_json(pending.to_json())
    with p.open() as first, PlanReader(again.path, again.ranges) as second:
        assert first.read() == second.read()


def test_heic_comes_out_as_a_clean_upright_jpeg(tmp_path: Path) -> None:
    dirty, expected = phone_photo("HEIC")
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(dirty)
    assert sniff(dirty[:16], "x") == "image/heic"
    assert b"PhoneMaker" in dirty and LATITUDE in dirty and b"Kim Young-hee" in dirty

    p = plan(path)
    cleaned, removed = read_plan(path)
    assert p.media_type == "image/jpeg" and p.name == "IMG_0001.jpg" and sniff(cleaned[:16], "x") == "image/jpeg"
    assert p.warning and "converted to JPEG" in p.warning and "IMG_0001.jpg" in p.warning
    assert b"PhoneMaker" not in cleaned and LATITUDE not in cleaned and b"Kim Young-hee" not in cleaned
    opened = Image.open(io.BytesIO(cleaned))
    assert dict(opened.getexif()) == {} and "xmp" not in opened.info and "icc_profile" not in opened.info
    assert opened.size == (20, 40)  # the rotation is in the pixels now: nothing to apply when displaying
    assert_displays_as(cleaned, expected)
    assert "EXIF (camera, time, settings) with GPS position" in removed and "XMP metadata" in removed

    # after a restart the outbox holds only the kind of conversion: reading converts again, to the same bytes
    with PlanReader(path, pieces_from_json(pieces_to_json(p.ranges))) as reader:
        assert reader.read() == cleaned


def test_formats_that_cannot_be_cleaned_are_refused(tmp_path: Path) -> None:
    webp = tmp_path / "IMG_0002.webp"
    webp.write_bytes(b"RIFF\x00\x01\x00\x00WEBPVP8 " + bytes(100))
    with pytest.raises(StripError, match=r"WebP photo.*--keep-metadata"):
        plan(webp)
    heic = tmp_path / "IMG_0001.HEIC"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100))
    with pytest.raises(StripError, match=r"HEIC photo cannot be read.*--keep-metadata"):
        plan(heic)
    kept = plan(heic, keep_metadata=True)
    assert kept.ranges == [(0, heic.stat().st_size)] and kept.warning and "kept" in kept.warning


def document_pdf() -> bytes:
    """A one-page PDF with an author, a creator and XMP, and a photo on the page carrying a GPS position;
    saved uncompressed, so the strings show in its bytes."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    page = pdf.pages[0]
    photo = pdf.make_stream(
        photo_with_gps(),
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=2,
        Height=2,
        ColorSpace=pikepdf.Name.DeviceRGB,
        BitsPerComponent=8,
        Filter=pikepdf.Name.DCTDecode,
    )
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=photo))
    page.Contents = pdf.make_stream(b"q 100 0 0 100 50 50 cm /Im0 Do Q BT 20 20 Td (medical note) Tj ET")
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
        meta["dc:creator"] = ["XmpAuthorPark"]
        meta["xmp:CreatorTool"] = "ScannerXmpTool"
    pdf.docinfo["/Author"] = "Kim Young-hee"
    pdf.docinfo["/Creator"] = "Scanner App on a Galaxy"
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def all_text(data: bytes) -> bytes:
    """The PDF again with every stream decoded, so no compression hides a string from the test."""
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.save(out, compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.generalized)
    return out.getvalue()


SECRETS = [b"Kim Young-hee", b"Galaxy", b"XmpAuthorPark", b"ScannerXmpTool", LATITUDE]


def test_pdf_loses_its_document_information_and_xmp_and_keeps_its_pages(tmp_path: Path) -> None:
    dirty = document_pdf()
    path = tmp_path / "bill.pdf"
    path.write_bytes(dirty)
    for secret in SECRETS:
        assert secret in dirty and secret in all_text(dirty), secret

    p = plan(path)
    cleaned, removed = read_plan(path)
    assert p.media_type == "application/pdf" and p.name == "bill.pdf"
    text = all_text(cleaned)
    for secret in SECRETS:
        assert secret not in cleaned and secret not in text, secret
    with pikepdf.open(io.BytesIO(cleaned)) as pdf:
        assert "/Info" not in pdf.trailer and "/Metadata" not in pdf.Root
        page = pdf.pages[0]
        assert b"(medical note) Tj" in page.Contents.read_bytes()  # the page's content is kept
        assert page.Resources.XObject.Im0.read_raw_bytes() == CLEAN_JPEG  # the photo, without its EXIF
    assert "document information (author, title, software, dates)" in removed and "XMP metadata" in removed
    assert "EXIF and other metadata of 1 photo(s) in the document" in removed
    assert p.warning and "check them before sending" in p.warning
    with PlanReader(path, pieces_from_json(pieces_to_json(p.ranges))) as reader:
        assert reader.read() == cleaned  # converted again after a restart: the same bytes, so the upload resumes


def test_pdf_that_cannot_be_cleaned_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked.pdf"
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(locked, encryption=pikepdf.Encryption(user="secret", owner="secret"))
    with pytest.raises(StripError, match=r"protected by a password.*--keep-metadata"):
        plan(locked)
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(b"%PDF-1.7\n" + bytes(50))
    with pytest.raises(StripError, match=r"cannot be read \(damaged"):
        plan(damaged)


def test_other_documents_pass_with_a_warning(tmp_path: Path) -> None:
    doc = tmp_path / "letter.docx"
    doc.write_bytes(b"PK\x03\x04" + bytes(50))
    p = plan(doc)
    assert p.ranges == [(0, 54)] and p.removed == [] and p.warning and "not a photo" in p.warning
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert plan(empty).ranges == [] and plan(empty).size == 0


@pytest.mark.parametrize("name", ["empty.jpg", "empty.png", "empty.HEIC", "empty.pdf"])
def test_an_empty_photo_or_pdf_is_refused_with_a_clear_message(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    for keep in (False, True):
        with pytest.raises(StripError, match=r"^the file is empty \(0 bytes\)"):
            plan(path, keep_metadata=keep)
    with pytest.raises(UsageError) as refused:  # what the user reads: no traceback, no useless hint
        plan_files([path], keep_metadata=False)
    assert str(refused.value).startswith(f"{name}: the file is empty (0 bytes)")
    assert "to send it unchanged" not in str(refused.value)


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
