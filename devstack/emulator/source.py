"""Fetching the submitted url the way the provider does, and refusing what is not a video."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from devstack.emulator.errors import InvalidParameterError

# Enough to recognise any container by its magic bytes and to read the start of a playlist.
SNIFF_BYTES = 64 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class FetchedSource:
    """What the emulator learned about a source: its size in bytes when the server said or it was short."""

    size: int | None


def fetch_video(url: str, timeout: float) -> FetchedSource:
    """GET the url without credentials, read its first bytes and check they are a video."""
    with requests.Session() as session:
        # The provider fetches with a plain GET: no proxy from the environment, no ~/.netrc credentials.
        session.trust_env = False
        try:
            with session.get(url, timeout=timeout, stream=True) as response:
                if response.status_code != 200:
                    raise InvalidParameterError(f"url not reachable: HTTP {response.status_code}")
                head, complete = _read_head(response)
                declared = response.headers.get("Content-Length", "")
        except requests.RequestException as exc:
            raise InvalidParameterError("url not reachable") from exc
    problem = video_problem(head, complete)
    if problem is not None:
        raise InvalidParameterError(problem)
    if declared.isdigit():
        return FetchedSource(size=int(declared))
    return FetchedSource(size=len(head) if complete else None)


def video_problem(head: bytes, complete: bool) -> str | None:
    """Why these leading bytes are not an acceptable video, or None if they are."""
    if head[4:8] == b"ftyp":  # MP4, MOV, M4V
        return None
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska, WebM
        return None
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return None
    text = head.removeprefix(_UTF8_BOM).lstrip()
    if text.startswith(b"#EXTM3U"):
        return _playlist_problem(text, complete)
    return "url is not a video"


def _playlist_problem(text: bytes, complete: bool) -> str | None:
    # The provider only supports m3u8 playlists whose segment URIs are absolute URLs.
    lines = text.splitlines()
    if not complete:
        lines = lines[:-1]  # the last line may be cut off by the sniff limit
    for raw in lines:
        line = raw.strip()
        if line and not line.startswith(b"#") and not line.startswith((b"http://", b"https://")):
            return "url is an m3u8 playlist with relative segment URIs; only absolute URLs are supported"
    return None


def _read_head(response: requests.Response) -> tuple[bytes, bool]:
    """The first SNIFF_BYTES of the body, and whether that was the whole body."""
    head = bytearray()
    for chunk in response.iter_content(chunk_size=8192):
        head += chunk
        if len(head) >= SNIFF_BYTES:
            return bytes(head[:SNIFF_BYTES]), False
    return bytes(head), True
