"""What a backlog costs: N videos dropped at once at the provider's real limit (1 upload/min).

Drives the real ingest handler (SQS batches built as Lambda's SQS trigger builds them, and the
minute schedule's EventBridge events, through Powertools' BatchProcessor), the real ``Ingestor`` and
the real ``Reconciler`` (every 5 minutes, as deployed), on in-memory fakes of the table, the gate,
the bucket and memories.ai that count every call, with a simulated clock: a week of waiting takes
seconds. memories.ai accepts every call; the reconciler's status check stands in for the PARSE
callback (one write each, as the callback's would be).

Per video it prints SQS messages, Lambda invocations and their billed seconds, and DynamoDB item
writes; the time to drain the line against the ideal N / rate; when the last video went; the upload
rate reached; and the most uploads in any 60 s window. The cost per video must stay flat as N grows:
the ``x100`` columns are each figure against the 100-video run of the same invocation.

    .venv/bin/python -m benchmarks.backlog [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import logging
import os
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "memories-ingest-benchmark")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Benchmark")

from devstack.emulator.state import max_in_window
from devstack.lambda_context import FakeLambdaContext
from devstack.poller import lambda_sqs_record
from functions.core.contract import Accepted, OptionalFields, UploadRequest
from functions.core.gate import slot_interval
from functions.core.ingest import IngestConfig, Ingestor
from functions.core.objects import ObjectRef, notification_body
from functions.core.reconcile import ReconcileConfig, Reconciler
from functions.core.settings import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_READ_TIMEOUT_SECONDS,
    DEFAULT_RECONCILE_AFTER_SECONDS,
    DEFAULT_STUCK_AFTER_SECONDS,
    INGEST_SCHEDULE_SECONDS,
    SUBMISSION_OVERHEAD_SECONDS,
)
from functions.core.status import PARSE
from functions.ingest import handler as ingest_handler
from functions.ingest.app import IngestApp
from tests.unit.fakes import (
    BUCKET,
    FakeClock,
    FakeGate,
    FakeMetrics,
    FakeObjects,
    FakeProvider,
    InMemoryStore,
)

RATE: Final = 1.0  # uploads per minute: the provider's limit and the default
BATCH_SIZE: Final = 5  # the stack's default ingestBatchSize
RECONCILE_EVERY: Final = 300.0  # the stack's default reconcileSchedule, rate(5 minutes)
TICK_PHASE: Final = 17.0  # the minute schedule fires at some second past the drop
# What an invocation costs besides simulated waiting (the provider call, S3 and DynamoDB round trips).
INVOCATION_OVERHEAD_SECONDS: Final = 0.5
QUEUE_ARN: Final = "arn:aws:sqs:us-east-1:123456789012:ingest"


class BillingProvider(FakeProvider):
    """memories.ai: accepts every upload, notes when; reports each accepted video PARSE when asked."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self._clock = clock
        self.times: list[float] = []

    def upload_url(self, request: UploadRequest) -> Accepted:
        accepted = super().upload_url(request)
        self.times.append(self._clock.now())
        self.statuses[accepted.video_no] = PARSE
        return accepted


@dataclass(frozen=True)
class Run:
    videos: int
    sqs_messages: int
    invocations: int
    billed_seconds: float
    writes: int
    drain_seconds: float
    last_slot_seconds: float
    max_in_minute: int
    parsed: int

    def per_video(self) -> tuple[float, float, float, float]:
        n = self.videos
        return (self.sqs_messages / n, self.invocations / n, self.billed_seconds / n, self.writes / n)


def _message(ref: ObjectRef) -> dict[str, Any]:
    body = notification_body(ref)
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "Body": body,
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
        "MessageAttributes": {},
    }


def _scheduled_event() -> dict[str, Any]:
    return {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}


def _ingestor(
    clock: FakeClock,
    *,
    store: InMemoryStore,
    gate: FakeGate,
    objects: FakeObjects,
    provider: FakeProvider,
    metrics: FakeMetrics,
) -> Ingestor:
    """The real ``Ingestor`` with the stack's defaults, on the counting fakes."""
    return Ingestor(
        IngestConfig(
            source_bucket=BUCKET,
            unique_id="default",
            callback_base_url="https://abcdefghij.execute-api.us-east-1.amazonaws.com/prod",
            presigned_url_ttl_seconds=6 * 3600,
            video_suffixes=(".mp4",),
            max_object_bytes=1024**3,
            defaults=OptionalFields(),
            lease_seconds=DEFAULT_CONNECT_TIMEOUT_SECONDS
            + DEFAULT_READ_TIMEOUT_SECONDS
            + SUBMISSION_OVERHEAD_SECONDS,
        ),
        store=store,
        objects=objects,
        provider=provider,
        gate=gate,
        signing_key=lambda: b"benchmark-signing-key",
        clock=clock,
        metrics=metrics,
    )


def _reconciler(
    clock: FakeClock, store: InMemoryStore, provider: FakeProvider, metrics: FakeMetrics
) -> Reconciler:
    """The real ``Reconciler`` with the stack's defaults, on the same fakes."""
    return Reconciler(
        ReconcileConfig(
            unique_id="default",
            reconcile_after_seconds=DEFAULT_RECONCILE_AFTER_SECONDS,
            stuck_after_seconds=DEFAULT_STUCK_AFTER_SECONDS,
        ),
        store=store,
        provider=provider,
        clock=clock,
        metrics=metrics,
    )


