"""An HLS set dropped with relative URIs, through the whole local stack: the master playlist is
submitted once, as a derived playlist in the staging bucket whose every URI is a presigned URL; its
variants and segments are SKIPPED; the emulator (which refuses any URL that is not presigned) fetched
only absolute presigned URLs. A set with a missing segment is REJECTED with the reason, uncalled."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from devstack.stack import LocalStack, Uploaded
from functions.core.contract import trace_tag
from functions.core.hls import staging_key
from functions.core.status import PARSE, REJECTED, SKIPPED, VideoRecord

pytestmark = pytest.mark.e2e

HLS: Final = Path(__file__).parents[1] / "fixtures" / "hls"
# The master and its two variants with their segments (the fMP4 set is for the unit tests).
TS_SET: Final = sorted(
    p.relative_to(HLS).as_posix()
    for p in HLS.rglob("*")
    if p.is_file() and not p.relative_to(HLS).as_posix().startswith("fmp4/")
)


def _drop(stack: LocalStack, prefix: str, names: list[str]) -> dict[str, Uploaded]:
    """Upload the set as a user would: segments and playlists together, in name order."""
    return {name: stack.upload(f"{prefix}{name}", (HLS / name).read_bytes()) for name in names}


def _settled(stack: LocalStack, uploaded: Uploaded, *final: str) -> VideoRecord:
    def done() -> VideoRecord | None:
        record = stack.record(uploaded.video_id)
        return record if record is not None and record.status in final else None

    return stack.wait_for(done, timeout=60, what=f"{uploaded.key} to be one of {final}")


def _calls_for(stack: LocalStack, dropped: dict[str, Uploaded]) -> list[dict[str, object]]:
    assert stack.emulator is not None
    tags = {trace_tag(u.video_id) for u in dropped.values()}
    return [c for c in stack.emulator.calls() if tags & set(c["form"].get("tags", []))]


def test_a_relative_hls_set_is_one_submission_of_presigned_absolute_urls(local_stack: LocalStack) -> None:
    assert local_stack.emulator is not None
    prefix = f"hls-drop/{uuid.uuid4().hex[:8]}/"
    # Given the real HLS set (master, two variants, six segments) dropped with its relative URIs
    dropped = _drop(local_stack, prefix, TS_SET)
    master = dropped["master.m3u8"]
    # Then the master reaches PARSE
    record = _settled(local_stack, master, PARSE, REJECTED)
    assert record.status == PARSE, record.reason
    # and everything else in the set was skipped, saying why
    for name, uploaded in dropped.items():
        if name == "master.m3u8":
            continue
        other = _settled(local_stack, uploaded, SKIPPED, PARSE, REJECTED)
        assert other.status == SKIPPED, (name, other.status, other.reason)
        why = (
            "an HLS segment (.ts)"
            if name.endswith(".ts")
            else f"variant of master playlist '{prefix}master.m3u8'"
        )
        assert other.reason is not None and why in other.reason
    # with one billed call for the whole set, naming the derived master in the staging bucket
    calls = _calls_for(local_stack, dropped)
    assert [c["billed"] for c in calls] == [True]
    submitted = urlsplit(str(calls[0]["form"]["url"]))  # type: ignore[index]
    staging = local_stack.resources.hls_staging_bucket
    assert unquote(submitted.path) == f"/{staging}/{staging_key(master.video_id, 'playlist.m3u8')}"
    # and the emulator fetched the derived master, both derived variants and all six segments, each
    # through an absolute presigned URL (it refuses any other)
    fetched = [
        urlsplit(u) for u in local_stack.emulator.fetches() if master.video_id in u or prefix in unquote(u)
    ]
    assert all(u.scheme == "http" and u.netloc and "X-Amz-Signature" in parse_qs(u.query) for u in fetched)
    paths = sorted(unquote(u.path) for u in fetched)
    bucket = local_stack.bucket
    assert paths == sorted(
        [
            f"/{staging}/{staging_key(master.video_id, n)}"
            for n in ("playlist.m3u8", "variant-0.m3u8", "variant-1.m3u8")
        ]
        + [f"/{bucket}/{prefix}{v}/seg{i}.ts" for v in ("v0", "v1") for i in range(3)]
    )
    # the segments by the versions uploaded (none on the local stack's unversioned bucket)
    for u in fetched:
        if u.path.endswith(".ts"):
            version = dropped[unquote(u.path).removeprefix(f"/{bucket}/{prefix}")].version_id
            assert parse_qs(u.query).get("versionId") == ([version] if version else None)
    # the derived playlists are in the staging bucket, not in the source bucket
    s3 = local_stack.session.client("s3")
    listed = s3.list_objects_v2(Bucket=staging, Prefix=staging_key(master.video_id, ""))
    assert listed["KeyCount"] == 3
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == len(TS_SET)


def test_a_set_with_a_missing_segment_is_rejected_with_the_reason_and_no_call(
    local_stack: LocalStack,
) -> None:
    prefix = f"hls-missing/{uuid.uuid4().hex[:8]}/"
    # Given a media playlist whose second segment was never uploaded
    dropped = _drop(local_stack, prefix, ["v0/index.m3u8", "v0/seg0.ts", "v0/seg2.ts"])
    # Then it ends REJECTED naming the segment, and memories.ai was never called for the set
    record = _settled(local_stack, dropped["v0/index.m3u8"], PARSE, REJECTED)
    assert record.status == REJECTED
    assert (
        record.reason is not None
        and f"names 'seg1.ts' ('{prefix}v0/seg1.ts'), which is not in the bucket" in record.reason
    )
    assert _calls_for(local_stack, dropped) == []
