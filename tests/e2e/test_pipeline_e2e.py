"""The whole pipeline, locally: files dropped in the bucket end as the right record in the table.

One local stack for the module (S3/SQS/Secrets Manager on moto, DynamoDB Local, the memories.ai
emulator, the API Gateway and SQS event-source stand-ins, the real handlers). Tests run in file
order and each waits for the queue to drain before it counts provider calls, so the counts are the
test's own.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TextIO

import pytest
import requests
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from devstack.stack import LocalStack, Uploaded
from functions.core.contract import trace_tag
from functions.core.objects import ObjectRef, notification_body
from functions.core.settings import IngestSettings
from functions.core.signing import callback_url, token_for, video_id_for
from functions.core.status import PARSE, QUEUED, REJECTED, SKIPPED, SUBMITTING, UNPARSE, VideoRecord

pytestmark = [
    pytest.mark.e2e,
    # Powertools warns for invocations that emit no metric: S3's test event, an idle reconcile pass.
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

SAMPLE: Final = (Path(__file__).parents[1] / "fixtures" / "sample.mp4").read_bytes()
# The test stack retries after 1-2 s (RETRY_BASE_DELAY_SECONDS) and its line's schedule runs every
# second: ample room for the retry and callbacks.
RETRY_TIMEOUT: Final = 30.0


# -- helpers ---------------------------------------------------------------------------------------


def wait_record(
    stack: LocalStack, video_id: str, accept: Callable[[VideoRecord], bool], what: str, timeout: float = 20.0
) -> VideoRecord:
    def check() -> VideoRecord | None:
        record = stack.record(video_id)
        return record if record is not None and accept(record) else None

    return stack.wait_for(check, timeout, what=what)


def wait_status(stack: LocalStack, video_id: str, status: str, timeout: float = 20.0) -> VideoRecord:
    return wait_record(stack, video_id, lambda r: r.status == status, f"{video_id} in {status}", timeout)


def queue_is_idle(stack: LocalStack) -> bool:
    counts = stack.session.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return all(value == "0" for value in counts.values())


def wait_idle(stack: LocalStack, timeout: float = 20.0) -> None:
    """Every message received and deleted: nothing waiting, in flight, or delayed."""
    stack.wait_for(lambda: queue_is_idle(stack), timeout, what="the ingest queue to drain")


def calls_for(stack: LocalStack, video_id: str) -> list[dict[str, Any]]:
    """The upload_url requests that carried this video's trace tag."""
    assert stack.emulator is not None
    return [c for c in stack.emulator.calls() if trace_tag(video_id) in c["form"].get("tags", [])]


def billed(stack: LocalStack) -> int:
    assert stack.emulator is not None
    return stack.emulator.billed_calls()


def s3_notification(upload: Uploaded, size: int) -> str:
    """The message S3 sends for this object, as the queue would receive it again."""
    ref = ObjectRef(
        bucket=upload.bucket,
        key=upload.key,
        size=size,
        version_id=upload.version_id,
        etag=upload.etag,
        event_name="ObjectCreated:Put",
    )
    return notification_body(ref)


def signing_key(stack: LocalStack) -> bytes:
    secret = stack.session.client("secretsmanager").get_secret_value(
        SecretId=stack.resources.signing_secret_id
    )
    return secret["SecretString"].encode("utf-8")


def post(url: str, body: dict[str, str]) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.post(url, json=body, timeout=10)


def unique(prefix: str) -> str:
    return f"e2e/{uuid.uuid4().hex[:8]}/{prefix}"


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


@pytest.fixture(scope="module", autouse=True)
def function_logs(local_stack: LocalStack) -> Iterator[io.StringIO]:
    """Everything the functions and the stack log during this module, as CloudWatch would get it:
    the Powertools JSON lines (teed from their stream) and every other Python log record at INFO."""
    captured = io.StringIO()
    handlers = {
        importlib.import_module(f"functions.{name}.handler").logger.registered_handler
        for name in ("ingest", "callback", "reconcile")
    }
    teed = [h for h in handlers if isinstance(h, logging.StreamHandler)]
    originals = [h.setStream(_Tee(h.stream, captured)) for h in teed]
    root = logging.getLogger()
    everything = logging.StreamHandler(captured)
    everything.setLevel(logging.INFO)
    previous_level = root.level
    root.addHandler(everything)
    root.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        root.removeHandler(everything)
        root.setLevel(previous_level)
        for handler, original in zip(teed, originals, strict=True):
            handler.setStream(original)


# -- the happy path --------------------------------------------------------------------------------


