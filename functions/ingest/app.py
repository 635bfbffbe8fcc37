"""The ingest function's app: S3 notifications (through SQS) join the line, and the line is submitted
after each batch and on the schedule's tick. The decisions are in ``functions.core.ingest``.

``build`` composes it from settings (boto3 clients through ``functions.adapters.wiring``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import tracing, wiring
from functions.adapters.aws import PowertoolsMetrics, SystemClock
from functions.adapters.dynamo import DynamoStatusStore, DynamoUploadGate
from functions.adapters.s3 import S3Objects
from functions.core.deletes import DeleteConfig, Deleter
from functions.core.hls import HlsConfig, Playlists
from functions.core.ingest import IngestConfig, Ingestor, Outcome
from functions.core.objects import parse_object_events
from functions.core.ports import Clock
from functions.core.settings import INGEST_SCHEDULE_SECONDS, IngestSettings
from functions.core.signing import video_id_for

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


def is_scheduled(event: Mapping[str, Any]) -> bool:
    """An EventBridge schedule's event, rather than an SQS batch."""
    return event.get("detail-type") == "Scheduled Event" and event.get("source") == "aws.events"


def _log(outcome: Outcome, **extra: Any) -> None:
    logger.info(
        f"{outcome.kind}: {outcome.detail}",
        extra={"video_id": outcome.video_id, "video_no": outcome.video_no, "outcome": outcome.kind, **extra},
    )


@dataclass(frozen=True, slots=True)
class IngestApp:
    ingestor: Ingestor
    clock: Clock
    # None only where an app is built for submissions alone (the benchmark): removals are then skipped.
    deleter: Deleter | None = None

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Any:
        """One invocation: a tick submits the line; a batch joins it, then submits what the rate allows."""
        if is_scheduled(event):
            # A tick waits up to one schedule period for a slot, so no slot between two ticks goes unused.
            return {"submitted": self.drain(context, INGEST_SCHEDULE_SECONDS)}
        response = process_partial_response(
            event=event, record_handler=self.process, processor=processor, context=context
        )
        try:
            # New drops go at once when the rate allows; the rest wait for the schedule.
            self.drain(context, self.ingestor.inline_wait_seconds)
        except Exception:
            # The notifications are safely in line: failing the batch now would only redeliver them.
            logger.exception("submitting after the batch failed; the next tick retries")
        return response

    def process(self, record: SQSRecord) -> None:
        """One notification: its objects join the line (or, removed, are marked deleted). Nothing in
        the message is anyone's turn."""
        events = parse_object_events(record.body)
        for ref in events.created:
            logger.set_correlation_id(video_id_for(ref.bucket, ref.key, ref.object_version))
            _log(self.ingestor.enqueue(ref), bucket=ref.bucket, key=ref.key)
        if self.deleter is not None:
            for ref in events.removed:
                outcome = self.deleter.remove(ref)
                logger.set_correlation_id(outcome.video_id)
                _log(outcome, bucket=ref.bucket, key=ref.key)
        logger.set_correlation_id(None)

    def drain(self, context: LambdaContext, max_wait_seconds: float) -> int:
        deadline = self.clock.now() + context.get_remaining_time_in_millis() / 1000
        outcomes = self.ingestor.drain(deadline=deadline, max_wait_seconds=max_wait_seconds)
        for outcome in outcomes:
            _log(outcome)
        return len(outcomes)


def build(settings: IngestSettings, session: boto3.Session | None = None) -> IngestApp:
    session = session or boto3.Session()
    metrics.namespace = settings.metrics_namespace
    # S3 and Secrets Manager are made on first use (a tick with nothing due never loads their
    # models, S3's the largest), and before a slot is reserved (``ready``), never after it.
    secrets = wiring.deferred(lambda: wiring.secrets(session))
    dynamodb = wiring.dynamodb(session)
    s3 = wiring.deferred(lambda: wiring.s3(session))
    signing_key = wiring.signing_key(secrets, settings.signing_secret_id, settings.secret_cache_seconds)
    clock = SystemClock()
    store = DynamoStatusStore(dynamodb, settings.table_name)
    objects = S3Objects(s3)
    provider = wiring.memories_client(secrets, settings)
    app_metrics = PowertoolsMetrics(metrics)
    ingestor = Ingestor(
        IngestConfig(
            source_bucket=settings.source_bucket,
            unique_id=settings.unique_id,
            callback_base_url=settings.callback_base_url,
            presigned_url_ttl_seconds=settings.presigned_url_ttl_seconds,
            video_suffixes=settings.video_suffixes,
            max_object_bytes=settings.max_object_bytes,
            defaults=settings.defaults,
            lease_seconds=settings.submission_seconds,
            retry_base_seconds=settings.retry_base_delay_seconds,
            retry_max_seconds=settings.retry_max_delay_seconds,
            delete_at_provider=settings.delete_at_provider,
            read_sidecars=settings.read_sidecars,
            provider_folders=settings.provider_folders,
            playlist_settle_seconds=settings.hls_settle_seconds,
            min_call_spacing_seconds=60.0 / settings.uploads_per_minute,
        ),
        store=store,
        objects=objects,
        provider=provider,
        gate=DynamoUploadGate(dynamodb, settings.table_name, settings.uploads_per_minute),
        signing_key=lambda: signing_key().encode("utf-8"),
        clock=clock,
        metrics=app_metrics,
        ready=wiring.ready(s3, signing_key, provider.read_credentials),
        playlists=Playlists(
            HlsConfig(
                staging_bucket=settings.hls_staging_bucket,
                presigned_url_ttl_seconds=settings.presigned_url_ttl_seconds,
                max_total_bytes=settings.max_object_bytes,
            ),
            objects,
        ),
    )
    deleter = Deleter(
        DeleteConfig(settings.source_bucket, settings.unique_id, settings.delete_at_provider),
        store=store,
        objects=objects,
        provider=provider,
        clock=clock,
        metrics=app_metrics,
    )
    return IngestApp(ingestor=ingestor, clock=clock, deleter=deleter)
