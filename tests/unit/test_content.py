"""The content check: real files of every container the provider takes pass, and what people name
``.mp4`` by mistake is refused with a reason that says what it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.core.content import SNIFF_BYTES, identify, refusal

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _head(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()[:SNIFF_BYTES]


@pytest.mark.parametrize(
    ("name", "container"),
    [
        ("sample.mp4", "ISO base media (mp4/mov)"),
        ("containers/sample.mov", "ISO base media (mp4/mov)"),
        ("containers/sample.mkv", "Matroska/WebM (EBML)"),
        ("containers/sample.webm", "Matroska/WebM (EBML)"),
        ("containers/sample.avi", "AVI (RIFF)"),
    ],
)
def test_real_videos_of_every_accepted_container_pass(name: str, container: str) -> None:
    # Given the first bytes of a real video file, as one ranged GET returns them
    head = _head(name)
    # Then it is recognized as its container and not refused
    assert identify(head).container == container
    assert refusal(head) is None


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("containers/frame.jpg", "a JPEG image"),
        ("containers/frame.png", "a PNG image"),
        ("containers/tone.mp3", "MP3 audio"),
        ("containers/tone.m4a", "audio only"),
    ],
)
def test_real_non_videos_are_refused_naming_what_they_are(name: str, what: str) -> None:
    reason = refusal(_head(name))
    assert reason is not None
    assert reason.startswith("not a video: the content is ")
    assert what in reason


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"hello, this is a text file named clip.mp4\n", "text"),
        (b'{"videoNo": "VI1"}', "JSON"),
        (b"<!DOCTYPE html><html><body>403 Forbidden</body></html>", "an HTML page"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        (b"PK\x03\x04\x14\x00\x06\x00", "a ZIP archive"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIF/AVIF"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "HEIF/AVIF"),
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "WAV audio"),
        (b"RIFF\x24\x08\x00\x00WEBPVP8 ", "a WebP image"),
        (b"OggS\x00\x02\x00\x00", "an Ogg stream"),
        (b"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00", "a BMP image"),
        (b"\x00\x01\x02\x03\x04\x05\x06\x07\x08", "unrecognized data (first bytes 00 01 02 03"),
        (b"", "empty"),
    ],
)
def test_disguised_non_videos_are_refused(head: bytes, what: str) -> None:
    reason = refusal(head)
    assert reason is not None and what in reason


@pytest.mark.parametrize(
    "head",
    [
        b"#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10.0,\nhttps://cdn.example.com/seg0.ts\n",
        b"\xef\xbb\xbf#EXTM3U\r\n#EXT-X-TARGETDURATION:10\r\n",
        b"\n  #EXTM3U\n",
        # QuickTime files written before `ftyp` existed start with another atom.
        b"\x00\x00\x05\x00moov\x00\x00\x00\x6cmvhd",
        b"\x00\x00\x00\x08wide\x00\x10\x00\x00mdat",
        # A first box whose size is 1 carries a 64-bit size after the type.
        b"\x00\x00\x00\x01ftypisom\x00\x00\x00\x00\x00\x00\x00\x20",
    ],
)
def test_other_accepted_container_starts(head: bytes) -> None:
    assert refusal(head) is None


def test_text_cut_inside_a_multibyte_character_is_still_text() -> None:
    # Given a read that ends in the middle of a UTF-8 character
    head = ("Bonjour, ceci n'est pas une vidéo. " * 200).encode("utf-8")[:SNIFF_BYTES]
    head = head[: head.rfind("é".encode()) + 1]
    # Then it is still recognized as text, not as unknown binary
    assert identify(head).description == "text"


def test_a_text_starting_like_a_bitmap_is_text() -> None:
    assert identify(b"BMW service notes, 2024\n").description == "text"
