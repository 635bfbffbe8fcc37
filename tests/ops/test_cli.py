"""The operator command against the local stack: what an operator sees and does by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from devstack.stack import LocalStack
from functions.adapters.dynamo import RATE_SLOT_ID, DynamoStatusStore, DynamoUploadGate
from functions.core import table
from functions.core.clock import iso
from functions.core.status import PARSE, QUEUED, UNPARSE, VideoRecord
from ops.cli import main
from tests.conftest import TEST_STACK
from tests.samples import video_record

pytestmark = pytest.mark.e2e
SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "sample.mp4"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    config = replace(TEST_STACK, callback_delays=(0.1, 0.3))
    with LocalStack(config) as running:
        yield running


def cli_json(out: str) -> Any:
    """The JSON document the command printed (indented), wherever the local stack's background
    functions' log lines (one JSON object per line, to the same stdout) fall around it."""
    start = out.index("{\n")
    return json.JSONDecoder().raw_decode(out, start)[0]


def cli(stack: LocalStack, *args: str) -> int:
    flags = ["--table", stack.table_name, "--queue-url", stack.queue_url, "--dlq-url", stack.dlq_url]
    return main([*flags, *args])


def parsed(stack: LocalStack, video_id: str) -> VideoRecord:
    def done() -> VideoRecord | None:
        record = stack.record(video_id)
        return record if record and record.status == PARSE else None

    return stack.wait_for(done, timeout=60, what="PARSE")


