"""The results handler as Lambda invokes it: SQS batches whose bodies are EventBridge events (as an
EventBridge rule's SQS target delivers them), built with the local stack's own SQS record builder
and read by Powertools' real SQSRecord, EventBridgeEvent and BatchProcessor."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from devstack.lambda_context import FakeLambdaContext
from functions.core import events
from functions.core.results import ResultsConfig, ResultsWriter
from functions.core.status import PARSE
from functions.results import handler as results_handler
from functions.results.app import ResultsApp
from tests.unit.fakes import T0, FakeClock, FakeMetrics, FakeProvider, InMemoryStore, created, record
from tests.unit.test_ingest_handler import received, sqs_event
from tests.unit.test_results import CAPTION, TRANSCRIPT, VIDEO_NO, Bucket, Bus, status_changed

CANONICAL = Path(__file__).resolve().parents[2] / "events" / "results" / "parse.json"


@pytest.fixture(autouse=True)
def _namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results_handler.metrics, "namespace", "UnitTests")


class Jobs:
    def __init__(self) -> None:
        self.deferred: list[tuple[str, int]] = []
        self.dead: list[tuple[str, str]] = []

    def defer(self, receipt_handle: str, seconds: int) -> None:
        self.deferred.append((receipt_handle, seconds))

    def dead_letter(self, body: str, reason: str) -> None:
        self.dead.append((body, reason))


def eventbridge_event(detail: dict[str, Any]) -> str:
    """The whole event, as EventBridge puts it in the SQS message body (no input transformer)."""
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": events.STATUS_CHANGED,
            "source": events.SOURCE,
            "account": "123456789012",
            "time": "2025-10-09T08:53:20Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    )


class World:
    def __init__(self) -> None:
        self.ready = record(PARSE, video_no=VIDEO_NO)
        self.provider = FakeProvider()
        self.provider.statuses = {VIDEO_NO: PARSE, "VI2": PARSE}
        self.provider.results["caption"] = {VIDEO_NO: [CAPTION], "VI2": [None]}
        self.provider.results["transcription"] = {VIDEO_NO: [TRANSCRIPT]}
        self.bucket, self.bus, self.jobs = Bucket(), Bus(), Jobs()
        self.clock = FakeClock(T0 + 5)
        self.store = InMemoryStore([self.ready])
        self.app = ResultsApp(
            ResultsWriter(
                ResultsConfig(results_bucket="results"),
                store=self.store,
                provider=self.provider,
                results=self.bucket,
                bus=self.bus,
                clock=self.clock,
                metrics=FakeMetrics(),
            ),
            self.jobs,
        )

    def detail(self, video_id: str) -> dict[str, Any]:
        stored = self.store.peek(video_id)
        assert stored is not None
        return dict(status_changed(stored))

    def invoke(self, event: dict[str, Any]) -> Any:
        return results_handler.handler(event, FakeLambdaContext("results", timeout_seconds=120), app=self.app)


def waiting_record(world: World) -> str:
    """A second parsed video whose caption is still ``data: null``."""
    other = record(PARSE, ref=created("clips/later.mp4"), video_no="VI2")
    world.store.put(other)
    return other.video_id


def test_a_batch_writes_the_ready_puts_off_the_waiting_and_dead_letters_the_broken() -> None:
    # Given one ready video, one whose results are not there yet, and a body that is no event
    world = World()
    later = waiting_record(world)
    ready = received(eventbridge_event(world.detail(world.ready.video_id)), receive_count=1)
    waiting = received(eventbridge_event(world.detail(later)), receive_count=2)
    broken = received("not json", receive_count=1)

    # When Lambda hands them over in one batch
    response = world.invoke(sqs_event(ready, waiting, broken))

    # Then only the waiting one is reported failed, after it was put off for its growing delay
    assert response == {"batchItemFailures": [{"itemIdentifier": waiting["MessageId"]}]}
    assert world.jobs.deferred == [(waiting["ReceiptHandle"], 120)]
    assert list(world.bucket.objects) == ["clips/holiday.mp4.memories.json"]
    assert [d["video_id"] for d in world.bus.sent] == [world.ready.video_id]
    ((body, reason),) = world.jobs.dead
    assert body == "not json" and reason.startswith("malformed job")


def test_a_batch_of_only_waiting_jobs_is_not_a_function_error() -> None:
    world = World()
    later = waiting_record(world)
    waiting = received(eventbridge_event(world.detail(later)), receive_count=1)

    response = world.invoke(sqs_event(waiting))

    assert response == {"batchItemFailures": [{"itemIdentifier": waiting["MessageId"]}]}
    assert world.jobs.deferred == [(waiting["ReceiptHandle"], 60)]


def test_a_job_queued_longer_than_the_bound_goes_to_the_dead_letter_queue() -> None:
    world = World()
    later = waiting_record(world)
    body = eventbridge_event(world.detail(later))
    day_old = received(body, receive_count=30)
    day_old["Attributes"]["SentTimestamp"] = str(int((T0 - 86400) * 1000))

    response = world.invoke(sqs_event(day_old))

    assert response == {"batchItemFailures": []}
    ((dead_body, reason),) = world.jobs.dead
    assert dead_body == body and "gave up" in reason


def test_the_canonical_event_is_read_as_a_job() -> None:
    # events/results/parse.json names a video this world does not hold: skipped, not failed
    world = World()

    response = world.invoke(json.loads(CANONICAL.read_text()))

    assert response == {"batchItemFailures": []}
    assert not world.jobs.dead and not world.jobs.deferred and not world.bucket.objects
