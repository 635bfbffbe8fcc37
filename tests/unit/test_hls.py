"""HLS playlists: the strict parser, RFC 3986 resolution inside the bucket, the derived playlists
written to the staging bucket, and the refusals that keep a bad set away from the meter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final
from urllib.parse import quote

import pytest

from functions.core.clock import epoch
from functions.core.errors import ObjectUnreadable
from functions.core.hls import (
    MAX_PLAYLIST_BYTES,
    HlsConfig,
    ListedObject,
    PlaylistError,
    Playlists,
    Refusal,
    UnsafeReference,
    is_segment_key,
    parse,
    parse_bytes,
    resolve,
    staging_key,
)
from functions.core.ingest import IngestConfig, Ingestor, Kind
from functions.core.ports import ObjectInfo
from functions.core.status import QUEUED, REJECTED, SKIPPED, UNPARSE
from tests.unit.fakes import (
    BUCKET,
    SIGNING_KEY,
    FakeClock,
    FakeGate,
    FakeMetrics,
    FakeProvider,
    InMemoryStore,
    MakeIngestor,
    created,
    id_of,
)

HLS: Final = Path(__file__).parents[1] / "fixtures" / "hls"
STAGING: Final = "staging"
TTL: Final = 6 * 3600
VIDEO_ID: Final = "0123456789abcdef0123456789abcdef"


@dataclass
class Stored:
    body: bytes
    version_id: str | None
    size: int  # what S3 reports (a test may claim more than the body)


class FakeBucket:
    """S3 for playlists: versioned objects, listings counted, presigned URLs deterministic."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Stored] = {}
        self.listings: list[tuple[str, str, str]] = []
        self.written: dict[str, bytes] = {}
        self.list_error: ObjectUnreadable | None = None

    def put(self, key: str, body: bytes, *, size: int | None = None, bucket: str = BUCKET) -> None:
        version = f"v{len(self.objects) + 1}"
        self.objects[(bucket, key)] = Stored(body, version, len(body) if size is None else size)

    def put_set(self, root: Path, under: str, skip: Callable[[str], bool] = lambda name: False) -> None:
        for path in sorted(root.rglob("*")):
            name = path.relative_to(root).as_posix()
            if path.is_file() and not skip(name):
                self.put(f"{under}{name}", path.read_bytes())

    def info(self, key: str) -> ObjectInfo:
        stored = self.objects[(BUCKET, key)]
        return ObjectInfo(stored.size, {}, stored.version_id, f"etag-{key}", stored.body[:4096])

    # -- ObjectStore and PlaylistObjects --------------------------------------------------------

    def head(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo | None:
        return self.peek(bucket, key, version_id, 0)

    def peek(self, bucket: str, key: str, version_id: str | None, length: int) -> ObjectInfo | None:
        stored = self.objects.get((bucket, key))
        if stored is None or (version_id is not None and version_id != stored.version_id):
            return None
        return ObjectInfo(stored.size, {}, stored.version_id, f"etag-{key}", stored.body[:length])

    def presign_get(self, bucket: str, key: str, version_id: str | None, ttl_seconds: int) -> str:
        version = f"versionId={version_id}&" if version_id else ""
        return (
            f"https://{bucket}.s3.test/{quote(key)}?{version}X-Amz-Expires={ttl_seconds}&X-Amz-Signature=sig"
        )

    def latest_version(self, bucket: str, key: str) -> str | None:
        return None

    def latest_versions(
        self, bucket: str, prefix: str, last_key: str, limit: int | None = None
    ) -> Mapping[str, ListedObject]:
        self.listings.append((bucket, prefix, last_key))
        if self.list_error is not None:
            raise self.list_error
        return {
            key: ListedObject(stored.size, stored.version_id)
            for (b, key), stored in sorted(self.objects.items())
            if b == bucket and key.startswith(prefix) and "/" not in key[len(prefix) :] and key <= last_key
        }

    def put_playlist(self, bucket: str, key: str, body: bytes) -> None:
        assert bucket == STAGING
        self.written[key] = body


def playlists(bucket: FakeBucket, **changes: object) -> Playlists:
    config = HlsConfig(staging_bucket=STAGING, presigned_url_ttl_seconds=TTL, max_total_bytes=1024**3)
    return Playlists(replace(config, **changes), bucket)  # type: ignore[arg-type]


def url_for(bucket: FakeBucket, key: str, **changes: object) -> str | Refusal:
    info = bucket.info(key)
    return playlists(bucket, **changes).url_for(BUCKET, key, info.version_id, info, VIDEO_ID)


def text(name: str) -> str:
    return (HLS / name).read_text()


# -- parsing ---------------------------------------------------------------------------------------


def test_the_real_master_playlist_names_two_variants() -> None:
    playlist = parse(text("master.m3u8"))
    assert playlist.is_master
    assert [(r.kind, r.uri) for r in playlist.references] == [
        ("variant", "v0/index.m3u8"),
        ("variant", "v1/index.m3u8"),
    ]


def test_the_real_fmp4_media_playlist_names_its_init_section_and_segments() -> None:
    playlist = parse(text("fmp4/index.m3u8"))
    assert not playlist.is_master
    assert [(r.kind, r.uri) for r in playlist.references] == [
        ("resource", "init.mp4"),
        ("segment", "part0.m4s"),
        ("segment", "part1.m4s"),
    ]


def test_rewriting_replaces_only_the_uris_and_keeps_every_other_line() -> None:
    source = (
        "\ufeff#EXTM3U\r\n# made by hand\r\n\r\n#EXT-X-TARGETDURATION:2\r\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="k/key.bin",IV=0x1\r\n'
        '#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"\r\n#EXTINF:2.0,\r\n#EXT-X-BYTERANGE:100@720\r\n'
        "all.mp4\r\n#EXT-X-ENDLIST\r\n"
    )
    playlist = parse(source)
    urls = {ref.line: f"https://x/{ref.uri}?s=1" for ref in playlist.references}
    assert playlist.rewritten(urls) == (
        "#EXTM3U\n# made by hand\n\n#EXT-X-TARGETDURATION:2\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="https://x/k/key.bin?s=1",IV=0x1\n'
        '#EXT-X-MAP:URI="https://x/init.mp4?s=1",BYTERANGE="720@0"\n#EXTINF:2.0,\n#EXT-X-BYTERANGE:100@720\n'
        "https://x/all.mp4?s=1\n#EXT-X-ENDLIST\n"
    )


def test_renditions_and_iframe_playlists_of_a_master_are_playlist_references() -> None:
    playlist = parse(
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en, main",URI="audio/en.m3u8"\n'
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1000,URI="iframes.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=2000,AUDIO="aud"\nvideo.m3u8\n'
    )
    assert [(r.kind, r.uri) for r in playlist.references] == [
        ("rendition", "audio/en.m3u8"),
        ("rendition", "iframes.m3u8"),
        ("variant", "video.m3u8"),
    ]
    assert all(r.names_playlist for r in playlist.references)


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("", "first line must be #EXTM3U"),
        ("#EXTINF:1,\nseg.ts\n", "first line must be #EXTM3U"),
        ("#EXTM3U\nseg.ts\n", "a URI without #EXTINF"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n#EXTINF:1,\ns.ts\n", "mixes master"),
        ("#EXTM3U\n#EXTINF:1,\n", "announces a URI that never comes"),
        ("#EXTM3U\n#EXT-X-MAP:URI=init.mp4\n#EXTINF:1,\ns.ts\n", "must be a quoted string"),
        ('#EXTM3U\n#EXT-X-MAP:URI=""\n#EXTINF:1,\ns.ts\n', "empty URI"),
        ('#EXTM3U\n#EXT-X-PART:DURATION=1,URI="p.ts"\n#EXTINF:1,\ns.ts\n', "does not rewrite"),
        ('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a\nv.m3u8\n', "malformed attribute list"),
        ("#EXTM3U\n#EXT-X-VERSION:3\n", "names no segment"),
        ("#EXTM3U\n#EXTINF:1,\n seg.ts\n", "whitespace"),
    ],
)
def test_a_malformed_playlist_is_refused_with_where(source: str, why: str) -> None:
    with pytest.raises(PlaylistError, match=why):
        parse(source)


