"""Results beside the video: when a video reaches PARSE, its caption and transcription from
memories.ai are written as one JSON document, ``<prefix><key>.memories.json``, in the results bucket.

One ``Video Status Changed`` event with ``to_status`` PARSE (``functions.core.events``) is one job.
The record in the status table is the authority, not the event: a job for a video whose record is no
longer PARSE with that videoNo (deleted, resubmitted, or an event nobody of ours sent) is skipped.

The provider's answers are written exactly as given (``data`` of each call). Until they are ready
(``data: null``, or empty) the job is retried with a growing delay, for at most ``max_wait_seconds``
after it was first queued; then it goes to the dead-letter queue. An empty answer is taken as final
after ``EMPTY_IS_FINAL_AFTER_SECONDS``: a video without speech has an empty transcript. Rate limits
(0429), server errors and a refused key are retried the same way; a video the provider does not
know (or reports failed) is a failure at once. Calls are paced (``CALL_INTERVAL_SECONDS``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from functions.core import events
from functions.core.clock import iso
from functions.core.errors import (
    ProviderAuthFailure,
    ProviderBalanceExhausted,
    ProviderError,
    ProviderRejected,
)
from functions.core.events import ResultsWrittenDetail
from functions.core.metrics import Metric
from functions.core.ports import Clock, Metrics, Provider, StatusStore
from functions.core.settings import (
    DEFAULT_RESULTS_MAX_WAIT_SECONDS,
    DEFAULT_RESULTS_RETRY_BASE_SECONDS,
    DEFAULT_RESULTS_RETRY_MAX_SECONDS,
    MAX_VISIBILITY_SECONDS,
)
from functions.core.status import PARSE, PROVIDER_FAILURES, VideoRecord

__all__ = [
    "CALL_INTERVAL_SECONDS",
    "DOCUMENT_VERSION",
    "EMPTY_IS_FINAL_AFTER_SECONDS",
    "RESULTS_MAX_CONCURRENCY",
    "RESULTS_SUFFIX",
    "Failed",
    "Outcome",
    "Pacer",
    "ResultsConfig",
    "ResultsEvents",
    "ResultsStore",
    "ResultsWriter",
    "RetryLater",
    "Skipped",
    "Written",
    "max_receives",
    "results_key",
]

RESULTS_SUFFIX: Final = ".memories.json"
DOCUMENT_VERSION: Final = "1"
# S3's longest key, in UTF-8 bytes.
MAX_KEY_BYTES: Final = 1024

# Pacing. The provider documents 5 queries a second for list_videos and nothing for these two calls,
# so they are held to the same account-wide 5/s, of which the results function takes at most 4 (the
# callback's and the reconciler's get_metadata / list_videos keep the rest). The event source runs
# at most RESULTS_MAX_CONCURRENCY instances (the smallest maximum Lambda allows), each pacing its own
# calls: 2 instances x 1 call per 0.5 s = 4 calls a second for the whole account.
ACCOUNT_QUERIES_PER_SECOND: Final = 5.0
RESULTS_QUERIES_PER_SECOND: Final = 4.0
RESULTS_MAX_CONCURRENCY: Final = 2
CALL_INTERVAL_SECONDS: Final = RESULTS_MAX_CONCURRENCY / RESULTS_QUERIES_PER_SECOND

# An empty answer (not null) is retried this long after the job was queued, then written as given.
EMPTY_IS_FINAL_AFTER_SECONDS: Final = 3600
# Receives beyond the retry schedule before SQS itself moves a job that keeps crashing the function.
CRASH_MARGIN_RECEIVES: Final = 5


@dataclass(frozen=True, slots=True)
class ResultsConfig:
    results_bucket: str
    results_prefix: str = ""
    unique_id: str = "default"
    retry_base_seconds: int = DEFAULT_RESULTS_RETRY_BASE_SECONDS
    retry_max_seconds: int = DEFAULT_RESULTS_RETRY_MAX_SECONDS
    max_wait_seconds: int = DEFAULT_RESULTS_MAX_WAIT_SECONDS

    def delay(self, receive_count: int) -> int:
        """The wait before the next try after the ``receive_count``-th one failed: doubling, capped."""
        exponent = min(max(receive_count, 1) - 1, 30)
        return min(self.retry_base_seconds << exponent, self.retry_max_seconds)


def max_receives(config: ResultsConfig) -> int:
    """The queue's maxReceiveCount: every try the retry schedule makes within ``max_wait_seconds``,
    plus a margin, so SQS never cuts the schedule short (the function gives up itself)."""
    receives, waited = 1, 0
    while waited + config.delay(receives) <= config.max_wait_seconds:
        waited += config.delay(receives)
        receives += 1
    return receives + CRASH_MARGIN_RECEIVES


def results_key(prefix: str, key: str) -> str:
    return f"{prefix}{key}{RESULTS_SUFFIX}"


class ResultsStore(Protocol):
    def put_json(self, key: str, body: bytes) -> None:
        """Write (or overwrite) one document in the results bucket."""


class ResultsEvents(Protocol):
    def results_written(self, detail: ResultsWrittenDetail) -> None:
        """Put one ``Video Results Written`` event on the bus; raises when it was not accepted."""


@dataclass(frozen=True, slots=True)
class Written:
    video_id: str
    results_key: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """Nothing to do: the job is done without writing (and without retrying)."""

    reason: str
    video_id: str | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Try again in ``delay_seconds`` (the message stays on the queue that long)."""

    delay_seconds: int
    reason: str
    video_id: str


