"""The ingest handler as Lambda invokes it: SQS batches built exactly as the SQS trigger builds them
(through the local stack's own event builder), read by Powertools' real SQSRecord and BatchProcessor,
and the minute schedule's EventBridge event."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from devstack.lambda_context import FakeLambdaContext
from devstack.poller import lambda_sqs_record
from functions.core.ingest import Ingestor
from functions.core.objects import notification_body
from functions.core.status import QUEUED, UNPARSE
from functions.ingest import handler as ingest_handler
from functions.ingest.app import IngestApp
from tests.unit.fakes import (
    FakeClock,
    FakeGate,
    FakeObjects,
    FakeProvider,
    InMemoryStore,
    created,
    id_of,
    record,
)

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:ingest"


@pytest.fixture(autouse=True)
def _namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_handler.metrics, "namespace", "UnitTests")


def received(body: str, *, receive_count: int, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message as SQS ReceiveMessage returns it (what Lambda's poller gets), with its system attributes."""
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": f"handle-{uuid.uuid4()}",
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "Body": body,
        "Attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1760000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1760000000100",
        },
        "MessageAttributes": attributes or {},
    }


def sqs_event(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [lambda_sqs_record(m, QUEUE_ARN) for m in messages]}  # type: ignore[arg-type]


@pytest.fixture
def app(ingestor: Ingestor, clock: FakeClock) -> IngestApp:
    return IngestApp(ingestor=ingestor, clock=clock)


def test_a_redelivered_message_from_before_the_line_is_taken_in_and_submitted_once(
    app: IngestApp, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider
) -> None:
    """Given a message received for the third time, still carrying the old 'reserved-slot' attribute
    of the delay-message design, and a second delivery of it, then nothing fails, the video joins the
    line once, and the drain after the batch submits it once."""
    objects.add("clips/holiday.mp4")
    body = notification_body(created("clips/holiday.mp4"))
    old_slot = {"reserved-slot": {"DataType": "String", "StringValue": "1795500000.25"}}
    event = sqs_event(received(body, receive_count=3, attributes=old_slot), received(body, receive_count=1))

    response = ingest_handler.handler(event, FakeLambdaContext("ingest", timeout_seconds=120), app=app)

    assert response == {"batchItemFailures": []}
    assert provider.calls == 1
    assert store.only().status == UNPARSE


def test_a_batch_at_a_busy_gate_leaves_its_videos_in_line_and_the_schedule_sends_them(
    app: IngestApp,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    gate: FakeGate,
    clock: FakeClock,
) -> None:
    gate.interval = 62.0
    gate.next_free = clock.now() + 30  # more than the batch's inline wait, less than a tick's
    for key in ("a.mp4", "b.mp4"):
        objects.add(key)
    event = sqs_event(*(received(notification_body(created(k)), receive_count=1) for k in ("a.mp4", "b.mp4")))
    assert ingest_handler.handler(event, FakeLambdaContext("ingest", timeout_seconds=120), app=app) == {
        "batchItemFailures": []
    }
    assert provider.calls == 0
    assert store.line_length() == 2
    assert {r.status for r in store.all()} == {QUEUED}

    tick = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2025-10-09T08:54:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/ingest-schedule"],
        "detail": {},
    }
    assert ingest_handler.handler(tick, FakeLambdaContext("ingest", timeout_seconds=120), app=app) == {
        "submitted": 1
    }
    assert provider.calls == 1
    assert store.line_length() == 1


def test_a_message_that_is_not_a_notification_fails_alone(
    app: IngestApp, store: InMemoryStore, objects: FakeObjects
) -> None:
    objects.add("ok.mp4")
    bad = received("not json", receive_count=5)
    good = received(notification_body(created("ok.mp4")), receive_count=1)
    response = ingest_handler.handler(
        sqs_event(bad, good), FakeLambdaContext("ingest", timeout_seconds=120), app=app
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": bad["MessageId"]}]}
    assert store.peek(id_of(created("ok.mp4"))) is not None


def test_a_video_already_waiting_keeps_its_place_when_its_message_comes_again(
    app: IngestApp, store: InMemoryStore, gate: FakeGate, clock: FakeClock
) -> None:
    gate.next_free = clock.now() + 600
    waiting = store.put(record(QUEUED, queued_at="2025-10-09T08:00:00.000Z"))
    event = sqs_event(received(notification_body(created()), receive_count=2))
    ingest_handler.handler(event, FakeLambdaContext("ingest", timeout_seconds=120), app=app)
    assert store.only() == waiting