def test_an_extinf_title_is_free_text_even_when_it_says_uri() -> None:
    playlist = parse("#EXTM3U\n#EXTINF:1,see URI=elsewhere, really\nseg.ts\n")
    assert [(r.kind, r.uri) for r in playlist.references] == [("segment", "seg.ts")]


def test_a_playlist_that_is_not_utf8_is_malformed() -> None:
    with pytest.raises(PlaylistError, match="not UTF-8"):
        parse_bytes(b"#EXTM3U\n#EXTINF:1,\nseg\xff.ts\n")


# -- resolution ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "uri", "key"),
    [
        ("v0/index.m3u8", "seg0.ts", "v0/seg0.ts"),
        ("a/b/list.m3u8", "../c/s.ts", "a/c/s.ts"),
        ("a/b/list.m3u8", "../../s.ts", "s.ts"),
        ("a/list.m3u8", "./x/./s.ts", "a/x/s.ts"),
        ("a/list.m3u8", "/root.ts", "root.ts"),
        ("a/list.m3u8", "my%20clip/seg%2B1.ts", "a/my clip/seg+1.ts"),
        ("a/list.m3u8", "seg+1.ts", "a/seg+1.ts"),
        ("a/list.m3u8", "caf%C3%A9.ts", "a/café.ts"),
        ("100% real/list.m3u8", "s.ts", "100% real/s.ts"),
        ("a/b/list.m3u8", "%2E%2E/s.ts", "a/s.ts"),
        ("list.m3u8", "s.ts", "s.ts"),
    ],
)
def test_a_relative_uri_resolves_against_the_playlist_key(base: str, uri: str, key: str) -> None:
    assert resolve(base, uri) == key