@dataclass(frozen=True, slots=True)
class Failed:
    """Give up: the job goes to the dead-letter queue with ``reason``."""

    reason: str
    video_id: str | None = None


Outcome = Written | Skipped | RetryLater | Failed


class Pacer:
    """At most one provider call per ``interval`` seconds from this instance."""

    def __init__(self, clock: Clock, interval: float = CALL_INTERVAL_SECONDS) -> None:
        self._clock = clock
        self._interval = interval
        self._last: float | None = None

    def wait(self) -> None:
        now = self._clock.now()
        if self._last is not None and now < self._last + self._interval:
            self._clock.sleep(self._last + self._interval - now)
            now = self._last + self._interval
        self._last = now


@dataclass(frozen=True, slots=True)
class _Job:
    video_id: str
    video_no: str


def _job(source: str, detail_type: str, detail: object) -> _Job | str:
    """The job an event names, or why it is not one."""
    if source != events.SOURCE or detail_type != events.STATUS_CHANGED:
        return f"not a {events.SOURCE} {events.STATUS_CHANGED!r} event ({source!r}, {detail_type!r})"
    if not isinstance(detail, Mapping):
        return "the event has no detail object"
    video_id, video_no, to_status = (detail.get(k) for k in ("video_id", "video_no", "to_status"))
    if to_status != PARSE:
        return f"to_status is {to_status!r}, not {PARSE}"
    if not isinstance(video_id, str) or not video_id or not isinstance(video_no, str) or not video_no:
        return "the detail has no video_id or video_no"
    return _Job(video_id, video_no)


def _empty(data: object) -> bool:
    return data is None or (isinstance(data, list | dict | str) and not data)


