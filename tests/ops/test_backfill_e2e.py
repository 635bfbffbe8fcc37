"""Backfill through the whole local stack: a bucket with objects already in it (awkward keys, one
already submitted by a drop, non-videos) is backfilled, then backfilled again, and nothing is billed
twice; the backfilled videos go through the line at the account's rate, as drops do."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final

import pytest

from devstack.resources import notify_queue
from devstack.stack import LocalStack
from functions.core import env
from functions.core.contract import trace_tag
from functions.core.signing import video_id_for
from functions.core.status import PARSE, REJECTED, VideoRecord
from ops.cli import main
from tests.conftest import TEST_STACK

pytestmark = pytest.mark.e2e

SAMPLE: Final = (Path(__file__).resolve().parents[1] / "fixtures" / "sample.mp4").read_bytes()
RATE: Final = 30
# Keys S3 would +-encode or percent-encode in a notification.
VIDEOS: Final = (
    "archive/2024/talk one.mp4",
    "archive/2024/ünïcödé & co+plus.mov",
    "archive/2024/100% real?.mkv",
    "archive/old/a=b;c,d.mp4",
)
NOT_VIDEOS: Final = ("archive/2024/notes.txt", "archive/2024/cover.jpg")
DISGUISED: Final = "archive/2024/really a text.mp4"
OUTSIDE: Final = "elsewhere/other.mp4"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    config = replace(
        TEST_STACK,
        callback_delays=(0.1, 0.3),
        provider_uploads_per_minute=RATE,
        function_env={**TEST_STACK.function_env, env.UPLOADS_PER_MINUTE: str(RATE)},
    )
    with LocalStack(config) as running:
        yield running


def cli(stack: LocalStack, *args: str) -> int:
    return main(["--table", stack.table_name, "--queue-url", stack.queue_url, *args])


def video_id(stack: LocalStack, key: str) -> str:
    etag = stack.session.client("s3").head_object(Bucket=stack.bucket, Key=key)["ETag"].strip('"')
    return video_id_for(stack.bucket, key, etag)


def final(stack: LocalStack, video_ids: list[str]) -> list[VideoRecord]:
    def done() -> list[VideoRecord] | None:
        records = [stack.record(v) for v in video_ids]
        ready = [r for r in records if r is not None and r.status in (PARSE, REJECTED)]
        return ready if len(ready) == len(video_ids) else None

    return stack.wait_for(done, timeout=60 + len(video_ids) * 60 / RATE, what="every video final")


def put_without_notification(stack: LocalStack, objects: dict[str, bytes]) -> None:
    """Objects that were in the bucket before the pipeline: S3 notifies nobody of them."""
    s3 = stack.session.client("s3")
    s3.put_bucket_notification_configuration(Bucket=stack.bucket, NotificationConfiguration={})
    try:
        for key, data in objects.items():
            s3.put_object(Bucket=stack.bucket, Key=key, Body=data)
        s3.put_object(Bucket=stack.bucket, Key="archive/2024/folder/", Body=b"")
    finally:
        notify_queue(stack.session, stack.bucket, stack.resources.queue_arn, "s3")


def test_backfill_twice_bills_each_video_once_at_the_rate(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.emulator is not None
    # Given a video already dropped (and parsed) through the notification path
    dropped = stack.upload(VIDEOS[0], SAMPLE)
    final(stack, [dropped.video_id])
    # and objects that were there before: videos with awkward keys, non-videos, a disguised text
    put_without_notification(
        stack,
        {
            **{key: SAMPLE for key in VIDEOS[1:]},
            **{key: b"not a video" for key in NOT_VIDEOS},
            DISGUISED: b"just some text, named like a video\n" * 10,
            OUTSIDE: SAMPLE,
        },
    )
    assert stack.emulator.billed_calls() == 1

    # A dry run counts and sends nothing
    capsys.readouterr()
    assert cli(stack, "backfill", "--bucket", stack.bucket, "--prefix", "archive/", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "listed 8 · would queue 4 · already known 1 · skipped 3" in out
    assert "last submission about" in out and "nothing was sent" in out
    assert all(stack.record(video_id(stack, key)) is None for key in VIDEOS[1:])

    # When the prefix is backfilled
    assert cli(stack, "backfill", "--bucket", stack.bucket, "--prefix", "archive/") == 0
    out = capsys.readouterr().out
    assert "listed 8 · queued 4 · already known 1 · skipped 3" in out
    assert "skipped: 1 folder marker, 2 not a video (VIDEO_SUFFIXES)" in out

    # Then each backfilled video ends PARSE, the disguised text REJECTED before any call
    backfilled = [video_id(stack, key) for key in VIDEOS[1:]]
    records = {r.key: r for r in final(stack, [*backfilled, video_id(stack, DISGUISED)])}
    assert {records[key].status for key in VIDEOS[1:]} == {PARSE}
    assert records[DISGUISED].status == REJECTED
    assert "not a video" in (records[DISGUISED].reason or "")
    # the objects outside the prefix and the non-videos have no record
    assert stack.record(video_id(stack, OUTSIDE)) is None
    assert all(stack.record(video_id(stack, key)) is None for key in NOT_VIDEOS)
    # billed once each (the dropped one not again), spaced at the account's rate as drops are
    calls = stack.emulator.calls()
    for key in VIDEOS:
        vid = video_id(stack, key)
        assert [c["outcome"] for c in calls if trace_tag(vid) in c["form"].get("tags", [])] == ["accepted"]
    assert stack.emulator.billed_calls() == len(VIDEOS)
    accepted = sorted(c["at"] for c in calls if c["outcome"] == "accepted")
    assert min(b - a for a, b in itertools.pairwise(accepted[1:])) >= 60 / RATE

    # When the same backfill runs again, nothing is sent and nothing billed
    assert cli(stack, "backfill", "--bucket", stack.bucket, "--prefix", "archive/") == 0
    out = capsys.readouterr().out
    assert "listed 8 · queued 0 · already known 5 · skipped 3" in out
    assert stack.emulator.billed_calls() == len(VIDEOS)


def test_backfill_refuses_another_bucket_and_a_bad_date(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(stack, "backfill", "--bucket", "someone-elses-bucket") == 2
    assert "refuses objects of 'someone-elses-bucket'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(stack, "backfill", "--bucket", stack.bucket, "--since", "last tuesday")
    assert "not an ISO date" in capsys.readouterr().err
