"""What an object's first bytes say it is.

Every ``upload_url`` call is billed at request time, and the provider refuses what it cannot parse
only afterwards, so the pipeline reads the first few KiB of each object (one ranged GET) and refuses
what is not a container the provider takes before it calls. The key's suffix proves nothing: a text
file or a photo named ``clip.mp4`` is still not a video.

Accepted containers (memories.ai: h264/h265/vp9 video, or HLS playlists; uploads as mp4, mov, mkv,
avi): ISO base media (mp4, mov, m4v, 3gp), Matroska/WebM (EBML), AVI (RIFF), HLS (``#EXTM3U``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["SNIFF_BYTES", "Sniffed", "identify", "refusal"]

# Enough for every signature below and for telling text from binary.
SNIFF_BYTES: Final = 4096

# ISO base media boxes a file can start with: `ftyp` (mp4 and modern mov), or the atoms of
# QuickTime files written before `ftyp` existed.
_QUICKTIME_FIRST_ATOMS: Final = frozenset({b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
# ISO base media brands that are not video.
_IMAGE_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)
_AUDIO_BRANDS: Final = frozenset({b"M4A ", b"M4B ", b"M4P "})
_UTF8_BOM: Final = b"\xef\xbb\xbf"

# Leading bytes of formats people mistake for videos, to say what the object is instead.
_NOT_VIDEO: Final = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or a document packed as one)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"ID3", "MP3 audio"),
    (b"fLaC", "FLAC audio"),
    (b"OggS", "an Ogg stream (not a container memories.ai takes)"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x7fELF", "an executable"),
)


@dataclass(frozen=True, slots=True)
class Sniffed:
    """``container`` is set when the bytes are a video container the provider takes."""

    container: str | None
    description: str


def _iso_base_media(head: bytes) -> Sniffed | None:
    if len(head) < 8:
        return None
    size = int.from_bytes(head[:4], "big")
    box = head[4:8]
    # 0: the box runs to the end of the file; 1: a 64-bit size follows; else at least the header.
    if size not in (0, 1) and size < 8:
        return None
    if box == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return Sniffed(None, f"an image (ISO base media brand {brand.decode('latin-1')!r}: HEIF/AVIF)")
        if brand in _AUDIO_BRANDS:
            return Sniffed(None, f"audio only (ISO base media brand {brand.decode('latin-1').strip()!r})")
        return Sniffed("ISO base media (mp4/mov)", "an ISO base media video (mp4/mov)")
    if box in _QUICKTIME_FIRST_ATOMS:
        return Sniffed("QuickTime (mov)", "a QuickTime movie")
    return None


def _riff(head: bytes) -> Sniffed | None:
    if not head.startswith(b"RIFF") or len(head) < 12:
        return None
    form = head[8:12]
    if form == b"AVI ":
        return Sniffed("AVI (RIFF)", "an AVI video")
    if form == b"WAVE":
        return Sniffed(None, "WAV audio")
    if form == b"WEBP":
        return Sniffed(None, "a WebP image")
    return Sniffed(None, f"a RIFF file of form {form.decode('latin-1')!r}, not AVI")


def _text(head: bytes) -> Sniffed | None:
    body = head.removeprefix(_UTF8_BOM)
    if body.lstrip().startswith(b"#EXTM3U"):
        return Sniffed("HLS playlist (m3u8)", "an HLS playlist")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The read may end inside a multi-byte character: only a clean prefix counts as text.
        if exc.start < len(body) - 3:
            return None
        text = body[: exc.start].decode("utf-8")
    if not text or any(not (ch.isprintable() or ch in "\t\r\n\f") for ch in text):
        return None
    start = text.lstrip().lower()
    if start.startswith(("<!doctype html", "<html")):
        return Sniffed(None, "an HTML page")
    if start.startswith("<?xml"):
        return Sniffed(None, "an XML document")
    if start.startswith(("{", "[")):
        return Sniffed(None, "text (it looks like JSON)")
    return Sniffed(None, "text")


def identify(head: bytes) -> Sniffed:
    """What the first bytes of an object (up to ``SNIFF_BYTES``) say it is."""
    if not head:
        return Sniffed(None, "empty")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("Matroska/WebM (EBML)", "a Matroska/WebM video")
    for check in (_iso_base_media, _riff):
        found = check(head)
        if found is not None:
            return found
    for signature, description in _NOT_VIDEO:
        if head.startswith(signature):
            return Sniffed(None, description)
    if head.startswith(b"BM") and head[6:10] == b"\x00\x00\x00\x00":
        return Sniffed(None, "a BMP image")
    found = _text(head)
    if found is not None:
        return found
    return Sniffed(None, f"unrecognized data (first bytes {head[:8].hex(' ')})")


def refusal(head: bytes) -> str | None:
    """None when the bytes start a container the provider takes; else the reason to refuse it."""
    sniffed = identify(head)
    if sniffed.container is not None:
        return None
    return (
        f"not a video: the content is {sniffed.description}; memories.ai takes mp4/mov (ISO base "
        "media), mkv/webm, avi or an HLS playlist"
    )