class ResultsWriter:
    def __init__(
        self,
        config: ResultsConfig,
        *,
        store: StatusStore,
        provider: Provider,
        results: ResultsStore,
        bus: ResultsEvents,
        clock: Clock,
        metrics: Metrics,
        pacer: Pacer | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._provider = provider
        self._results = results
        self._bus = bus
        self._clock = clock
        self._metrics = metrics
        self._pacer = pacer or Pacer(clock)

    def handle(
        self, source: str, detail_type: str, detail: object, *, receive_count: int, queued_at: float
    ) -> Outcome:
        """One job (an EventBridge event's parts), on its ``receive_count``-th delivery, first
        queued at ``queued_at`` (epoch seconds)."""
        job = _job(source, detail_type, detail)
        if isinstance(job, str):
            return self._failed(Failed(f"malformed job: {job}"))
        record = self._store.get(job.video_id)
        if record is None or record.status != PARSE or record.video_no != job.video_no:
            now = "no record" if record is None else f"{record.status}, videoNo {record.video_no}"
            self._metrics.count(Metric.RESULTS_SKIPPED)
            return Skipped(f"the record is not PARSE with videoNo {job.video_no} ({now})", job.video_id)
        folder = record.folder(self._config.unique_id)
        key = results_key(self._config.results_prefix, record.key)
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            return self._failed(Failed(f"results key would exceed S3's {MAX_KEY_BYTES} bytes", job.video_id))
        waited = max(0.0, self._clock.now() - queued_at)
        answers = self._fetch(job, folder, receive_count, waited)
        if not isinstance(answers, dict):
            return answers
        return self._write(record, job.video_no, folder, key, answers)

    def _fetch(
        self, job: _Job, folder: str, receive_count: int, waited: float
    ) -> dict[str, object] | Outcome:
        """The caption and the transcription, paced; or what to do when they are not there yet."""
        try:
            answers: dict[str, object] = {}
            for name, call in (
                ("video_caption", self._provider.video_caption),
                ("audio_transcription", self._provider.audio_transcription),
            ):
                self._pacer.wait()
                data = call(job.video_no, folder)
                if data is None or (_empty(data) and waited < EMPTY_IS_FINAL_AFTER_SECONDS):
                    return self._not_ready(job, folder, f"{name} not ready", receive_count, waited)
                answers[name] = data
            return answers
        except ProviderRejected as exc:
            return self._failed(Failed(f"memories.ai refused the query: {exc}", job.video_id))
        except ProviderError as exc:
            if isinstance(exc, ProviderAuthFailure):
                self._provider.forget_credentials()
            if isinstance(exc, ProviderAuthFailure | ProviderBalanceExhausted):
                self._metrics.count(Metric(type(exc).__name__))
            return self._retry(job, str(exc), receive_count, waited, metric=Metric.RESULTS_DEFERRED)

    def _write(
        self, record: VideoRecord, video_no: str, folder: str, key: str, answers: dict[str, object]
    ) -> Outcome:
        """The document beside the video, then its event."""
        fetched_at = iso(self._clock.now())
        document = {
            "version": DOCUMENT_VERSION,
            "video_id": record.video_id,
            "bucket": record.bucket,
            "key": record.key,
            "version_id": record.version_id,
            "video_no": video_no,
            "unique_id": folder,
            "fetched_at": fetched_at,
            **answers,
        }
        self._results.put_json(key, json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"))
        self._bus.results_written(
            ResultsWrittenDetail(
                version=events.DETAIL_VERSION,
                event_id=f"{record.video_id}:results",
                video_id=record.video_id,
                bucket=record.bucket,
                key=record.key,
                version_id=record.version_id,
                video_no=video_no,
                unique_id=folder,
                results_bucket=self._config.results_bucket,
                results_key=key,
                at=fetched_at,
            )
        )
        self._metrics.count(Metric.RESULTS_WRITTEN)
        return Written(record.video_id, key)

    def _not_ready(self, job: _Job, folder: str, reason: str, receive_count: int, waited: float) -> Outcome:
        # Not ready yet, or never will be? get_metadata tells a video the provider lost or failed.
        try:
            self._pacer.wait()
            status = self._provider.video_status(job.video_no, folder)
        except ProviderError as exc:
            return self._retry(
                job, f"{reason}; get_metadata: {exc}", receive_count, waited, Metric.RESULTS_DEFERRED
            )
        if status is None:
            return self._failed(
                Failed(f"memories.ai does not know {job.video_no} in {folder!r}", job.video_id)
            )
        if status.upper() in PROVIDER_FAILURES:
            return self._failed(Failed(f"memories.ai reports {job.video_no} {status}", job.video_id))
        return self._retry(job, reason, receive_count, waited, Metric.RESULTS_NOT_READY)

    def _retry(self, job: _Job, reason: str, receive_count: int, waited: float, metric: Metric) -> Outcome:
        delay = min(self._config.delay(receive_count), MAX_VISIBILITY_SECONDS)
        if waited + delay > self._config.max_wait_seconds:
            return self._failed(
                Failed(
                    f"gave up after {waited:.0f} s (max {self._config.max_wait_seconds} s): {reason}",
                    job.video_id,
                )
            )
        self._metrics.count(metric)
        return RetryLater(delay, reason, job.video_id)

    def _failed(self, outcome: Failed) -> Failed:
        self._metrics.count(Metric.RESULTS_FAILED)
        return outcome
