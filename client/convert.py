"""Files whose metadata cannot be cut out, rewritten without it in memory: a HEIC photo as a JPEG, a PDF
without its document information, XMP, identifier and application data.

HEIC (iPhones' default) keeps its metadata as items the container indexes by offset, and the library that
reads it (pi-heif over libheif; decoding only, so no GPL encoder ships with the client) writes nothing but
freshly encoded files. So the picture is decoded, the container's rotation applied, and encoded as a JPEG
that carries nothing else; a JPEG also opens wherever the council reads it, which a HEIC does not. PDFs are
rewritten by pikepdf (qpdf), and the JPEG photos inside them lose their metadata through the same walker as
photos. Both give the same bytes each time for the same file and library versions, so an upload that resumes
after a restart converts again and continues.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from client.segments import EXIF_HEADER, StripError, exif_has_gps, plan_jpeg, unique


@dataclass(frozen=True)
class Conversion:
    """A file rewritten without its metadata: the bytes to send, what was removed, what the user should know."""

    data: bytes
    removed: list[str]
    warnings: list[str] = field(default_factory=list)


# -- HEIC, converted to JPEG ----------------------------------------------------------------------------

JPEG_QUALITY = 92  # what phones use for "most compatible" photos: no visible loss, a third of a PNG's size


def heic_to_jpeg(source: BinaryIO) -> Conversion:
    """The primary picture of a HEIC file as a JPEG without metadata, and what was left behind."""
    import pi_heif
    from PIL import ImageCms

    source.seek(0)
    try:
        heif = pi_heif.open_heif(source, convert_hdr_to_8bit=True)
        info = heif.info
        image = heif.to_pillow()  # decoded with the container's rotation and mirroring applied
    except (ValueError, RuntimeError, OSError, SyntaxError) as exc:
        raise StripError(
            f"the HEIC photo cannot be read ({exc}; damaged, or a kind of HEIF this client cannot decode): convert it "
            "to JPEG first, or send it as it is with --keep-metadata"
        ) from exc
    removed: list[str] = []
    exif = info.get("exif") or b""
    if exif:
        gps = exif_has_gps(exif[6:] if exif.startswith(EXIF_HEADER) else exif)
        removed.append("EXIF (camera, time, settings)" + (" with GPS position" if gps else ""))
    if info.get("xmp"):
        removed.append("XMP metadata")
    if info.get("metadata"):
        removed.append("other metadata blocks (IPTC)")
    if info.get("thumbnails"):
        removed.append("embedded previews")
    if info.get("depth_images") or info.get("aux"):
        removed.append("depth map and other auxiliary images")
    if len(heif) > 1:
        removed.append(f"{len(heif) - 1} other picture(s) in the file (bursts, edits)")
    icc = info.get("icc_profile")
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")  # a JPEG holds no transparency
    if icc:
        removed.append("ICC colour profile (colours converted to sRGB)")
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            image = ImageCms.profileToProfile(image, profile, ImageCms.createProfile("sRGB"), outputMode=image.mode)
        except ImageCms.PyCMSError:
            removed[-1] = "ICC colour profile (unreadable: colours left as they were)"
    image.info = {}  # nothing of the original travels with the pixels
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return Conversion(out.getvalue(), removed)


# -- PDF ------------------------------------------------------------------------------------------------


def clean_pdf(source: BinaryIO) -> Conversion:
    """The PDF without its document information, XMP (of the document and of any object), identifier and
    application data, its embedded JPEG photos without their metadata; and what was removed."""
    import pikepdf

    source.seek(0)
    try:
        pdf = pikepdf.open(source)
    except pikepdf.PasswordError as exc:
        raise StripError(
            "the PDF is protected by a password, so this client cannot remove its metadata: save a copy without the "
            "password first, or send it as it is with --keep-metadata"
        ) from exc
    except pikepdf.PdfError as exc:
        raise StripError("the PDF cannot be read (damaged, or not a PDF)") from exc
    with pdf:
        removed: list[str] = []
        if "/Info" in pdf.trailer:
            del pdf.trailer["/Info"]
            removed.append("document information (author, title, software, dates)")
        if "/ID" in pdf.trailer:
            del pdf.trailer["/ID"]  # links copies of one document; a new one is derived from the content
            removed.append("document identifier")
        photos, unreadable = 0, 0
        for obj in pdf.objects:
            if not isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                continue
            for key, what in (("/Metadata", "XMP metadata"), ("/PieceInfo", "application data (PieceInfo)")):
                if key in obj:
                    del obj[key]
                    removed.append(what)
            if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == "/Image" and obj.get("/Filter") == "/DCTDecode":
                raw = obj.read_raw_bytes()
                try:
                    pieces, dropped = plan_jpeg(raw, keep_orientation=False)  # PDF viewers ignore EXIF orientation
                except StripError:
                    unreadable += 1
                    continue
                if dropped:
                    kept = b"".join(raw[p[0] : p[0] + p[1]] for p in pieces if isinstance(p, tuple))
                    parms = obj.get("/DecodeParms")
                    parms = parms if isinstance(parms, pikepdf.Dictionary) else None
                    obj.write(kept, filter=pikepdf.Name.DCTDecode, decode_parms=parms)
                    photos += 1
        if photos:
            removed.append(f"EXIF and other metadata of {photos} photo(s) in the document")
        warnings = [f"{unreadable} photo(s) in the document could not be read as JPEG: sent as they are"] if unreadable else []
        out = io.BytesIO()
        try:
            pdf.save(out, deterministic_id=True)
        except pikepdf.PdfError as exc:
            raise StripError("the PDF cannot be written again without its metadata (damaged?)") from exc
    return Conversion(out.getvalue(), unique(removed), warnings)


# kind -> (media type sent, conversion of the original file)
CONVERSIONS: dict[str, tuple[str, Callable[[BinaryIO], Conversion]]] = {
    "jpeg-from-heic": ("image/jpeg", heic_to_jpeg),
    "pdf": ("application/pdf", clean_pdf),
}
