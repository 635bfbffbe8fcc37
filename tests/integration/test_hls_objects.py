"""The S3 adapter's HLS calls against the moto server: one ListObjectVersions finds a playlist's
segments (newest versions, sizes, delete markers, only its folder), and derived playlists are
written to the staging bucket and fetched back through their presigned URLs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from devstack.services import MotoServer
from functions.adapters.s3 import S3Objects
from functions.core.hls import PLAYLIST_CONTENT_TYPE, HlsConfig, ListedObject, Playlists, parse, staging_key

HLS = Path(__file__).resolve().parents[1] / "fixtures" / "hls"


@pytest.fixture
def s3(moto_server: MotoServer) -> Any:
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    return session.client(
        "s3", endpoint_url=moto_server.endpoint_url, config=Config(signature_version="s3v4")
    )


def _bucket(s3: Any, *, versioned: bool) -> str:
    name = f"hls-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def test_one_listing_gives_the_newest_version_and_size_of_each_segment_in_the_folder(s3: Any) -> None:
    bucket = _bucket(s3, versioned=True)
    s3.put_object(Bucket=bucket, Key="set/seg0.ts", Body=b"old")
    newest = s3.put_object(Bucket=bucket, Key="set/seg0.ts", Body=b"newer bytes")
    s3.put_object(Bucket=bucket, Key="set/seg1.ts", Body=b"x" * 10)
    s3.delete_object(Bucket=bucket, Key="set/seg1.ts")  # a delete marker hides it
    s3.put_object(Bucket=bucket, Key="set/seg2.ts", Body=b"y" * 5)
    s3.put_object(Bucket=bucket, Key="set/seg9.ts", Body=b"after the last one wanted")
    s3.put_object(Bucket=bucket, Key="set/segments/deeper.ts", Body=b"another folder")
    listed = S3Objects(s3).latest_versions(bucket, "set/seg", "set/seg2.ts")
    assert listed == {
        "set/seg0.ts": ListedObject(size=11, version_id=newest["VersionId"]),
        "set/seg2.ts": ListedObject(size=5, version_id=listed["set/seg2.ts"].version_id),
    }
    assert listed["set/seg2.ts"].version_id is not None


def test_an_unversioned_buckets_listing_has_no_version_ids(s3: Any) -> None:
    bucket = _bucket(s3, versioned=False)
    s3.put_object(Bucket=bucket, Key="a b/seg+0.ts", Body=b"z" * 3)
    assert S3Objects(s3).latest_versions(bucket, "a b/seg", "a b/seg+0.ts") == {
        "a b/seg+0.ts": ListedObject(size=3, version_id=None)
    }


def test_a_listing_past_one_page_stops_after_the_last_key_wanted(s3: Any) -> None:
    bucket = _bucket(s3, versioned=True)
    for i in range(1100):
        s3.put_object(Bucket=bucket, Key=f"many/s{i:05d}.ts", Body=b"1")
    listed = S3Objects(s3).latest_versions(bucket, "many/s", "many/s01050.ts")
    assert len(listed) == 1051 and max(listed) == "many/s01050.ts"


def test_a_derived_master_in_the_staging_bucket_leads_to_every_segment_by_presigned_urls(s3: Any) -> None:
    # Given the real HLS set (master, two variants, their segments) in a versioned source bucket
    source, staging = _bucket(s3, versioned=True), _bucket(s3, versioned=False)
    for path in sorted(HLS.rglob("*")):
        if path.is_file() and not path.relative_to(HLS).as_posix().startswith("fmp4/"):
            s3.put_object(
                Bucket=source, Key=f"drop/{path.relative_to(HLS).as_posix()}", Body=path.read_bytes()
            )
    objects = S3Objects(s3)
    info = objects.peek(source, "drop/master.m3u8", None, 4096)
    assert info is not None
    # When its URL is derived
    url = Playlists(HlsConfig(staging, 3600, 1024**3), objects).url_for(
        source, "drop/master.m3u8", info.version_id, info, "video-1"
    )
    # Then three playlists are in the staging bucket, typed as HLS, and nothing new in the source bucket
    written = s3.list_objects_v2(Bucket=staging)["Contents"]
    assert sorted(o["Key"] for o in written) == [
        staging_key("video-1", n) for n in ("playlist.m3u8", "variant-0.m3u8", "variant-1.m3u8")
    ]
    head = s3.head_object(Bucket=staging, Key=staging_key("video-1", "playlist.m3u8"))
    assert head["ContentType"] == PLAYLIST_CONTENT_TYPE
    assert s3.list_objects_v2(Bucket=source)["KeyCount"] == 9
    # and fetching the presigned master, then each variant, then each segment gives the set's bytes
    assert isinstance(url, str) and "X-Amz-Signature=" in url
    master = parse(requests.get(url, timeout=5).text)
    fetched = 0
    for variant in master.references:
        media = parse(requests.get(variant.uri, timeout=5).text)
        for segment in media.references:
            assert "X-Amz-Signature=" in segment.uri and "versionId=" in segment.uri
            body = requests.get(segment.uri, timeout=5).content
            folder, name = segment.uri.split("?")[0].split("/")[-2:]
            assert body == (HLS / folder / name).read_bytes()
            fetched += 1
    assert fetched == 6
