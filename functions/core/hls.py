"""HLS playlists: memories.ai takes an ``.m3u8`` only when every URI inside it is absolute.

A playlist dropped with its segments uses paths relative to itself (``seg0.ts``, ``720p/index.m3u8``).
At its turn the playlist is read whole (at most ``MAX_PLAYLIST_BYTES``) and parsed. With every URI
absolute (http/https) it is submitted as it is. Otherwise each relative URI is resolved against the
playlist's key (RFC 3986; ``../`` may climb inside the bucket, never above its root), each object it
names must exist (one ListObjectVersions per directory, which also pins each to its newest version),
and the total size must stay within the provider's limit. Then derived playlists are written to the
staging bucket, with each relative URI replaced by a presigned GET URL: for a media playlist one
derived copy, for a master playlist a derived copy of each variant that has relative URIs and a
derived master naming them (presigned too). The derived master (or media) playlist is what is
presigned and submitted. Its keys depend only on the video id, so a retry rewrites the same objects.

Refused (REJECTED, no provider call): a malformed playlist, a URI that is neither http(s) nor a path
in the bucket (another scheme, ``//host/...``, a query), a path above the bucket's root, a missing
object (the first, in playlist order), a master whose variant is a master again, a total over the
limit. Segments themselves (``SEGMENT_SUFFIXES``) are never submitted: the ingest function skips them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol
from urllib.parse import quote, unquote, urlsplit

from functions.core.errors import ObjectUnreadable
from functions.core.ports import ObjectInfo

__all__ = [
    "MAX_PLAYLIST_BYTES",
    "PLAYLIST_CONTENT_TYPE",
    "SEGMENT_SUFFIXES",
    "STAGING_PREFIX",
    "HlsConfig",
    "ListedObject",
    "Playlist",
    "PlaylistError",
    "PlaylistObjects",
    "Playlists",
    "Reference",
    "Refusal",
    "UnsafeReference",
    "is_playlist",
    "is_segment_key",
    "parse",
    "parse_bytes",
    "resolve",
    "segment_skip_reason",
    "settled_at",
    "staging_key",
]

# A playlist of 10 000 segments is well under this; anything larger is not a playlist people write.
MAX_PLAYLIST_BYTES: Final = 1024 * 1024
PLAYLIST_CONTENT_TYPE: Final = "application/vnd.apple.mpegurl"
# HLS parts that are never a video of their own: transport-stream and fMP4 segments, packed audio,
# WebVTT subtitles. (fMP4 init segments are often ``init.mp4``: an .mp4 is checked as a video.)
SEGMENT_SUFFIXES: Final = (".ts", ".m4s", ".aac", ".vtt")
PLAYLIST_SUFFIX: Final = ".m3u8"
# How many playlists beside a media playlist are read to find a master naming it, and how many keys
# of each folder are looked through for them.
MAX_MASTER_CANDIDATES: Final = 20
MAX_FOLDER_KEYS_SEARCHED: Final = 5000
# Where derived playlists go in the staging bucket: ``hls/<video_id>/...``.
STAGING_PREFIX: Final = "hls/"

_UTF8_BOM: Final = "\ufeff"
_HEADER: Final = "#EXTM3U"
# Tags that only a master (multivariant) playlist has, and tags that only a media playlist has.
_MASTER_TAGS: Final = frozenset(
    {"EXT-X-STREAM-INF", "EXT-X-I-FRAME-STREAM-INF", "EXT-X-MEDIA", "EXT-X-SESSION-DATA", "EXT-X-SESSION-KEY"}
)
_MEDIA_TAGS: Final = frozenset(
    {
        "EXTINF",
        "EXT-X-TARGETDURATION",
        "EXT-X-MEDIA-SEQUENCE",
        "EXT-X-DISCONTINUITY-SEQUENCE",
        "EXT-X-ENDLIST",
        "EXT-X-PLAYLIST-TYPE",
        "EXT-X-I-FRAMES-ONLY",
        "EXT-X-MAP",
        "EXT-X-KEY",
        "EXT-X-BYTERANGE",
        "EXT-X-DISCONTINUITY",
        "EXT-X-PROGRAM-DATE-TIME",
    }
)
# Tags whose URI attribute names another playlist, and those whose URI names a resource (init
# section, key, session data).
_PLAYLIST_URI_TAGS: Final = frozenset({"EXT-X-MEDIA", "EXT-X-I-FRAME-STREAM-INF"})
_RESOURCE_URI_TAGS: Final = frozenset({"EXT-X-MAP", "EXT-X-KEY", "EXT-X-SESSION-KEY", "EXT-X-SESSION-DATA"})
# RFC 8216 4.2: AttributeName=AttributeValue, comma-separated; a quoted string holds no quote or newline.
_ATTRIBUTE: Final = re.compile(r'([A-Z0-9-]+)=("[^"\r\n]*"|[^",\s]*)(?:,|$)')

Kind = Literal["variant", "rendition", "segment", "resource"]


class PlaylistError(ValueError):
    """The playlist is not one this pipeline can read (the message says where)."""


class UnsafeReference(ValueError):
    """A URI that names neither an http(s) URL nor an object in the same bucket."""


@dataclass(frozen=True, slots=True)
class Reference:
    """One URI in a playlist: on line ``line`` (0-based), either the whole line or the quoted URI
    attribute at ``span`` of it."""

    line: int
    uri: str
    kind: Kind
    span: tuple[int, int] | None = None

    @property
    def names_playlist(self) -> bool:
        return self.kind in ("variant", "rendition")


@dataclass(frozen=True, slots=True)
class Playlist:
    lines: tuple[str, ...]
    references: tuple[Reference, ...]
    is_master: bool

    @property
    def relative(self) -> tuple[Reference, ...]:
        return tuple(ref for ref in self.references if not _is_absolute(ref.uri))

    def rewritten(self, urls: Mapping[int, str]) -> str:
        """The playlist with the URI on each line in ``urls`` replaced; every other line as it was
        (comments and blank lines too)."""
        by_line = {ref.line: ref for ref in self.references}
        out = []
        for number, text in enumerate(self.lines):
            url = urls.get(number)
            ref = by_line.get(number)
            if url is None or ref is None:
                out.append(text)
            elif ref.span is None:
                out.append(url)
            else:
                start, end = ref.span
                out.append(text[:start] + url + text[end:])
        return "\n".join(out) + "\n"


def is_playlist(head: bytes) -> bool:
    """The object's first bytes start an HLS playlist (as ``functions.core.content`` tells it)."""
    return head.removeprefix(_UTF8_BOM.encode()).lstrip().startswith(_HEADER.encode())


