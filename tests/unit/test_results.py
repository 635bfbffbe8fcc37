"""The results use case: a PARSE event becomes one document beside the video, written once ready,
retried with a growing delay while memories.ai answers ``data: null``, given up after the bound."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from functions.core import events
from functions.core.errors import (
    ProviderAuthFailure,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from functions.core.events import ResultsWrittenDetail, StatusChangedDetail
from functions.core.results import (
    CALL_INTERVAL_SECONDS,
    EMPTY_IS_FINAL_AFTER_SECONDS,
    Failed,
    Outcome,
    ResultsConfig,
    ResultsWriter,
    RetryLater,
    Skipped,
    Written,
    max_receives,
)
from functions.core.status import PARSE, UNPARSE, VideoRecord
from tests.unit.fakes import T0, UNIQUE_ID, FakeClock, FakeMetrics, FakeProvider, InMemoryStore, record

VIDEO_NO = "VI568102998803353600"
CAPTION = [{"start": 0, "end": 2, "text": "colour bars and a counter"}]
TRANSCRIPT = {"video_no": VIDEO_NO, "transcriptions": [{"start": 0, "end": 2, "text": "a tone"}]}


def status_changed(record: VideoRecord) -> StatusChangedDetail:
    """The ``Video Status Changed`` detail of ``record``'s last change, as functions/core/events.py
    defines it (what the status events publisher puts on the bus)."""
    step = record.history[-1]
    return StatusChangedDetail(
        version=events.DETAIL_VERSION,
        event_id=f"{record.video_id}:{record.transitions}",
        video_id=record.video_id,
        bucket=record.bucket,
        key=record.key,
        version_id=record.version_id,
        object_version=record.object_version,
        video_no=record.video_no,
        unique_id=record.unique_id,
        from_status=step.from_status,
        to_status=record.status,
        reason=record.reason,
        by=step.by,
        at=step.at,
    )


class Bucket:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def put_json(self, key: str, body: bytes) -> None:
        self.puts += 1
        self.objects[key] = body

    def document(self, key: str) -> Any:
        return json.loads(self.objects[key])


class Bus:
    def __init__(self) -> None:
        self.sent: list[ResultsWrittenDetail] = []

    def results_written(self, detail: ResultsWrittenDetail) -> None:
        self.sent.append(detail)


class World:
    """A parsed video (``stored`` changes its stored record) and the writer's fakes around it."""

    def __init__(self, stored: dict[str, Any] | None = None, **config: Any) -> None:
        self.record = record(PARSE, video_no=VIDEO_NO, unique_id="holidays")
        self.store = InMemoryStore([replace(self.record, **(stored or {}))])
        self.provider = FakeProvider()
        self.provider.statuses[VIDEO_NO] = PARSE
        self.bucket = Bucket()
        self.bus = Bus()
        self.clock = FakeClock()
        self.metrics = FakeMetrics()
        self.config = ResultsConfig(results_bucket="results", results_prefix="memories/", **config)
        self.writer = ResultsWriter(
            self.config,
            store=self.store,
            provider=self.provider,
            results=self.bucket,
            bus=self.bus,
            clock=self.clock,
            metrics=self.metrics,
        )
        self.receives = 0

    def ready(self) -> None:
        self.provider.results["caption"][VIDEO_NO] = [CAPTION]
        self.provider.results["transcription"][VIDEO_NO] = [TRANSCRIPT]

    def detail(self, **changes: object) -> StatusChangedDetail:
        return {**status_changed(self.record), **changes}  # type: ignore[typeddict-item]

    def deliver(self, detail: object | None = None, *, source: str = events.SOURCE) -> Outcome:
        """One delivery of the same queued job (as SQS redelivers it after the delay)."""
        self.receives += 1
        return self.writer.handle(
            source,
            events.STATUS_CHANGED,
            self.detail() if detail is None else detail,
            receive_count=self.receives,
            queued_at=T0,
        )

    def until_done(self) -> list[Outcome]:
        outcomes = [self.deliver()]
        while isinstance(outcomes[-1], RetryLater):
            self.clock.advance(outcomes[-1].delay_seconds)
            outcomes.append(self.deliver())
        return outcomes


