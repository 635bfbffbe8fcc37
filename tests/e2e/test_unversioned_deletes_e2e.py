"""A delete on an unversioned bucket through the whole local stack (S3 notifications; moto's
ObjectRemoved:Delete event names neither a version nor an ETag, as S3's does): the record of the
key's newest drop becomes DELETED and, with provider deletes on, memories.ai no longer has it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final

import pytest

from devstack.stack import LocalStack
from functions.core import env
from functions.core.status import DELETED, PARSE, VideoRecord
from tests.conftest import TEST_STACK

pytestmark = pytest.mark.e2e

SAMPLE: Final = (Path(__file__).resolve().parents[1] / "fixtures" / "sample.mp4").read_bytes()


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    config = replace(
        TEST_STACK,
        callback_delays=(0.1, 0.3),
        function_env={**TEST_STACK.function_env, env.DELETE_AT_PROVIDER: "true"},
    )
    with LocalStack(config) as running:
        versioning = running.session.client("s3").get_bucket_versioning(Bucket=running.bucket)
        assert versioning.get("Status") != "Enabled"
        yield running


def test_a_delete_on_an_unversioned_bucket_reaches_the_record_and_the_provider(stack: LocalStack) -> None:
    assert stack.emulator is not None
    upload = stack.upload("plain/holiday clip+1.mp4", SAMPLE)
    assert upload.version_id is None

    def status(wanted: str) -> VideoRecord | None:
        record = stack.record(upload.video_id)
        return record if record is not None and record.status == wanted else None

    parsed = stack.wait_for(lambda: status(PARSE), timeout=60, what="PARSE")
    assert any(v["videoNo"] == parsed.video_no for v in stack.emulator.videos())
    stack.session.client("s3").delete_object(Bucket=stack.bucket, Key=upload.key)
    gone = stack.wait_for(lambda: status(DELETED), timeout=20, what="DELETED")
    assert gone.video_no == parsed.video_no and "deleted at memories.ai" in (gone.reason or "")
    assert not any(v["videoNo"] == parsed.video_no for v in stack.emulator.videos())
    # the key's note is a coordination item, not a record
    assert [r.video_id for r in stack.records()] == [upload.video_id]