class Backlog:
    """One simulated deployment: the ingest handler and the reconciler on counting fakes, with the
    Lambda invocations and billed seconds they add up to."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = InMemoryStore()
        self.gate = FakeGate(interval=slot_interval(RATE))
        self.objects = FakeObjects()
        self.provider = BillingProvider(self.clock)
        metrics = FakeMetrics()
        self._app = IngestApp(
            ingestor=_ingestor(
                self.clock,
                store=self.store,
                gate=self.gate,
                objects=self.objects,
                provider=self.provider,
                metrics=metrics,
            ),
            clock=self.clock,
        )
        self._reconciler = _reconciler(self.clock, self.store, self.provider, metrics)
        self.invocations = 0
        self.billed = 0.0
        self.videos = 0
        self.dropped = self.clock.now()

    def invoke(self, event: dict[str, Any]) -> None:
        """One ingest invocation, billed for its simulated waiting plus the overhead."""
        started = self.clock.now()
        ingest_handler.handler(event, FakeLambdaContext("ingest", timeout_seconds=120), app=self._app)
        self.invocations += 1
        self.billed += self.clock.now() - started + INVOCATION_OVERHEAD_SECONDS

    def reconcile(self) -> None:
        self._reconciler.run()
        self.invocations += 1
        self.billed += INVOCATION_OVERHEAD_SECONDS

    def drop(self, videos: int) -> None:
        """``videos`` objects in the bucket at once, their notifications in SQS batches."""
        self.videos, self.dropped = videos, self.clock.now()
        refs = []
        for i in range(videos):
            key = f"backlog/{i:05d}.mp4"
            self.objects.add(key)
            refs.append(ObjectRef("uploads", key, 1000, f"v{i}", None, "ObjectCreated:Put"))
        for start in range(0, videos, BATCH_SIZE):
            batch = refs[start : start + BATCH_SIZE]
            self.invoke({"Records": [lambda_sqs_record(_message(r), QUEUE_ARN) for r in batch]})  # type: ignore[arg-type]

    def done(self) -> bool:
        return self.store.line_length() == 0 and all(r.status == PARSE for r in self.store.all())

    def drain(self) -> None:
        """Minute ticks and reconcile runs, in the order they fall, until every video is PARSE (checked
        after each reconcile run)."""
        next_tick, next_reconcile = self.dropped + TICK_PHASE, self.dropped + RECONCILE_EVERY
        while True:
            if next_tick <= next_reconcile:
                self.clock.advance(max(0.0, next_tick - self.clock.now()))
                self.invoke(_scheduled_event())
                next_tick += INGEST_SCHEDULE_SECONDS
            else:
                self.clock.advance(max(0.0, next_reconcile - self.clock.now()))
                self.reconcile()
                next_reconcile += RECONCILE_EVERY
                if self.done():
                    return

    def result(self) -> Run:
        times = self.provider.times
        return Run(
            videos=self.videos,
            sqs_messages=self.videos,  # the S3 notifications; the pipeline sends none of its own
            invocations=self.invocations,
            billed_seconds=self.billed,
            writes=self.store.writes + self.gate.writes,
            drain_seconds=times[-1] - times[0],
            last_slot_seconds=times[-1] - self.dropped,
            max_in_minute=max_in_window(times, 60.0),
            parsed=sum(r.status == PARSE for r in self.store.all()),
        )


def simulate(videos: int) -> Run:
    backlog = Backlog()
    backlog.drop(videos)
    backlog.drain()
    return backlog.result()


def _duration(seconds: float) -> str:
    days, rest = divmod(round(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours:02d}h {rest // 60:02d}m" if days else f"{hours}h {rest // 60:02d}m"


def table(runs: Sequence[Run]) -> str:
    base = runs[0].per_video()
    lines = [
        f"{'videos':>7} {'SQS msg':>8} {'Lambda inv':>10} {'Lambda s':>9} {'DDB writes':>10} {'x100':>15}"
        f" {'drain':>12} {'/ ideal':>7} {'last slot':>12} {'rate/limit':>10} {'max 60s':>7} {'PARSE':>6}"
    ]
    for run in runs:
        sqs, inv, seconds, writes = run.per_video()
        ideal = run.videos * 60 / RATE
        reached = (run.videos - 1) / run.drain_seconds * 60 / RATE if run.drain_seconds else 1.0
        ratios = f"{inv / base[1]:.2f}/{seconds / base[2]:.2f}/{writes / base[3]:.2f}"
        lines.append(
            f"{run.videos:>7,} {sqs:>8.2f} {inv:>10.2f} {seconds:>9.1f} {writes:>10.2f} {ratios:>15}"
            f" {_duration(run.drain_seconds):>12} {run.drain_seconds / ideal:>7.3f}"
            f" {_duration(run.last_slot_seconds):>12} {reached:>10.3f} {run.max_in_minute:>7} {run.parsed:>6,}"
        )
    lines.append(
        "per video: SQS messages, Lambda invocations (ingest batches + minute ticks + reconcile runs),"
        " billed Lambda seconds, DynamoDB item writes; x100: invocations/seconds/writes against the"
        f" 100-video run. {RATE:g} upload/min, slots {slot_interval(RATE):g} s apart."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 videos only")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    ingest_handler.logger.setLevel(logging.WARNING)
    sizes = (100, 1_000) if args.quick else (100, 1_000, 10_000)
    # Powertools metrics print one EMF line per invocation; nothing reads them here.
    with contextlib.redirect_stdout(io.StringIO()):
        runs = [simulate(n) for n in sizes]
    print(table(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