def test_ready_results_are_written_beside_the_video_with_its_identity_and_announced() -> None:
    # Given a video in PARSE whose caption and transcription are ready
    world = World()
    world.ready()

    # When its PARSE event is handled
    outcome = world.deliver()

    # Then one document at <prefix><key>.memories.json holds both answers exactly as given, and who it is
    key = "memories/clips/holiday.mp4.memories.json"
    assert outcome == Written(world.record.video_id, key)
    assert world.bucket.document(key) == {
        "version": "1",
        "video_id": world.record.video_id,
        "bucket": "uploads",
        "key": "clips/holiday.mp4",
        "version_id": "v1",
        "video_no": VIDEO_NO,
        "unique_id": "holidays",
        "fetched_at": "2025-10-09T08:53:20.500Z",  # after the paced second call
        "video_caption": CAPTION,
        "audio_transcription": TRANSCRIPT,
    }
    # both asked in the video's own folder
    assert world.provider.result_queries == [
        ("caption", VIDEO_NO, "holidays"),
        ("transcription", VIDEO_NO, "holidays"),
    ]
    (sent,) = world.bus.sent
    assert sent == {
        "version": "1",
        "event_id": f"{world.record.video_id}:results",
        "video_id": world.record.video_id,
        "bucket": "uploads",
        "key": "clips/holiday.mp4",
        "version_id": "v1",
        "video_no": VIDEO_NO,
        "unique_id": "holidays",
        "results_bucket": "results",
        "results_key": key,
        "at": "2025-10-09T08:53:20.500Z",
    }
    assert set(sent) == set(ResultsWrittenDetail.__annotations__)
    assert world.metrics.counts["ResultsWritten"] == 1


def test_a_record_without_a_folder_is_asked_about_in_the_configured_one() -> None:
    world = World({"unique_id": None}, unique_id=UNIQUE_ID)
    world.ready()

    assert isinstance(world.deliver(world.detail(unique_id=None)), Written)
    assert {q[2] for q in world.provider.result_queries} == {UNIQUE_ID}


def test_a_redelivered_job_rewrites_the_same_document_and_announces_it_again() -> None:
    world = World()
    world.ready()

    first, second = world.deliver(), world.deliver()

    assert first == second
    assert world.bucket.puts == 2 and len(world.bucket.objects) == 1
    # the same event id: a consumer deduplicates the second announcement
    assert [d["event_id"] for d in world.bus.sent] == [f"{world.record.video_id}:results"] * 2


def test_not_ready_is_retried_with_a_growing_delay_until_the_results_come() -> None:
    # Given memories.ai answers data null for the caption four times, then the caption
    world = World()
    world.ready()
    world.provider.results["caption"][VIDEO_NO] = [None, None, None, None, CAPTION]

    outcomes = world.until_done()

    assert [o.delay_seconds for o in outcomes if isinstance(o, RetryLater)] == [60, 120, 240, 480]
    assert isinstance(outcomes[-1], Written)
    # the transcription is not asked while the caption is not there; get_metadata is, each time
    assert [q[0] for q in world.provider.result_queries] == ["caption"] * 5 + ["transcription"]
    assert world.provider.status_queries == [VIDEO_NO] * 4
    assert world.metrics.counts["ResultsNotReady"] == 4
    assert world.metrics.counts["ResultsFailed"] == 0


def test_the_retry_delay_is_capped_and_the_job_gives_up_after_the_bound() -> None:
    # Given results that never come
    world = World()

    outcomes = world.until_done()

    delays = [o.delay_seconds for o in outcomes if isinstance(o, RetryLater)]
    assert delays[:7] == [60, 120, 240, 480, 960, 1920, 3600] and set(delays[6:]) == {3600}
    assert sum(delays) <= world.config.max_wait_seconds < sum(delays) + 3600
    failed = outcomes[-1]
    assert isinstance(failed, Failed) and "gave up" in failed.reason
    assert world.metrics.counts["ResultsFailed"] == 1
    assert not world.bucket.objects and not world.bus.sent
    # SQS never moves the job before the function gives up
    assert len(outcomes) < max_receives(world.config)