@pytest.mark.parametrize("uri", ["https://cdn.example/s.ts", "HTTP://cdn.example/a/s.ts?sig=1"])
def test_an_absolute_url_resolves_to_nothing(uri: str) -> None:
    assert resolve("a/list.m3u8", uri) is None


@pytest.mark.parametrize(
    ("base", "uri", "why"),
    [
        ("list.m3u8", "../s.ts", "above the bucket's root"),
        ("a/list.m3u8", "../../s.ts", "above the bucket's root"),
        ("a/list.m3u8", "/../s.ts", "above the bucket's root"),
        ("a/list.m3u8", "//evil.example/s.ts", "names a host"),
        ("a/list.m3u8", "ftp://cdn.example/s.ts", "scheme 'ftp'"),
        ("a/list.m3u8", "s3://bucket/s.ts", "scheme 's3'"),
        ("a/list.m3u8", "s.ts?part=1", "query or fragment"),
        ("a/list.m3u8", "s.ts#t=1", "query or fragment"),
        ("a/list.m3u8", "sub/", "a folder"),
        ("a/list.m3u8", "..", "a folder"),
        ("a/list.m3u8", "%FF.ts", "not UTF-8"),
    ],
)
def test_a_uri_outside_the_bucket_is_refused(base: str, uri: str, why: str) -> None:
    with pytest.raises(UnsafeReference, match=why):
        resolve(base, uri)


# -- deriving --------------------------------------------------------------------------------------


def test_a_playlist_of_absolute_urls_is_submitted_as_it_is() -> None:
    bucket = FakeBucket()
    bucket.put("live/list.m3u8", b"#EXTM3U\n#EXTINF:1,\nhttps://cdn.example/s0.ts\n")
    url = url_for(bucket, "live/list.m3u8")
    assert url == bucket.presign_get(BUCKET, "live/list.m3u8", "v1", TTL)
    # only the search for a master beside it (its folder and the one above)
    assert bucket.written == {} and [prefix for _, prefix, _ in bucket.listings] == ["live/", ""]


def test_a_relative_media_playlist_becomes_one_derived_playlist_of_presigned_segments() -> None:
    # Given the real v0 media playlist and its three segments in one folder
    bucket = FakeBucket()
    bucket.put_set(HLS / "v0", "talks/v0/")
    # When its URL is asked for
    url = url_for(bucket, "talks/v0/index.m3u8")
    # Then a derived copy names each segment by a presigned URL of its version, and that is submitted
    name = staging_key(VIDEO_ID, "playlist.m3u8")
    assert url == bucket.presign_get(STAGING, name, None, TTL)
    expected = text("v0/index.m3u8")
    for seg in ("seg0.ts", "seg1.ts", "seg2.ts"):
        version = bucket.objects[(BUCKET, f"talks/v0/{seg}")].version_id
        expected = expected.replace(
            f"\n{seg}\n", f"\n{bucket.presign_get(BUCKET, f'talks/v0/{seg}', version, TTL)}\n"
        )
    assert bucket.written == {name: expected.encode()}
    # found by one listing of the folder (the segments' common prefix, up to the last one), after the
    # search for a master naming it in its folder and the one above
    assert [(prefix, last) for _, prefix, last in bucket.listings] == [
        ("talks/v0/", "talks/v0/\U0010ffff"),
        ("talks/", "talks/\U0010ffff"),
        ("talks/v0/seg", "talks/v0/seg2.ts"),
    ]


