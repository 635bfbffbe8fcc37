"""The S3 adapter against the moto server: one ranged GET gives what the ingest function checks
before a metered call (the size S3 reports, the metadata, the version, the first bytes)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from devstack.services import MotoServer
from functions.adapters.s3 import S3Objects
from functions.core.content import SNIFF_BYTES, refusal

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def s3(moto_server: MotoServer) -> Any:
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    return session.client(
        "s3", endpoint_url=moto_server.endpoint_url, config=Config(signature_version="s3v4")
    )


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"objects-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def test_peek_reads_the_first_bytes_and_the_whole_size_in_one_request(s3: Any, bucket: str) -> None:
    # Given a real video larger than the read, with user metadata, in a versioned bucket
    video = (FIXTURES / "containers" / "sample.avi").read_bytes()
    assert len(video) > SNIFF_BYTES
    put = s3.put_object(Bucket=bucket, Key="talks/a b+c.avi", Body=video, Metadata={"tags": "x,y"})
    # When the adapter peeks at it
    info = S3Objects(s3).peek(bucket, "talks/a b+c.avi", put["VersionId"], SNIFF_BYTES)
    # Then it has the first bytes only, the size S3 reports for the whole object, and its identity
    assert info is not None
    assert info.head == video[:SNIFF_BYTES]
    assert info.size == len(video)
    assert info.metadata == {"tags": "x,y"}
    assert info.version_id == put["VersionId"]
    assert info.etag == put["ETag"].strip('"')
    assert refusal(info.head) is None


def test_peek_names_the_version_asked_for_not_the_latest(s3: Any, bucket: str) -> None:
    # Given a video replaced by a text file under the same key
    first = s3.put_object(Bucket=bucket, Key="clip.mp4", Body=(FIXTURES / "sample.mp4").read_bytes())
    s3.put_object(Bucket=bucket, Key="clip.mp4", Body=b"not a video any more\n")
    objects = S3Objects(s3)
    # Then the recorded version is still the video, and the latest is refused as text
    original = objects.peek(bucket, "clip.mp4", first["VersionId"], SNIFF_BYTES)
    latest = objects.peek(bucket, "clip.mp4", None, SNIFF_BYTES)
    assert original is not None and refusal(original.head) is None
    assert latest is not None and latest.size == 21
    assert refusal(latest.head) == refusal(b"text")


def test_peek_of_a_small_object_returns_all_of_it(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="short.m3u8", Body=b"#EXTM3U\n")
    info = S3Objects(s3).peek(bucket, "short.m3u8", None, SNIFF_BYTES)
    assert info is not None and info.head == b"#EXTM3U\n" and info.size == 8


def test_peek_of_an_empty_object_is_size_zero(s3: Any, bucket: str) -> None:
    # A range from byte 0 of an empty object is unsatisfiable (416): the adapter asks HEAD instead.
    s3.put_object(Bucket=bucket, Key="empty.mp4", Body=b"")
    info = S3Objects(s3).peek(bucket, "empty.mp4", None, SNIFF_BYTES)
    assert info is not None and info.size == 0 and info.head == b""


def test_peek_of_a_deleted_object_or_unknown_version_is_none(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="gone.mp4", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="gone.mp4")
    objects = S3Objects(s3)
    assert objects.peek(bucket, "gone.mp4", None, SNIFF_BYTES) is None
    assert objects.peek(bucket, "never.mp4", None, SNIFF_BYTES) is None
    assert objects.peek(bucket, "gone.mp4", put["VersionId"] + "x", SNIFF_BYTES) is None