def test_an_empty_transcript_is_retried_for_a_while_then_written_as_given() -> None:
    # A video without speech: the transcription stays an empty list after parsing
    world = World()
    world.ready()
    world.provider.results["transcription"][VIDEO_NO] = [[]]

    outcomes = world.until_done()

    written = outcomes[-1]
    assert isinstance(written, Written)
    assert sum(o.delay_seconds for o in outcomes if isinstance(o, RetryLater)) >= EMPTY_IS_FINAL_AFTER_SECONDS
    assert world.bucket.document(written.results_key)["audio_transcription"] == []


@pytest.mark.parametrize(
    "error", [ProviderRateLimited("0429", "limit"), ProviderUnavailable("http-503", "down")]
)
def test_rate_limits_and_server_errors_are_retried_later(error: Exception) -> None:
    world = World()
    world.ready()
    world.provider.results["transcription"][VIDEO_NO] = [error, TRANSCRIPT]

    outcomes = world.until_done()

    assert [type(o) for o in outcomes] == [RetryLater, Written]
    assert world.metrics.counts["ResultsDeferred"] == 1


def test_a_refused_key_is_retried_alarmed_and_reread() -> None:
    world = World()
    world.ready()
    world.provider.results["caption"][VIDEO_NO] = [ProviderAuthFailure("0401", "invalid"), CAPTION]

    assert [type(o) for o in world.until_done()] == [RetryLater, Written]
    assert world.metrics.counts["ProviderAuthFailure"] == 1
    assert world.provider.credentials_forgotten == 1


@pytest.mark.parametrize(
    ("status", "says"), [(None, "does not know"), ("PARSE_ERROR", "reports"), ("FAIL", "reports")]
)
def test_a_video_the_provider_does_not_know_or_failed_fails_at_once(status: str | None, says: str) -> None:
    world = World()
    world.provider.statuses[VIDEO_NO] = status

    outcome = world.deliver()

    assert isinstance(outcome, Failed) and says in outcome.reason
    assert world.metrics.counts["ResultsFailed"] == 1


def test_a_query_the_provider_refuses_fails_at_once() -> None:
    world = World()
    world.provider.results["caption"][VIDEO_NO] = [ProviderRejected("0003", "video not found")]

    outcome = world.deliver()

    assert isinstance(outcome, Failed) and "video not found" in outcome.reason


@pytest.mark.parametrize(
    "changed",
    [
        {"status": "DELETED"},
        {"status": "QUEUED"},  # resubmitted by an operator since
        {"video_no": "VI000000000000000001"},
    ],
)
def test_a_job_for_a_record_no_longer_parse_with_that_video_no_is_skipped(changed: dict[str, Any]) -> None:
    world = World(changed)
    world.ready()

    outcome = world.deliver()

    assert isinstance(outcome, Skipped)
    assert not world.provider.result_queries and not world.bucket.objects


def test_a_forged_event_for_a_video_we_do_not_have_writes_nothing() -> None:
    world = World()
    world.ready()

    outcome = world.deliver(world.detail(video_id="0" * 64, key="../../elsewhere"))

    assert isinstance(outcome, Skipped) and not world.bucket.objects


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("someone-else", None),
        (events.SOURCE, {"video_id": "x", "to_status": PARSE}),
        (events.SOURCE, "not an object"),
    ],
)
def test_a_malformed_job_fails_with_its_reason(source: str, detail: object) -> None:
    world = World()

    outcome = world.deliver(detail, source=source) if detail is not None else world.deliver(source=source)

    assert isinstance(outcome, Failed) and outcome.reason.startswith("malformed job")


def test_an_unparsed_status_event_is_not_a_job() -> None:
    world = World()

    outcome = world.deliver(world.detail(to_status=UNPARSE))

    assert isinstance(outcome, Failed) and "to_status" in outcome.reason


def test_provider_calls_are_paced_within_the_accounts_limit() -> None:
    # Given many ready videos handled back to back by one instance
    world = World()
    world.ready()
    for _ in range(10):
        world.deliver()

    # Then its calls are at least CALL_INTERVAL_SECONDS apart: with the event source's maximum
    # concurrency of 2, at most 4 calls a second for the account (the documented limit is 5)
    assert len(world.provider.result_queries) == 20
    assert world.clock.slept == [CALL_INTERVAL_SECONDS] * 19
    assert CALL_INTERVAL_SECONDS == 0.5