def test_list_and_show_a_parsed_video(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    uploaded = stack.upload("ops/talk one.mp4", SAMPLE.read_bytes())
    record = parsed(stack, uploaded.video_id)
    capsys.readouterr()

    assert cli(stack, "list", "--status", PARSE) == 0
    listing = capsys.readouterr().out
    assert "ops/talk one.mp4" in listing and record.video_no in listing

    assert cli(stack, "show", "--bucket", stack.bucket, "--key", "ops/talk one.mp4") == 0
    shown = cli_json(capsys.readouterr().out)
    assert shown["video_no"] == record.video_no
    assert [step["to_status"] for step in shown["history"]][-1] == PARSE

    assert cli(stack, "show", "--video-no", record.video_no or "") == 0
    assert cli_json(capsys.readouterr().out)["video_id"] == uploaded.video_id


def test_resubmit_of_an_accepted_video_needs_force_and_says_it_is_billed_again(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.emulator is not None
    uploaded = stack.upload("ops/resubmit me.mp4", SAMPLE.read_bytes())
    first = parsed(stack, uploaded.video_id)
    billed = stack.emulator.billed_calls()
    capsys.readouterr()

    # Without --force: refused, nothing changes, nothing is sent
    assert cli(stack, "resubmit", uploaded.video_id) == 2
    refusal = capsys.readouterr().err
    assert "already accepted" in refusal and first.video_no in refusal and "--force" in refusal
    assert stack.record(uploaded.video_id) == first

    # With --force: it says so, and the video is uploaded (and billed) again
    assert cli(stack, "resubmit", "--force", uploaded.video_id) == 0
    assert "billed again" in capsys.readouterr().err

    def new_upload() -> VideoRecord | None:
        record = stack.record(uploaded.video_id)
        return record if record and record.status == PARSE and record.video_no != first.video_no else None

    second = stack.wait_for(new_upload, timeout=60, what="the resubmitted upload to reach PARSE")
    assert QUEUED in [step.to_status for step in second.history]
    assert stack.emulator.billed_calls() == billed + 1


def test_an_unknown_video_is_a_clear_error(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(stack, "show", "0" * 32) == 2
    assert "no record" in capsys.readouterr().err


def test_resubmit_refuses_a_video_still_in_progress(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    store = DynamoStatusStore(stack.session.client("dynamodb"), stack.table_name)
    at = iso(time.time())
    store.create(
        video_record(
            "f" * 32,
            status=UNPARSE,
            at=at,
            bucket=stack.bucket,
            key="ops/indexing.mp4",
            object_version="etag",
            size=1,
            history=False,
            video_no="VI1",
        )
    )
    assert cli(stack, "resubmit", "f" * 32) == 2
    assert "still in progress" in capsys.readouterr().err
    record = store.get("f" * 32)
    assert record is not None and record.status == UNPARSE


def test_redrive_moves_dead_lettered_messages_back_and_they_are_processed(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given an S3 notification that ended in the dead-letter queue (e.g. the key was unset for a
    while), when the operator redrives, then it is processed and the video reaches PARSE."""
    key = "ops/dead lettered.mp4"
    sqs = stack.session.client("sqs")
    s3 = stack.session.client("s3")
    notifications = s3.get_bucket_notification_configuration(Bucket=stack.bucket)
    notifications.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(Bucket=stack.bucket, NotificationConfiguration={})
    uploaded = stack.upload(key, SAMPLE.read_bytes())
    body = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": stack.bucket},
                    "object": {"key": quote_plus(key, safe="/"), "size": 10, "eTag": uploaded.etag},
                },
            }
        ]
    }
    sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=json.dumps(body))

    try:
        assert cli(stack, "redrive") == 0
        assert "moved 1 message" in capsys.readouterr().out
        parsed(stack, uploaded.video_id)
    finally:
        s3.put_bucket_notification_configuration(
            Bucket=stack.bucket,
            NotificationConfiguration=notifications,  # type: ignore[arg-type]
        )


def test_line_and_show_tell_a_waiting_videos_place_and_when_it_goes(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the account paused (as after a 0402) and three videos in line, then ``line`` counts them
    and says when the last goes, and ``show`` gives the second one's place and estimated time."""
    client = stack.session.client("dynamodb")
    store = DynamoStatusStore(client, stack.table_name)
    now = time.time()
    DynamoUploadGate(client, stack.table_name, uploads_per_minute=600).hold_off(
        now + 600, "test pause (0402)"
    )
    ids = [f"{i:x}" * 32 for i in (10, 11, 12)]
    try:
        for i, video_id in enumerate(ids):
            at = iso(now - 60 + i)
            store.create(
                video_record(
                    video_id,
                    status=QUEUED,
                    at=at,
                    bucket=stack.bucket,
                    key=f"ops/waiting-{i}.mp4",
                    object_version="etag",
                    size=1,
                    history=False,
                    queued_at=at,
                )
            )
        capsys.readouterr()
        assert cli(stack, "line") == 0
        out = capsys.readouterr().out
        assert "waiting in line: 3" in out
        assert "paused until" in out and "test pause (0402)" in out
        assert "the last in line goes at about:" in out
        assert (
            out.index("ops/waiting-0.mp4") < out.index("ops/waiting-1.mp4") < out.index("ops/waiting-2.mp4")
        )

        assert cli(stack, "show", ids[1]) == 0
        shown = cli_json(capsys.readouterr().out)
        assert shown["status"] == QUEUED
        assert shown["place_in_line"] == 2
        assert shown["estimated_submission"] > iso(now + 599)
        assert "test pause (0402)" in shown["line_paused"]
    finally:
        for video_id in [*ids, RATE_SLOT_ID]:
            client.delete_item(TableName=stack.table_name, Key={table.PARTITION_KEY: {"S": video_id}})


# -- a user's mistakes: one line saying what to do, exit 2, never a traceback -----------------------


def printed(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's own stdout: without the one-line JSON logs the stack's threads print meanwhile."""
    return "".join(
        line for line in capsys.readouterr().out.splitlines(keepends=True) if not line.startswith('{"')
    )


def refused(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert cli(stack, *args) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    (line,) = captured.err.splitlines()
    assert line.startswith("memories-ingest: ")
    return line


def test_a_missing_object_or_table_or_an_unknown_status_is_one_line(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("show", "resubmit"):
        line = refused(stack, capsys, command, "--bucket", stack.bucket, "--key", "nope.mp4")
        assert f"no object s3://{stack.bucket}/nope.mp4: check the bucket and key" in line
    assert "unknown status 'BOGUS': use one of QUEUED" in refused(stack, capsys, "list", "--status", "BOGUS")
    assert main(["--table", "no-such-table", "list"]) == 2
    assert "check --table" in capsys.readouterr().err


def test_no_region_no_credentials_no_stack_no_endpoint_are_one_line(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    moto = stack.endpoints()["s3"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", moto)
    assert "no CloudFormation stack 'nope'" in refused(stack, capsys, "--stack", "nope", "list")

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    assert "cannot reach http://127.0.0.1:9" in refused(stack, capsys, "list")

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert "no AWS credentials" in refused(stack, capsys, "--stack", "nope", "list")

    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert "no AWS region: set AWS_DEFAULT_REGION" in refused(stack, capsys, "list")


def test_the_installed_command_prints_no_traceback_without_a_region(tmp_path: Path) -> None:
    """The same through the real entry point, in a shell without the export lines."""
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_CONFIG_FILE": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "--table", "t", "list"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("memories-ingest: no AWS region")


# -- what operators see ----------------------------------------------------------------------------


def test_list_has_a_header_takes_any_case_and_json_and_shows_skipped_drops(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = stack.upload("ops/empty.mp4", b"")
    stack.upload("ops/folder/", b"")
    stack.wait_for(lambda: stack.record(empty.video_id), timeout=30, what="the skipped entry")
    capsys.readouterr()

    assert cli(stack, "list", "--status", "skipped") == 0
    header, *rows = printed(capsys).splitlines()
    assert header.split() == ["UPDATED", "STATUS", "VIDEO_NO", "VIDEO_ID", "KEY", "REASON"]
    assert any("ops/empty.mp4" in row and "skipped: empty object" in row for row in rows)
    assert any("ops/folder/" in row and "skipped: folder marker" in row for row in rows)

    assert cli(stack, "list", "--json") == 0
    listed = json.loads(printed(capsys))
    assert [r["updated_at"] for r in listed] == sorted(r["updated_at"] for r in listed)
    assert {"ops/empty.mp4", "ops/folder/"} <= {r["key"] for r in listed if r["status"] == "SKIPPED"}

    assert cli(stack, "show", "--bucket", stack.bucket, "--key", "ops/empty.mp4") == 0
    assert json.loads(printed(capsys))["reason"] == "skipped: empty object"
    assert "was skipped" in refused(stack, capsys, "resubmit", empty.video_id)


def test_reconcile_says_what_it_did(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.function_environment.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli(stack, "reconcile") == 0
    out = printed(capsys)
    assert out.startswith("checked ")
    for label in ("fixed", "resubmitted", "still waiting", "stuck", "waiting in line"):
        assert f" {label} " in out

    assert cli(stack, "reconcile", "--json") == 0
    summary = json.loads(printed(capsys))
    assert {"checked", "fixed", "resubmitted", "still waiting", "stuck", "waiting in line"} <= set(summary)
