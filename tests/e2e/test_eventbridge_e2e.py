"""EventBridge as the notification source, through the whole local stack: the bucket sends S3's
events to EventBridge (no queue notification on the bucket), a rule sends Object Created to the
queue, and videos with awkward keys (which EventBridge does not encode) end PARSE, billed once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final

import pytest

from devstack.stack import LocalStack
from functions.core import env
from functions.core.contract import trace_tag
from functions.core.status import PARSE, SKIPPED, VideoRecord
from ops.cli import main
from tests.conftest import TEST_STACK

pytestmark = pytest.mark.e2e

SAMPLE: Final = (Path(__file__).resolve().parents[1] / "fixtures" / "sample.mp4").read_bytes()
AWKWARD: Final = (
    "eb/a+b.mp4",
    "eb/a b.mp4",
    "eb/100%25 and 100%.mov",
    "eb/日本語/動画 1.mkv",
    "eb/?#&=;,.mp4",
)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        replace(
            TEST_STACK,
            callback_delays=(0.1, 0.3),
            notification_source="eventbridge",
            function_env={**TEST_STACK.function_env, env.READ_SIDECARS: "true"},
        )
    ) as running:
        yield running


def test_the_bucket_has_no_queue_notification_only_the_rule(stack: LocalStack) -> None:
    configuration = stack.session.client("s3").get_bucket_notification_configuration(Bucket=stack.bucket)
    assert not configuration.get(
        "QueueConfigurations"
    )  # (moto does not report EventBridgeConfiguration back)
    # The S3 rule (the other one sends the status events to the local events sink).
    (rule,) = [
        r for r in stack.session.client("events").list_rules()["Rules"] if "aws.s3" in r["EventPattern"]
    ]
    assert '"Object Created"' in rule["EventPattern"]


def test_awkward_keys_arrive_through_eventbridge_and_are_billed_once(stack: LocalStack) -> None:
    assert stack.emulator is not None
    uploads = [stack.upload(key, SAMPLE) for key in AWKWARD]

    def parsed() -> list[VideoRecord] | None:
        records = [stack.record(u.video_id) for u in uploads]
        done = [r for r in records if r is not None and r.status == PARSE]
        return done if len(done) == len(uploads) else None

    records = stack.wait_for(parsed, timeout=60, what="every EventBridge-notified video PARSE")
    # the records name the objects' real keys ('+' and '%' kept): their ids match the uploads'
    assert sorted(r.key for r in records) == sorted(AWKWARD)
    calls = stack.emulator.calls()
    for upload in uploads:
        mine = [c for c in calls if trace_tag(upload.video_id) in c["form"].get("tags", [])]
        assert [c["outcome"] for c in mine] == ["accepted"], upload.key
    assert stack.emulator.billed_calls() == len(AWKWARD)


def test_a_backfill_in_eventbridge_mode_finds_every_video_known(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert (
        main(
            [
                "--table",
                stack.table_name,
                "--queue-url",
                stack.queue_url,
                "backfill",
                "--bucket",
                stack.bucket,
                "--prefix",
                "eb/",
            ]
        )
        == 0
    )
    assert (
        f"listed {len(AWKWARD)} · queued 0 · already known {len(AWKWARD)} · skipped 0"
        in capsys.readouterr().out
    )


def test_a_sidecar_uploaded_first_overrides_the_defaults(stack: LocalStack) -> None:
    assert stack.emulator is not None
    sidecar = json.dumps({"camera-model": "Sidecar Cam", "tags": ["from-sidecar"]}).encode()
    side = stack.upload("eb-sidecar/side car+1.mp4.json", sidecar)
    video = stack.upload("eb-sidecar/side car+1.mp4", SAMPLE, metadata={"latitude": "12.5"})

    def parsed() -> VideoRecord | None:
        record = stack.record(video.video_id)
        return record if record is not None and record.status == PARSE else None

    stack.wait_for(parsed, timeout=60, what="the video with a sidecar PARSE")
    (call,) = [c for c in stack.emulator.calls() if trace_tag(video.video_id) in c["form"].get("tags", [])]
    assert call["form"]["camera_model"] == "Sidecar Cam"
    assert "from-sidecar" in call["form"]["tags"]
    assert call["form"]["latitude"] == "12.5"  # the object's own metadata as well
    # the sidecar itself was never submitted: its own notification left a SKIPPED entry naming the video
    sidecar_record = stack.wait_for(
        lambda: stack.record(side.video_id), timeout=10, what="the sidecar's record"
    )
    assert sidecar_record.status == SKIPPED
    assert sidecar_record.reason == f"skipped: sidecar metadata of {video.key}"