def test_a_relative_master_gets_a_derived_playlist_per_variant_and_a_derived_master() -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS, "sets/a/", skip=lambda name: name.startswith("fmp4/"))
    url = url_for(bucket, "sets/a/master.m3u8")
    master, v0, v1 = (staging_key(VIDEO_ID, n) for n in ("playlist.m3u8", "variant-0.m3u8", "variant-1.m3u8"))
    assert set(bucket.written) == {master, v0, v1}
    assert url == bucket.presign_get(STAGING, master, None, TTL)
    derived_master = parse(bucket.written[master].decode())
    assert [r.uri for r in derived_master.references] == [
        bucket.presign_get(STAGING, v0, None, TTL),
        bucket.presign_get(STAGING, v1, None, TTL),
    ]
    # the master's other lines (bandwidths, codecs, blank lines) are as they were
    assert bucket.written[master].decode().splitlines()[:3] == text("master.m3u8").splitlines()[:3]
    for derived, folder in ((v0, "v0"), (v1, "v1")):
        uris = [r.uri for r in parse(bucket.written[derived].decode()).references]
        assert [u.split("?")[0] for u in uris] == [
            f"https://{BUCKET}.s3.test/sets/a/{folder}/seg{i}.ts" for i in range(3)
        ]
        assert all(f"X-Amz-Expires={TTL}" in u and "versionId=" in u for u in uris)


def test_a_retry_rewrites_the_same_objects_with_the_same_text() -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS, "sets/a/", skip=lambda name: name.startswith("fmp4/"))
    first = url_for(bucket, "sets/a/master.m3u8")
    written = dict(bucket.written)
    assert url_for(bucket, "sets/a/master.m3u8") == first
    assert bucket.written == written


def test_the_init_section_of_an_fmp4_playlist_is_presigned_too() -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS / "fmp4", "f/")
    url_for(bucket, "f/index.m3u8")
    derived = bucket.written[staging_key(VIDEO_ID, "playlist.m3u8")].decode()
    assert f'#EXT-X-MAP:URI="https://{BUCKET}.s3.test/f/init.mp4?versionId=' in derived


def test_a_variant_with_only_absolute_urls_is_named_by_its_own_presigned_url() -> None:
    bucket = FakeBucket()
    bucket.put("m/master.m3u8", b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhi/list.m3u8\n")
    bucket.put("m/hi/list.m3u8", b"#EXTM3U\n#EXTINF:1,\nhttps://cdn.example/s.ts\n#EXT-X-ENDLIST\n")
    url_for(bucket, "m/master.m3u8")
    master = bucket.written.pop(staging_key(VIDEO_ID, "playlist.m3u8")).decode()
    assert bucket.written == {}
    assert bucket.presign_get(BUCKET, "m/hi/list.m3u8", "v2", TTL) in master


def test_a_missing_segment_is_refused_naming_the_first_one_and_nothing_is_written() -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS / "v0", "t/", skip=lambda name: name in ("seg1.ts", "seg2.ts"))
    refusal = url_for(bucket, "t/index.m3u8")
    assert isinstance(refusal, Refusal)
    assert "'seg1.ts' ('t/seg1.ts'), which is not in the bucket" in refusal.reason
    assert bucket.written == {}


def test_a_missing_variant_of_a_master_is_refused() -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS, "s/", skip=lambda name: name.startswith(("fmp4/", "v1/")))
    refusal = url_for(bucket, "s/master.m3u8")
    assert isinstance(refusal, Refusal) and "'v1/index.m3u8' ('s/v1/index.m3u8')" in refusal.reason


def test_a_set_over_the_providers_limit_is_refused_with_its_total() -> None:
    # Given a real set where S3 reports one segment as 1 GiB
    bucket = FakeBucket()
    bucket.put_set(HLS / "v0", "big/")
    bucket.objects[(BUCKET, "big/seg1.ts")].size = 1024**3
    refusal = url_for(bucket, "big/index.m3u8")
    assert isinstance(refusal, Refusal)
    assert refusal.reason.startswith("too large: the HLS playlist and the 3 objects it names total ")
    assert "memories.ai takes at most 1073741824" in refusal.reason
    assert bucket.written == {}