def is_playlist_key(key: str) -> bool:
    return key.lower().endswith(PLAYLIST_SUFFIX)


def settled_at(key: str, dropped_at: float, settle_seconds: float) -> float | None:
    """When a playlist dropped at ``dropped_at`` may take its turn: once the rest of its set has had
    ``settle_seconds`` to arrive (None for any other key, or no wait)."""
    if settle_seconds <= 0 or not is_playlist_key(key):
        return None
    return dropped_at + settle_seconds


def is_segment_key(key: str) -> bool:
    return key.lower().endswith(SEGMENT_SUFFIXES)


def segment_skip_reason(key: str) -> str:
    suffix = posixpath.splitext(key)[1].lower()
    return f"an HLS segment ({suffix}): it reaches memories.ai through its playlist, never on its own"


def staging_key(video_id: str, name: str) -> str:
    """The key of one derived playlist: the same for every attempt of one video."""
    return f"{STAGING_PREFIX}{video_id}/{name}"


# -- parsing ---------------------------------------------------------------------------------------


def parse_bytes(data: bytes) -> Playlist:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlaylistError(f"not UTF-8 text (byte {exc.start})") from exc
    return parse(text)


def _tag(line: str) -> tuple[str, str]:
    name, _, value = line[1:].partition(":")
    return name, value