def test_sample_video_reaches_parse(local_stack: LocalStack) -> None:
    # Given a quiet pipeline
    wait_idle(local_stack)
    before = billed(local_stack)

    # When the sample video is dropped in the bucket
    upload = local_stack.upload(unique("sample.mp4"), SAMPLE)

    # Then its record reaches PARSE with what memories.ai said, after one billed call
    record = wait_status(local_stack, upload.video_id, PARSE)
    assert record.key == upload.key
    assert record.size == len(SAMPLE)
    assert record.video_no and record.video_no.startswith("VI")
    assert record.video_name
    assert record.upload_time and record.upload_time.isdigit()
    statuses = [step.to_status for step in record.history]
    assert UNPARSE in statuses
    assert statuses.index(UNPARSE) < statuses.index(PARSE)
    assert statuses[-1] == PARSE
    wait_idle(local_stack)
    assert billed(local_stack) == before + 1
    (call,) = calls_for(local_stack, upload.video_id)
    assert call["form"]["callback"].startswith(
        f"{local_stack.gateway_url}/callbacks/{upload.video_id}?token="
    )


@pytest.mark.parametrize(
    "name",
    [
        "Family trip + beach 2026 – día 1.mp4",
        "plus+signs+and spaces here.mp4",
        "deeply/nested/prefix/with space/clip.MOV",
        "ünïcödé 日本語 🎬.mp4",
        "percent%20literal & more=1?.mp4",
    ],
)
def test_awkward_keys_reach_parse_under_their_own_name(local_stack: LocalStack, name: str) -> None:
    upload = local_stack.upload(unique(name), SAMPLE)

    record = wait_status(local_stack, upload.video_id, PARSE)

    assert record.key == upload.key
    assert record.video_id == video_id_for(local_stack.bucket, upload.key, upload.etag)


# -- what is not a video ---------------------------------------------------------------------------


def test_empty_object_and_folder_marker_make_no_call_and_say_why_they_were_skipped(
    local_stack: LocalStack,
) -> None:
    wait_idle(local_stack)
    calls = len(local_stack.emulator.calls()) if local_stack.emulator else 0

    empty = local_stack.upload(unique("empty.mp4"), b"")
    folder = local_stack.upload(unique("folder/"), b"")
    wait_idle(local_stack)

    for upload, why in ((empty, "skipped: empty object"), (folder, "skipped: folder marker")):
        record = local_stack.record(upload.video_id)
        assert record is not None and (record.status, record.reason) == (SKIPPED, why)
        assert record.expires_at is not None and record.expires_at > time.time() + 86400
    assert local_stack.emulator is not None
    assert len(local_stack.emulator.calls()) == calls


def test_text_file_is_rejected_without_a_call(local_stack: LocalStack) -> None:
    wait_idle(local_stack)
    assert local_stack.emulator is not None
    calls = len(local_stack.emulator.calls())

    upload = local_stack.upload(unique("notes.txt"), b"not a video at all\n")

    record = wait_status(local_stack, upload.video_id, REJECTED)
    assert record.reason is not None
    assert record.reason.startswith("not a video")
    wait_idle(local_stack)
    assert len(local_stack.emulator.calls()) == calls


# -- duplicates ------------------------------------------------------------------------------------


def test_sequential_redelivery_is_billed_once(local_stack: LocalStack) -> None:
    wait_idle(local_stack)
    before = billed(local_stack)
    upload = local_stack.upload(unique("redelivered.mp4"), SAMPLE)
    parsed = wait_status(local_stack, upload.video_id, PARSE)
    sqs = local_stack.session.client("sqs")

    # The same S3 notification delivered again, twice, one after the other
    for _ in range(2):
        sqs.send_message(QueueUrl=local_stack.queue_url, MessageBody=s3_notification(upload, len(SAMPLE)))
        wait_idle(local_stack)

    assert billed(local_stack) == before + 1
    assert len(calls_for(local_stack, upload.video_id)) == 1
    assert local_stack.record(upload.video_id) == parsed


def test_concurrent_redelivery_is_billed_once(local_stack: LocalStack) -> None:
    wait_idle(local_stack)
    before = billed(local_stack)
    sqs = local_stack.session.client("sqs")

    # S3's own notification and two copies sent at the same time, while the first is in flight
    upload = local_stack.upload(unique("concurrent.mp4"), SAMPLE)
    body = s3_notification(upload, len(SAMPLE))
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: sqs.send_message(QueueUrl=local_stack.queue_url, MessageBody=body), range(2)))

    wait_status(local_stack, upload.video_id, PARSE)
    wait_idle(local_stack)
    assert billed(local_stack) == before + 1
    assert len(calls_for(local_stack, upload.video_id)) == 1


def test_ingest_instances_racing_on_one_object_bill_it_once(local_stack: LocalStack) -> None:
    """Lambda may run the same message on several instances at once; the poller runs one, so this
    drives four separately built ingest apps (own clients, own caches) in parallel."""
    wait_idle(local_stack)
    before = billed(local_stack)
    ingest = importlib.import_module("functions.ingest.app")
    apps = [ingest.build(IngestSettings.from_env(os.environ)) for _ in range(4)]
    upload = local_stack.upload(unique("raced.mp4"), SAMPLE)
    record = {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "raced",
        "body": s3_notification(upload, len(SAMPLE)),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:memories-ingest-queue",
        "awsRegion": "us-east-1",
    }

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda app: app.process(SQSRecord(record)), apps))

    wait_status(local_stack, upload.video_id, PARSE)
    wait_idle(local_stack)
    assert billed(local_stack) == before + 1
    assert len(calls_for(local_stack, upload.video_id)) == 1