def test_a_master_whose_variant_is_a_master_is_refused() -> None:
    bucket = FakeBucket()
    bucket.put("n/master.m3u8", b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\ninner.m3u8\n")
    bucket.put("n/inner.m3u8", b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/list.m3u8\n")
    refusal = url_for(bucket, "n/master.m3u8")
    assert isinstance(refusal, Refusal) and "is a master playlist itself" in refusal.reason


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"#EXTM3U\n#EXTINF:1,\n../../s.ts\n", "climbs above the bucket's root"),
        (b"#EXTM3U\n#EXTINF:1,\n//other.example/s.ts\n", "names a host"),
        (b"#EXTM3U\nseg.ts\n", "malformed HLS playlist 'p/list.m3u8'"),
    ],
)
def test_a_playlist_naming_what_is_not_in_the_bucket_is_refused(body: bytes, why: str) -> None:
    bucket = FakeBucket()
    bucket.put("p/list.m3u8", body)
    refusal = url_for(bucket, "p/list.m3u8")
    assert isinstance(refusal, Refusal) and why in refusal.reason


def test_a_playlist_larger_than_the_bound_is_refused_without_reading_it() -> None:
    bucket = FakeBucket()
    bucket.put("huge.m3u8", b"#EXTM3U\n", size=MAX_PLAYLIST_BYTES + 1)
    refusal = url_for(bucket, "huge.m3u8")
    assert isinstance(refusal, Refusal) and f"at most {MAX_PLAYLIST_BYTES}" in refusal.reason


def test_a_playlist_longer_than_the_first_read_is_read_whole() -> None:
    bucket = FakeBucket()
    lines = "".join(f"#EXTINF:1,\nseg{i:04d}.ts\n" for i in range(400))
    bucket.put("long/list.m3u8", f"#EXTM3U\n{lines}#EXT-X-ENDLIST\n".encode())
    for i in range(400):
        bucket.put(f"long/seg{i:04d}.ts", b"\x47" * 10)
    assert len(bucket.info("long/list.m3u8").head) < bucket.info("long/list.m3u8").size
    assert not isinstance(url_for(bucket, "long/list.m3u8"), Refusal)
    assert len(parse(bucket.written[staging_key(VIDEO_ID, "playlist.m3u8")].decode()).references) == 400
    assert [prefix for _, prefix, _ in bucket.listings] == ["long/", "", "long/seg0"]


def test_without_a_staging_bucket_a_relative_playlist_is_refused() -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS / "v0", "t/")
    refusal = url_for(bucket, "t/index.m3u8", staging_bucket=None)
    assert isinstance(refusal, Refusal) and "no HLS staging bucket" in refusal.reason


def test_a_listing_s3_refuses_is_a_refusal_that_says_what_to_fix() -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS / "v0", "t/")
    bucket.list_error = ObjectUnreadable("AccessDenied", "denied", kms=False)
    refusal = url_for(bucket, "t/index.m3u8")
    assert isinstance(refusal, Refusal) and "s3:ListBucketVersions" in refusal.reason


# -- through the ingest use case -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a/seg0.ts", "a/part1.M4S", "a/audio.aac", "a/subs.vtt"])
def test_a_segment_never_joins_the_line(make_ingestor: MakeIngestor, store: InMemoryStore, key: str) -> None:
    assert is_segment_key(key)
    outcome = make_ingestor().enqueue(created(key))
    assert outcome.kind is Kind.SKIPPED and "an HLS segment" in outcome.detail
    assert store.only().status == SKIPPED


@pytest.fixture
def hls_ingestor(
    ingest_config: IngestConfig,
    store: InMemoryStore,
    provider: FakeProvider,
    gate: FakeGate,
    clock: FakeClock,
    metrics: FakeMetrics,
) -> Callable[[FakeBucket], Ingestor]:
    """An Ingestor whose object store and playlists share one bucket, as the handler builds it."""

    def make(bucket: FakeBucket) -> Ingestor:
        return Ingestor(
            replace(ingest_config, video_suffixes=(".mp4", ".m3u8")),
            store=store,
            objects=bucket,
            provider=provider,
            gate=gate,
            signing_key=lambda: SIGNING_KEY,
            clock=clock,
            metrics=metrics,
            playlists=playlists(bucket),
        )

    return make