def _attributes(tag: str, value: str, number: int) -> dict[str, tuple[str, int, int, bool]]:
    """NAME -> (value without quotes, start and end of that value in the line, whether it was quoted)."""
    offset = len(tag) + 2  # "#" + name + ":"
    found: dict[str, tuple[str, int, int, bool]] = {}
    position = 0
    while position < len(value):
        match = _ATTRIBUTE.match(value, position)
        if match is None:
            raise PlaylistError(f"line {number + 1}: #{tag} has a malformed attribute list")
        raw = match.group(2)
        start = offset + match.start(2)
        if raw.startswith('"'):
            found[match.group(1)] = (raw[1:-1], start + 1, start + len(raw) - 1, True)
        else:
            found[match.group(1)] = (raw, start, start + len(raw), False)
        position = match.end()
    return found


def parse(text: str) -> Playlist:
    """A master or a media playlist, strictly: the header first, URI lines only after the tag that
    announces them (``#EXTINF``, ``#EXT-X-STREAM-INF``), quoted URI attributes, no mix of master and
    media tags. Raises PlaylistError."""
    lines = tuple(text.removeprefix(_UTF8_BOM).splitlines())
    if not lines or lines[0].strip() != _HEADER:
        raise PlaylistError(f"the first line must be {_HEADER}")
    references: list[Reference] = []
    master = media = False
    announced: Kind | None = None  # a URI line must follow #EXTINF (segment) or #EXT-X-STREAM-INF
    for number, line in enumerate(lines[1:], start=1):
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and not stripped.startswith("#EXT")):
            continue  # blank lines and comments are kept as they are
        if stripped != line:
            raise PlaylistError(f"line {number + 1}: leading or trailing whitespace")
        if line.startswith("#"):
            tag, value = _tag(line)
            master = master or tag in _MASTER_TAGS
            media = media or tag in _MEDIA_TAGS
            if tag == "EXTINF":
                announced = "segment"
            elif tag == "EXT-X-STREAM-INF":
                _attributes(tag, value, number)
                announced = "variant"
            # (an #EXTINF title is free text, never an attribute list)
            attributes = _attributes(tag, value, number) if "URI=" in value and tag != "EXTINF" else {}
            if "URI" in attributes:
                uri, start, end, quoted = attributes["URI"]
                if tag in _PLAYLIST_URI_TAGS:
                    kind: Kind = "rendition"
                elif tag in _RESOURCE_URI_TAGS:
                    kind = "resource"
                else:
                    raise PlaylistError(
                        f"line {number + 1}: #{tag} carries a URI this pipeline does not rewrite"
                    )
                if not quoted:
                    raise PlaylistError(f"line {number + 1}: #{tag} URI must be a quoted string")
                if not uri:
                    raise PlaylistError(f"line {number + 1}: #{tag} has an empty URI")
                references.append(Reference(number, uri, kind, (start, end)))
            continue
        if announced is None:
            raise PlaylistError(f"line {number + 1}: a URI without #EXTINF or #EXT-X-STREAM-INF before it")
        references.append(Reference(number, line, announced))
        announced = None
    if master and media:
        raise PlaylistError("it mixes master playlist tags (variants) with media playlist tags (segments)")
    if announced is not None:
        raise PlaylistError("it ends with a tag that announces a URI that never comes")
    if not references:
        raise PlaylistError("it names no segment and no variant")
    return Playlist(lines, tuple(references), is_master=master)


# -- resolution ------------------------------------------------------------------------------------


