"""The backfill's listing against the moto server: each key's current version, in a versioned
bucket (version ids) and an unversioned one (ETags), as the ingest function's notifications name them."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from devstack.services import MotoServer
from functions.adapters.s3 import S3Objects
from ops.backfill import listed_objects


@pytest.fixture
def s3(moto_server: MotoServer) -> Any:
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    return session.client("s3", endpoint_url=moto_server.endpoint_url)


@pytest.mark.parametrize("versioned", [True, False])
def test_only_current_versions_are_listed_with_what_tells_them_apart(s3: Any, versioned: bool) -> None:
    bucket = f"backfill-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="in/a clip.mp4", Body=b"first")
    latest = s3.put_object(Bucket=bucket, Key="in/a clip.mp4", Body=b"second")
    s3.put_object(Bucket=bucket, Key="in/gone.mp4", Body=b"gone")
    s3.delete_object(Bucket=bucket, Key="in/gone.mp4")  # a delete marker when versioned
    s3.put_object(Bucket=bucket, Key="out/b.mp4", Body=b"b")

    found = list(listed_objects(s3, bucket, "in/"))

    assert [item.ref.key for item in found] == ["in/a clip.mp4"]
    ref = found[0].ref
    assert ref.size == len(b"second")
    assert ref.etag == latest["ETag"].strip('"')
    assert ref.version_id == (latest["VersionId"] if versioned else None)
    assert found[0].last_modified.tzinfo is not None


def test_the_version_a_delete_marker_hides_is_found(s3: Any) -> None:
    """What functions.core.deletes asks S3 after a delete marker: the key's newest real version."""
    bucket = f"deletes-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="a.mp4", Body=b"1")
    second = s3.put_object(Bucket=bucket, Key="a.mp4", Body=b"2")["VersionId"]
    s3.put_object(Bucket=bucket, Key="a.mp4.bak", Body=b"x")  # shares the prefix, another key
    s3.delete_object(Bucket=bucket, Key="a.mp4")  # the delete marker
    objects = S3Objects(s3)
    assert objects.latest_version(bucket, "a.mp4") == second
    assert objects.latest_version(bucket, "missing.mp4") is None
