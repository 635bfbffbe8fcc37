"""Fetching the submitted url the way the provider does, and refusing what is not a video.

An HLS playlist is read whole and every URI in it must be absolute (the provider: "Only m3u8 files
that use fully linked internal absolute paths are supported"); the emulator then fetches each one
(a master's variant playlists, their segments, init sections and keys) and refuses the playlist if
one is unreachable or if what it links to exceeds 1 GB (above it the provider wants to be asked).
With ``require_signed`` every URL fetched must also be a presigned S3 URL (an ``X-Amz-Signature``
query): the local stack's S3 does not check signatures, so the emulator checks that one is there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests

from devstack.emulator.errors import InvalidParameterError

# Enough to recognise any container by its magic bytes.
SNIFF_BYTES = 64 * 1024
# A playlist is read whole, up to this.
PLAYLIST_MAX_BYTES = 1024 * 1024
# The documented limit for what an m3u8 links to.
PLAYLIST_MAX_LINKED_BYTES = 1024**3
_UTF8_BOM = b"\xef\xbb\xbf"
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')


@dataclass(frozen=True)
class FetchedSource:
    """What the emulator learned about a source: its size in bytes when the server said or it was short."""

    size: int | None


@dataclass(frozen=True)
class _Fetcher:
    timeout: float
    require_signed: bool
    fetched: Callable[[str], None]

    def get(self, url: str, limit: int) -> tuple[bytes, bool, int | None]:
        """The first ``limit`` bytes, whether that was all, and the declared length."""
        if self.require_signed and "X-Amz-Signature" not in parse_qs(urlsplit(url).query):
            raise InvalidParameterError(f"url not reachable: {_short(url)} is not a presigned URL")
        self.fetched(url)
        with requests.Session() as session:
            # The provider fetches with a plain GET: no proxy from the environment, no ~/.netrc credentials.
            session.trust_env = False
            try:
                with session.get(url, timeout=self.timeout, stream=True) as response:
                    if response.status_code != 200:
                        raise InvalidParameterError(f"url not reachable: HTTP {response.status_code}")
                    head, complete = _read_head(response, limit)
                    declared = response.headers.get("Content-Length", "")
            except requests.RequestException as exc:
                raise InvalidParameterError("url not reachable") from exc
        size = int(declared) if declared.isdigit() else (len(head) if complete else None)
        return head, complete, size


def fetch_video(
    url: str,
    timeout: float,
    *,
    require_signed: bool = False,
    fetched: Callable[[str], None] = lambda url: None,
) -> FetchedSource:
    """GET the url without credentials, read its first bytes and check they are a video (for a
    playlist: fetch everything it links to). ``fetched`` is told every URL requested."""
    fetcher = _Fetcher(timeout, require_signed, fetched)
    head, complete, size = fetcher.get(url, SNIFF_BYTES)
    if _is_playlist(head):
        if not complete:  # read it again, whole
            head, complete, size = fetcher.get(url, PLAYLIST_MAX_BYTES)
        return FetchedSource(size=_fetch_playlist(fetcher, head, complete, depth=0))
    problem = video_problem(head)
    if problem is not None:
        raise InvalidParameterError(problem)
    return FetchedSource(size=size)


def video_problem(head: bytes) -> str | None:
    """Why these leading bytes are not an acceptable video (other than a playlist), or None if they are."""
    if head[4:8] == b"ftyp":  # MP4, MOV, M4V
        return None
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska, WebM
        return None
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return None
    return "url is not a video"


def _is_playlist(head: bytes) -> bool:
    return head.removeprefix(_UTF8_BOM).lstrip().startswith(b"#EXTM3U")


def playlist_uris(text: str) -> tuple[list[str], list[str]]:
    """(playlists, resources) a playlist names: variant and rendition playlists; segments, init
    sections and keys."""
    playlists: list[str] = []
    resources: list[str] = []
    after_stream_inf = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            after_stream_inf = line.startswith("#EXT-X-STREAM-INF")
            for uri in _URI_ATTRIBUTE.findall(line):
                names_playlist = line.startswith(("#EXT-X-MEDIA:", "#EXT-X-I-FRAME-STREAM-INF"))
                (playlists if names_playlist else resources).append(uri)
            continue
        (playlists if after_stream_inf else resources).append(line)
        after_stream_inf = False
    return playlists, resources


def _relative_problem(uris: tuple[list[str], list[str]]) -> str | None:
    for uri in (*uris[0], *uris[1]):
        if not uri.startswith(("http://", "https://")):
            return "url is an m3u8 playlist with relative segment URIs; only absolute URLs are supported"
    return None


def _fetch_playlist(fetcher: _Fetcher, body: bytes, complete: bool, depth: int) -> int:
    """Every object the playlist links to, fetched; their total size (the playlist's included)."""
    if not complete:
        raise InvalidParameterError(f"url is an m3u8 playlist larger than {PLAYLIST_MAX_BYTES} bytes")
    uris = playlist_uris(body.removeprefix(_UTF8_BOM).decode("utf-8", "replace"))
    problem = _relative_problem(uris)
    if problem is not None:
        raise InvalidParameterError(problem)
    playlists, resources = uris
    if playlists and depth:
        raise InvalidParameterError("url is an m3u8 playlist nested deeper than master -> media")
    total = len(body)
    for playlist in playlists:
        child, child_complete, _ = fetcher.get(playlist, PLAYLIST_MAX_BYTES)
        if not _is_playlist(child):
            raise InvalidParameterError("url is an m3u8 playlist whose variant is not a playlist")
        total += _fetch_playlist(fetcher, child, child_complete, depth + 1)
    for resource in dict.fromkeys(resources):
        _, _, size = fetcher.get(resource, 0)  # its headers are enough
        total += size or 0
    if total > PLAYLIST_MAX_LINKED_BYTES:
        raise InvalidParameterError(
            f"url is an m3u8 playlist linking {total} bytes; above 1GB needs memories.ai's permission"
        )
    return total


def _short(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _read_head(response: requests.Response, limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes of the body, and whether that was the whole body."""
    head = bytearray()
    if limit == 0:
        return b"", False
    for chunk in response.iter_content(chunk_size=min(8192, limit + 1)):
        head += chunk
        if len(head) > limit:
            return bytes(head[:limit]), False
    return bytes(head), True