# -- callbacks through the gateway -----------------------------------------------------------------


def test_forged_callbacks_are_refused_and_change_nothing(local_stack: LocalStack) -> None:
    # Given a video whose provider callbacks are lost, so it stays UNPARSE
    wait_idle(local_stack)
    assert local_stack.emulator is not None
    local_stack.emulator.add_faults([{"endpoint": "callback", "kind": "drop"}])
    upload = local_stack.upload(unique("forged.mp4"), SAMPLE)
    before = wait_status(local_stack, upload.video_id, UNPARSE)
    wait_idle(local_stack)
    assert before.video_no is not None
    body = {"videoNo": before.video_no, "status": PARSE}
    route = f"{local_stack.gateway_url}/callbacks/{upload.video_id}"

    # When someone posts PARSE with a token signed by another key, and with no token
    wrong = post(f"{route}?token={token_for(b'not the signing key', upload.video_id)}", body)
    missing = post(route, body)

    # Then both are refused and the record is exactly as it was
    assert wrong.status_code == 403
    assert missing.status_code == 401
    assert local_stack.record(upload.video_id) == before

    # While the provider's own signed URL does move it, once the provider reports PARSE
    local_stack.emulator.set_status(before.video_no, PARSE)
    genuine = post(callback_url(local_stack.gateway_url, signing_key(local_stack), upload.video_id), body)
    assert genuine.status_code == 200
    assert wait_status(local_stack, upload.video_id, PARSE).status == PARSE


def test_late_unparse_after_parse_leaves_parse(local_stack: LocalStack) -> None:
    upload = local_stack.upload(unique("late-unparse.mp4"), SAMPLE)
    parsed = wait_status(local_stack, upload.video_id, PARSE)
    wait_idle(local_stack)
    assert parsed.video_no is not None

    answer = post(
        callback_url(local_stack.gateway_url, signing_key(local_stack), upload.video_id),
        {"videoNo": parsed.video_no, "status": UNPARSE},
    )

    assert answer.status_code == 200
    assert answer.json()["status"] == PARSE
    assert local_stack.record(upload.video_id) == parsed


# -- provider failures -----------------------------------------------------------------------------


def test_parameters_refused_is_rejected_without_retry(local_stack: LocalStack) -> None:
    wait_idle(local_stack)
    assert local_stack.emulator is not None
    before = billed(local_stack)
    local_stack.emulator.add_faults([{"endpoint": "upload_url", "kind": "code", "code": "0003"}])

    upload = local_stack.upload(unique("refused.mp4"), SAMPLE)

    record = wait_status(local_stack, upload.video_id, REJECTED)
    assert record.reason is not None
    assert "0003" in record.reason
    # Nothing left to retry it: the message is gone, and it was tried once
    wait_idle(local_stack)
    assert [c["code"] for c in calls_for(local_stack, upload.video_id)] == ["0003"]
    assert record.attempts == 1
    assert billed(local_stack) == before


@pytest.mark.parametrize(
    ("fault", "refusal"),
    [
        ({"endpoint": "upload_url", "kind": "code", "code": "0429"}, ("fault", "0429")),
        ({"endpoint": "upload_url", "kind": "http", "status": 503}, ("fault", None)),
    ],
    ids=["rate-limited-0429", "server-error-503"],
)
def test_a_refusal_to_retry_is_retried_until_parse_and_billed_once(
    local_stack: LocalStack,
    fault: dict[str, Any],
    refusal: tuple[str, str | None],
) -> None:
    # Given the provider refuses the next call in a way that asks for a retry
    wait_idle(local_stack)
    assert local_stack.emulator is not None
    before = billed(local_stack)
    local_stack.emulator.add_faults([fault])

    # When a video arrives
    upload = local_stack.upload(unique("retried.mp4"), SAMPLE)

    # Then it goes back in line, is tried again, and ends PARSE after exactly one billed call
    record = wait_status(local_stack, upload.video_id, PARSE, timeout=RETRY_TIMEOUT)
    assert [step.to_status for step in record.history][:4] == [QUEUED, SUBMITTING, QUEUED, SUBMITTING]
    calls = calls_for(local_stack, upload.video_id)
    assert [(c["outcome"], c["code"]) for c in calls] == [refusal, ("accepted", "0000")]
    wait_idle(local_stack)
    assert billed(local_stack) == before + 1


# -- last: what the whole module logged ------------------------------------------------------------


def test_api_key_never_appears_in_logs(
    local_stack: LocalStack,
    function_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One more full run, so the capture is never empty even when this test runs alone
    upload = local_stack.upload(unique("logged.mp4"), SAMPLE)
    wait_status(local_stack, upload.video_id, PARSE)
    wait_idle(local_stack)

    logs = function_logs.getvalue()
    output = capsys.readouterr()
    assert "submitted: accepted by memories.ai" in logs, "the capture saw no function log at all"
    for text in (logs, output.out, output.err, caplog.text):
        assert local_stack.api_key not in text
