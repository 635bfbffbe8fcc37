"""Deletes through the whole local stack, on a versioned bucket (as the stack creates it) with
provider deletes on: a video deleted while it waits in line is never submitted nor billed; one
deleted after PARSE is deleted at memories.ai (delete_videos) and its record kept as DELETED; the
same bytes uploaded again are a new submission.

In EventBridge mode, where moto's events carry the version id as S3's do (moto's S3 notifications
leave it out, and moto sends nothing for a delete marker: both are covered by unit tests of the
same code, tests/unit/test_deletes.py, and the version lookup against moto in
tests/integration/test_backfill_listing.py). Versions are deleted by id, as S3 Object Deleted
"Permanently Deleted"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final

import pytest

from devstack.stack import LocalStack, Uploaded
from functions.core import env
from functions.core.contract import trace_tag
from functions.core.status import DELETED, PARSE, QUEUED, SUBMITTING, UNPARSE, VideoRecord
from tests.conftest import TEST_STACK

pytestmark = pytest.mark.e2e

SAMPLE: Final = (Path(__file__).resolve().parents[1] / "fixtures" / "sample.mp4").read_bytes()
# Slots 10.5 s apart: the second of two drops waits in line long enough to be deleted there.
RATE: Final = 6


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    config = replace(
        TEST_STACK,
        callback_delays=(0.1, 0.3),
        notification_source="eventbridge",
        provider_uploads_per_minute=RATE,
        ingest_every_seconds=1,
        function_env={
            **TEST_STACK.function_env,
            env.UPLOADS_PER_MINUTE: str(RATE),
            env.DELETE_AT_PROVIDER: "true",
        },
    )
    with LocalStack(config) as running:
        running.session.client("s3").put_bucket_versioning(
            Bucket=running.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        yield running


def status_of(stack: LocalStack, upload: Uploaded, wanted: str, timeout: float = 60) -> VideoRecord:
    def reached() -> VideoRecord | None:
        record = stack.record(upload.video_id)
        return record if record is not None and record.status == wanted else None

    return stack.wait_for(reached, timeout=timeout, what=f"{upload.key} {wanted}")


def billed_for(stack: LocalStack, upload: Uploaded) -> int:
    assert stack.emulator is not None
    return sum(
        1
        for call in stack.emulator.calls()
        if call["billed"] and trace_tag(upload.video_id) in call["form"].get("tags", [])
    )


def test_deletes_before_and_after_parse(stack: LocalStack) -> None:
    assert stack.emulator is not None
    s3 = stack.session.client("s3")
    # Given two drops at once: the first goes, the second waits in line for the next slot
    first = stack.upload("del/first clip+1.mp4", SAMPLE)
    second = stack.upload("del/second clip+2.mp4", SAMPLE)
    assert first.version_id and second.version_id
    status_of(stack, second, QUEUED, timeout=20)

    # When the waiting one is deleted
    s3.delete_object(Bucket=stack.bucket, Key=second.key, VersionId=second.version_id)
    deleted = status_of(stack, second, DELETED, timeout=20)
    # Then it leaves the line unbilled, its history kept
    assert [step.to_status for step in deleted.history] == [QUEUED, DELETED]
    assert "never submitted, not billed" in (deleted.reason or "")

    # When the first, once parsed, is deleted
    parsed = status_of(stack, first, PARSE)
    assert parsed.video_no is not None
    assert any(v["videoNo"] == parsed.video_no for v in stack.emulator.videos())
    s3.delete_object(Bucket=stack.bucket, Key=first.key, VersionId=first.version_id)
    gone = status_of(stack, first, DELETED, timeout=20)
    # Then memories.ai no longer has it, and the record keeps the videoNo and the whole history
    assert not any(v["videoNo"] == parsed.video_no for v in stack.emulator.videos())
    assert gone.video_no == parsed.video_no
    assert [step.to_status for step in gone.history] == [QUEUED, SUBMITTING, UNPARSE, PARSE, DELETED]

    # and nothing is billed after the wait: the deleted one never (not at its slot, 10 s later)
    status_of_none = stack.wait_for(
        lambda: (
            stack.emulator is not None and not stack.emulator.calls()[1:] and stack.record(second.video_id)
        ),
        timeout=2,
        what="no second call",
    )
    assert status_of_none
    assert (billed_for(stack, first), billed_for(stack, second)) == (1, 0)

    # When the same bytes are uploaded again, that is a new object version: a new submission
    again = stack.upload(first.key, SAMPLE)
    assert again.video_id != first.video_id
    status_of(stack, again, PARSE, timeout=60)
    assert billed_for(stack, again) == 1
    assert stack.emulator.billed_calls() == 2