def test_a_relative_playlist_is_submitted_as_its_derived_playlist(
    hls_ingestor: Callable[[FakeBucket], Ingestor],
    store: InMemoryStore,
    provider: FakeProvider,
    clock: FakeClock,
) -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS / "v0", "t/")
    ingestor = hls_ingestor(bucket)
    ref = created("t/index.m3u8", version_id="v1", size=bucket.info("t/index.m3u8").size)
    assert ingestor.enqueue(ref).kind is Kind.QUEUED
    assert store.only().status == QUEUED
    (outcome,) = ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=60)
    assert outcome.kind is Kind.SUBMITTED
    [request] = provider.requests
    assert request.url == bucket.presign_get(
        STAGING, staging_key(id_of(ref), "playlist.m3u8"), None, 6 * 3600
    )


def test_a_playlist_with_a_missing_segment_is_rejected_without_a_call(
    hls_ingestor: Callable[[FakeBucket], Ingestor],
    store: InMemoryStore,
    provider: FakeProvider,
    clock: FakeClock,
) -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS / "v0", "t/", skip=lambda name: name == "seg2.ts")
    ingestor = hls_ingestor(bucket)
    ingestor.enqueue(created("t/index.m3u8", version_id="v1"))
    (outcome,) = ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=60)
    assert outcome.kind is Kind.REJECTED and "'seg2.ts'" in outcome.detail
    assert store.only().status == REJECTED and provider.requests == []


# -- a master's variants are submitted with it, never on their own ---------------------------------


def test_a_media_playlist_named_by_a_master_beside_it_is_skipped() -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS, "sets/a/", skip=lambda name: name.startswith("fmp4/"))
    refusal = url_for(bucket, "sets/a/v1/index.m3u8")
    assert refusal == Refusal(
        "a variant of master playlist 'sets/a/master.m3u8' beside it, which is submitted with it;"
        " not submitted on its own",
        skip=True,
    )
    assert bucket.written == {}


def test_a_media_playlist_a_master_does_not_name_is_submitted() -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS, "sets/a/", skip=lambda name: name.startswith("fmp4/"))
    bucket.put("sets/a/v1/other.m3u8", (HLS / "v1" / "index.m3u8").read_bytes())
    assert isinstance(url_for(bucket, "sets/a/v1/other.m3u8"), str)


def test_a_variant_goes_to_skipped_at_its_turn_and_its_master_is_the_one_submission(
    hls_ingestor: Callable[[FakeBucket], Ingestor],
    store: InMemoryStore,
    provider: FakeProvider,
    clock: FakeClock,
) -> None:
    bucket = FakeBucket()
    bucket.put_set(HLS, "s/", skip=lambda name: name.startswith("fmp4/"))
    ingestor = hls_ingestor(bucket)
    keys = sorted(k for _, k in bucket.objects)
    outcomes = [ingestor.enqueue(created(k, version_id=bucket.info(k).version_id)) for k in keys]
    assert [o.kind for o in outcomes].count(Kind.QUEUED) == 3  # the master and its two variants
    drained = ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=60)
    assert sorted(o.kind for o in drained) == [Kind.SKIPPED, Kind.SKIPPED, Kind.SUBMITTED]
    [request] = provider.requests
    assert (
        staging_key(
            id_of(created("s/master.m3u8", version_id=bucket.info("s/master.m3u8").version_id)),
            "playlist.m3u8",
        )
        in request.url
    )
    statuses = sorted(r.status for r in store.all())
    assert statuses.count(SKIPPED) == 8 and statuses.count(UNPARSE) == 1
    assert all(r.expires_at for r in store.all() if r.status == SKIPPED)


def test_a_playlist_waits_for_the_rest_of_its_set_before_its_turn(
    make_ingestor: MakeIngestor, store: InMemoryStore, clock: FakeClock
) -> None:
    ingestor = make_ingestor(video_suffixes=(".m3u8",), playlist_settle_seconds=30.0)
    ref = replace(created("s/master.m3u8"), event_time="2026-01-01T00:00:00Z")
    assert ingestor.enqueue(ref).kind is Kind.QUEUED
    assert store.only().not_before == epoch("2026-01-01T00:00:00Z") + 30