def _is_absolute(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def resolve(base_key: str, uri: str) -> str | None:
    """The bucket key ``uri`` names, relative to the playlist at ``base_key`` (RFC 3986 5.2, with
    the bucket as the root: ``/a.ts`` is key ``a.ts``); None for an absolute http(s) URL. Raises
    UnsafeReference for what is neither."""
    if _is_absolute(uri):
        return None
    parts = urlsplit(uri)
    if parts.scheme:
        raise UnsafeReference(f"{uri!r} has the scheme {parts.scheme!r}: only http(s) URLs or relative paths")
    if parts.netloc or uri.startswith("//"):
        raise UnsafeReference(f"{uri!r} is relative but names a host: only paths in the same bucket")
    if parts.query or parts.fragment or "?" in uri or "#" in uri:
        raise UnsafeReference(f"{uri!r} carries a query or fragment: an object in the bucket has neither")
    if not parts.path:
        raise UnsafeReference(f"{uri!r} names no object")
    if parts.path.startswith("/"):
        segments = parts.path[1:].split("/")
    else:
        # The base as a URI path: percent-encoded, so that decoding the result gives the key back.
        segments = quote(base_key, safe="/").split("/")[:-1] + parts.path.split("/")
    path: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        dots = unquote(segment)  # %2E is a dot (RFC 3986 6.2.2.2)
        if dots == "..":
            if not path:
                raise UnsafeReference(f"{uri!r} climbs above the bucket's root")
            path.pop()
        elif dots != ".":
            path.append(segment)
            continue
        if last:
            path.append("")
    try:
        key = unquote("/".join(path), errors="strict")
    except UnicodeDecodeError as exc:
        raise UnsafeReference(f"{uri!r} has percent-escapes that are not UTF-8") from exc
    if not key or key.endswith("/"):
        raise UnsafeReference(f"{uri!r} names a folder, not an object")
    return key


# -- deriving --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListedObject:
    size: int
    version_id: str | None


class PlaylistObjects(Protocol):
    """What deriving playlists needs from S3 (``functions.adapters.s3.S3Objects``)."""

    def peek(self, bucket: str, key: str, version_id: str | None, length: int) -> ObjectInfo | None: ...

    def presign_get(self, bucket: str, key: str, version_id: str | None, ttl_seconds: int) -> str: ...

    def latest_versions(
        self, bucket: str, prefix: str, last_key: str, limit: int | None = None
    ) -> Mapping[str, ListedObject]:
        """The newest version of every key that starts with ``prefix``, has no further ``/`` and
        sorts at or before ``last_key`` (keys whose newest version is a delete marker are absent);
        with ``limit``, the listing stops once it has seen about that many keys."""

    def put_playlist(self, bucket: str, key: str, body: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class HlsConfig:
    # None: a playlist with relative URIs is refused (the deployment has no staging bucket).
    staging_bucket: str | None
    presigned_url_ttl_seconds: int
    # The provider's limit for everything a playlist links to.
    max_total_bytes: int
    max_playlist_bytes: int = MAX_PLAYLIST_BYTES


@dataclass(frozen=True, slots=True)
class Refusal:
    """Not submitted: REJECTED with ``reason``, or, with ``skip``, SKIPPED (a variant of a master
    playlist beside it, which is submitted with it)."""

    reason: str
    skip: bool = False


class _Refused(Exception):
    def __init__(self, reason: str, *, skip: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.skip = skip


@dataclass(slots=True)
class _Catalogue:
    """Sizes and versions of the referenced objects: one listing per directory and name range."""

    objects: PlaylistObjects
    bucket: str
    known: dict[str, ListedObject] = field(default_factory=dict)

    def look_up(self, keys: Iterable[str]) -> None:
        by_directory: dict[str, list[str]] = {}
        for key in keys:
            if key not in self.known:
                directory, _, name = key.rpartition("/")
                by_directory.setdefault(f"{directory}/" if directory else "", []).append(name)
        for directory, names in by_directory.items():
            prefix = directory + posixpath.commonprefix(names)
            try:
                listed = self.objects.latest_versions(self.bucket, prefix, directory + max(names))
            except ObjectUnreadable as exc:
                raise _Refused(
                    f"S3 refused to list {prefix!r} ({exc.code}: {exc.detail}); the ingest role may list"
                    " (s3:ListBucketVersions) and read only under the notified prefixes: keep the segments there"
                ) from exc
            self.known.update(listed)

    def first_missing(self, keys: Iterable[str]) -> str | None:
        return next((key for key in keys if key not in self.known), None)


@dataclass(frozen=True, slots=True)
class _Source:
    """One playlist to derive from: where it is, what it says, what its relative URIs name."""

    key: str
    version_id: str | None
    playlist: Playlist
    keys: Mapping[int, str]  # line -> resolved key, for the relative URIs


class Playlists:
    """Turns a playlist at its turn into the URL to submit: its own presigned URL when every URI in
    it is absolute, else the presigned URL of the derived playlist in the staging bucket."""

    def __init__(self, config: HlsConfig, objects: PlaylistObjects) -> None:
        self._config = config
        self._objects = objects

    def url_for(
        self, bucket: str, key: str, version_id: str | None, info: ObjectInfo, video_id: str
    ) -> str | Refusal:
        try:
            return self._url_for(bucket, key, version_id, info, video_id)
        except _Refused as exc:
            return Refusal(exc.reason, skip=exc.skip)

    def _url_for(self, bucket: str, key: str, version_id: str | None, info: ObjectInfo, video_id: str) -> str:
        top = _Source(key, version_id, self._read(bucket, key, version_id, info, info.etag), {})
        if not top.playlist.is_master:
            master = self._master_naming(bucket, key)
            if master is not None:
                raise _Refused(
                    f"a variant of master playlist {master!r} beside it, which is submitted with it;"
                    " not submitted on its own",
                    skip=True,
                )
        if not top.playlist.relative:
            return self._presign(bucket, key, version_id)
        staging = self._config.staging_bucket
        if staging is None:
            raise _Refused(
                "an HLS playlist with relative URIs, and this deployment has no HLS staging bucket to write"
                " the derived playlist to; use absolute URLs in the playlist"
            )
        top = _resolved(top)
        catalogue = _Catalogue(self._objects, bucket)
        variants: list[_Source] = []
        if top.playlist.is_master:
            playlist_keys = [top.keys[r.line] for r in top.playlist.relative if r.names_playlist]
            self._require(catalogue, top, playlist_keys)
            for variant_key in dict.fromkeys(playlist_keys):
                variants.append(self._variant(bucket, variant_key, catalogue.known[variant_key], top.key))
        every_key = [*top.keys.values(), *(k for v in variants for k in v.keys.values())]
        catalogue.look_up(every_key)
        for source in (top, *variants):
            self._require(catalogue, source, source.keys.values())
        self._check_total(info.size, catalogue, every_key)
        return self._write(
            bucket=bucket, staging=staging, video_id=video_id, top=top, variants=variants, catalogue=catalogue
        )

    # -- steps -------------------------------------------------------------------------------------

    def _master_naming(self, bucket: str, key: str) -> str | None:
        """A master playlist in the media playlist's folder or the one above that names it as a
        variant or rendition (one listing of each folder, and a read of each playlist there)."""
        folder = posixpath.dirname(key)
        folders = [folder, posixpath.dirname(folder)] if folder else [folder]
        candidates: list[tuple[str, ListedObject]] = []
        for directory in dict.fromkeys(folders):
            prefix = f"{directory}/" if directory else ""
            try:
                listed = self._objects.latest_versions(
                    bucket, prefix, prefix + "\U0010ffff", limit=MAX_FOLDER_KEYS_SEARCHED
                )
            except ObjectUnreadable:
                continue  # outside what the role may list: no master there that it could submit
            candidates += [(k, v) for k, v in listed.items() if is_playlist_key(k) and k != key]
        for candidate, listed_version in candidates[:MAX_MASTER_CANDIDATES]:
            if listed_version.size > self._config.max_playlist_bytes:
                continue
            info = self._objects.peek(bucket, candidate, listed_version.version_id, listed_version.size)
            try:
                playlist = parse_bytes(info.head) if info is not None else None
            except PlaylistError:
                continue
            if playlist is None or not playlist.is_master:
                continue
            for ref in playlist.relative:
                try:
                    named = resolve(candidate, ref.uri)
                except UnsafeReference:
                    continue
                if ref.names_playlist and named == key:
                    return candidate
        return None

    def _read(
        self, bucket: str, key: str, version_id: str | None, info: ObjectInfo, etag: str | None
    ) -> Playlist:
        limit = self._config.max_playlist_bytes
        if info.size > limit:
            raise _Refused(f"HLS playlist {key!r} is {info.size} bytes; a playlist may have at most {limit}")
        body = info.head
        if len(body) < info.size:
            whole = self._objects.peek(bucket, key, version_id, limit)
            if whole is None or (etag is not None and whole.etag != etag) or len(whole.head) != whole.size:
                raise _Refused(f"HLS playlist {key!r} changed or disappeared while it was being read")
            body = whole.head
        try:
            return parse_bytes(body)
        except PlaylistError as exc:
            raise _Refused(f"malformed HLS playlist {key!r}: {exc}") from exc

    def _variant(self, bucket: str, key: str, listed: ListedObject, master_key: str) -> _Source:
        try:
            info = self._objects.peek(bucket, key, listed.version_id, self._config.max_playlist_bytes)
        except ObjectUnreadable as exc:
            raise _Refused(f"S3 refused to read variant playlist {key!r} ({exc.code}: {exc.detail})") from exc
        if info is None:
            raise _Refused(f"variant playlist {key!r} of {master_key!r} disappeared while it was being read")
        playlist = self._read(bucket, key, listed.version_id, info, info.etag)
        if playlist.is_master:
            raise _Refused(
                f"{key!r}, a variant of master playlist {master_key!r}, is a master playlist itself: only"
                " master -> media playlists are supported"
            )
        return _resolved(_Source(key, listed.version_id, playlist, {}))

    def _require(self, catalogue: _Catalogue, source: _Source, keys: Iterable[str]) -> None:
        wanted = list(keys)
        catalogue.look_up(wanted)
        missing = catalogue.first_missing(wanted)
        if missing is not None:
            uri = next(r.uri for r in source.playlist.references if source.keys.get(r.line) == missing)
            raise _Refused(
                f"HLS playlist {source.key!r} names {uri!r} ({missing!r}), which is not in the bucket"
                " (upload the playlist's segments before, or with, the playlist; then resubmit it)"
            )

    def _check_total(self, playlist_size: int, catalogue: _Catalogue, keys: Iterable[str]) -> None:
        distinct = set(keys)
        total = playlist_size + sum(catalogue.known[k].size for k in distinct)
        limit = self._config.max_total_bytes
        if total > limit:
            raise _Refused(
                f"too large: the HLS playlist and the {len(distinct)} objects it names total {total} bytes;"
                f" memories.ai takes at most {limit} (above it only with the provider's permission)"
            )

    def _write(
        self,
        *,
        bucket: str,
        staging: str,
        video_id: str,
        top: _Source,
        variants: Sequence[_Source],
        catalogue: _Catalogue,
    ) -> str:
        def source_url(key: str) -> str:
            return self._presign(bucket, key, catalogue.known[key].version_id)

        variant_urls: dict[str, str] = {}
        for number, variant in enumerate(variants):
            if not variant.playlist.relative:
                variant_urls[variant.key] = source_url(variant.key)
                continue
            name = staging_key(video_id, f"variant-{number}.m3u8")
            self._put(staging, name, _derive(variant, source_url))
            variant_urls[variant.key] = self._presign(staging, name, None)

        def top_url(key: str) -> str:
            return variant_urls.get(key) or source_url(key)

        name = staging_key(video_id, "playlist.m3u8")
        self._put(staging, name, _derive(top, top_url))
        return self._presign(staging, name, None)

    def _put(self, staging: str, key: str, text: str) -> None:
        self._objects.put_playlist(staging, key, text.encode("utf-8"))

    def _presign(self, bucket: str, key: str, version_id: str | None) -> str:
        return self._objects.presign_get(bucket, key, version_id, self._config.presigned_url_ttl_seconds)


def _resolved(source: _Source) -> _Source:
    keys: dict[int, str] = {}
    for ref in source.playlist.relative:
        try:
            key = resolve(source.key, ref.uri)
        except UnsafeReference as exc:
            raise _Refused(f"HLS playlist {source.key!r}: {exc}") from exc
        if key is not None:
            keys[ref.line] = key
    return _Source(source.key, source.version_id, source.playlist, keys)


def _derive(source: _Source, url_of: Callable[[str], str]) -> str:
    """The playlist with each relative URI replaced by ``url_of`` its key (one URL per object: byte
    ranges of one file share it)."""
    by_key = {key: url_of(key) for key in dict.fromkeys(source.keys.values())}
    return source.playlist.rewritten({line: by_key[key] for line, key in source.keys.items()})
