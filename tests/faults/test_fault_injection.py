"""Fault injection through the whole local stack, in one run: the provider rate-limits, runs out of
credit, fails with 5xx, drops connections before and after billing, answers too slowly, drops,
repeats and reorders callbacks, while S3/SQS deliver duplicates. When the system is quiet:

- every dropped video is PARSE;
- every object version was billed exactly once (ambiguous calls included: they are resolved by
  the callback or the reconciler, never by calling again blindly);
- the dead-letter queue is empty.

The figures are printed (run with ``-s``) and are the ones in the README's reliability section.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from devstack.stack import LocalStack
from functions.core import env
from functions.core.contract import trace_tag
from functions.core.status import PARSE, UNCERTAIN, is_final
from tests.conftest import TEST_STACK

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "sample.mp4"
VIDEOS = 16
# Consumed in order by successive upload_url calls: one of every provider failure class.
UPLOAD_FAULTS = [
    {"endpoint": "upload_url", "kind": "code", "code": "0429", "times": 3},
    {"endpoint": "upload_url", "kind": "code", "code": "0402", "times": 3},
    {"endpoint": "upload_url", "kind": "http", "status": 503, "times": 2},
    {"endpoint": "upload_url", "kind": "http", "status": 500},
    {"endpoint": "upload_url", "kind": "reset"},
    {"endpoint": "upload_url", "kind": "code", "code": "0001"},
    {"endpoint": "upload_url", "kind": "slow", "seconds": 2.5},
    {"endpoint": "upload_url", "kind": "accept_then_reset"},
    {"endpoint": "upload_url", "kind": "code", "code": "0429", "times": 2},
]
# Consumed by successive accepted uploads.
CALLBACK_FAULTS = [
    {"endpoint": "callback", "kind": "drop", "times": 3},
    {"endpoint": "callback", "kind": "duplicate", "times": 2},
    {"endpoint": "callback", "kind": "reorder", "times": 2},
]
DUPLICATED_DELIVERIES = 6


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # The shared test tuning, plus a 1 s read timeout and a reconciler that acts after 4 s.
    config = replace(
        TEST_STACK,
        callback_delays=(0.2, 0.6),
        reconcile_every_seconds=1.0,
        function_env={
            **TEST_STACK.function_env,
            env.PROVIDER_READ_TIMEOUT_SECONDS: "1",
            env.RECONCILE_AFTER_SECONDS: "4",
        },
    )
    with LocalStack(config) as running:
        yield running


def _notification(bucket: str, key: str, etag: str) -> str:
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": quote_plus(key, safe="/"), "size": 1, "eTag": etag},
        },
    }
    return json.dumps({"Records": [record]})


def test_under_every_fault_nothing_is_lost_and_nothing_is_paid_twice(stack: LocalStack) -> None:
    emulator = stack.emulator
    assert emulator is not None
    emulator.add_faults(UPLOAD_FAULTS + CALLBACK_FAULTS)
    data = SAMPLE.read_bytes()

    # Given a burst of drops, some of whose notifications S3/SQS deliver again, in sequence and at once.
    uploads = [stack.upload(f"faults/clip {i:02d} + café.mp4", data) for i in range(VIDEOS)]
    sqs = stack.session.client("sqs")
    again = [_notification(u.bucket, u.key, u.etag) for u in uploads[:DUPLICATED_DELIVERIES]]
    for body in again[:3]:
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda b: sqs.send_message(QueueUrl=stack.queue_url, MessageBody=b), again[3:] * 2))

    # When the system has gone quiet (every record final).
    def all_final() -> list[object] | None:
        records = [stack.record(u.video_id) for u in uploads]
        return records if all(r is not None and is_final(r.status) for r in records) else None

    try:
        records = stack.wait_for(
            all_final, timeout=150, what="every video to reach a final status", interval=0.5
        )
    except TimeoutError:
        pending = {
            u.key: (r.status, r.reason) if r else None for u in uploads if (r := stack.record(u.video_id))
        }
        pytest.fail(f"not all final: {pending}")

    # Then every video is PARSE, was billed exactly once, and nothing is dead-lettered.
    calls = emulator.calls()
    billed = Counter(
        tag
        for c in calls
        if c["outcome"] == "accepted"
        for tag in c["form"].get("tags", [])
        if tag.startswith("ingest-")
    )
    received = Counter(tag for c in calls for tag in c["form"].get("tags", []) if tag.startswith("ingest-"))
    statuses = Counter(r.status for r in records)  # type: ignore[attr-defined]
    went_uncertain = sum(1 for r in records if any(h.to_status == UNCERTAIN for h in r.history))  # type: ignore[attr-defined]
    dlq = sqs.get_queue_attributes(QueueUrl=stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    dead_lettered = int(dlq["Attributes"]["ApproximateNumberOfMessages"])
    faults_injected = sum(int(f.get("times", 1)) for f in UPLOAD_FAULTS + CALLBACK_FAULTS)  # type: ignore[call-overload]
    print(
        f"\nfault suite: {VIDEOS} drops + {len(again) + 3} duplicate deliveries; {faults_injected} faults injected;"
        f" {len(calls)} upload_url calls received, {sum(billed.values())} billed;"
        f" {went_uncertain} ambiguous calls resolved; {len(emulator.callbacks())} callbacks sent;"
        f" statuses {dict(statuses)}; dead-lettered {dead_lettered}; videos lost {VIDEOS - statuses[PARSE]}"
    )
    assert statuses == {PARSE: VIDEOS}
    for upload in uploads:
        tag = trace_tag(upload.video_id)
        assert billed[tag] == 1, f"{upload.key}: billed {billed[tag]} times, {received[tag]} calls"
    assert went_uncertain >= 2  # the slow answer and the drop after billing at least
    assert dead_lettered == 0
