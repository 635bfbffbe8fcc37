"""Ingest Lambda: S3 ObjectCreated notifications, delivered through SQS, become memories.ai uploads.

Wiring only: the decisions are in ``functions.core.ingest``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from functions.adapters import wiring
from functions.adapters.aws import PowertoolsMetrics, SqsQueue, SystemClock
from functions.adapters.dynamo import DynamoRateLimiter
from functions.adapters.s3 import S3Objects
from functions.core.ingest import IngestConfig, Ingestor, Kind
from functions.core.objects import notification_body, parse_notification
from functions.core.ports import Queue
from functions.core.settings import IngestSettings
from functions.core.signing import video_id_for

RESERVED_SLOT_ATTRIBUTE = "reserved-slot"

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@dataclass(frozen=True, slots=True)
class IngestApp:
    ingestor: Ingestor
    queue: Queue

    def process(self, record: SQSRecord) -> None:
        attribute = record.message_attributes.get(RESERVED_SLOT_ATTRIBUTE)
        slot = float(attribute.string_value) if attribute and attribute.string_value else None
        for ref in parse_notification(record.body):
            logger.set_correlation_id(video_id_for(ref.bucket, ref.key, ref.object_version))
            outcome = self.ingestor.handle(ref, reserved_slot=slot)
            logger.info(
                f"{outcome.kind}: {outcome.detail}",
                extra={
                    "bucket": ref.bucket,
                    "key": ref.key,
                    "video_no": outcome.video_no,
                    "outcome": outcome.kind,
                },
            )
            if outcome.kind is Kind.DEFERRED:
                attributes = {}
                if outcome.reserved_slot is not None:
                    attributes[RESERVED_SLOT_ATTRIBUTE] = repr(outcome.reserved_slot)
                self.queue.send(notification_body(ref), outcome.delay_seconds, attributes)
        logger.set_correlation_id(None)


def build(settings: IngestSettings, session: boto3.Session | None = None) -> IngestApp:
    session = session or boto3.Session()
    metrics.namespace = settings.metrics_namespace
    secrets = wiring.secrets(session)
    dynamodb = wiring.dynamodb(session)
    s3 = session.client("s3", config=wiring.AWS_CONFIG.merge(Config(signature_version="s3v4")))
    signing_key = wiring.signing_key(secrets, settings.signing_secret_id, settings.secret_cache_seconds)
    ingestor = Ingestor(
        IngestConfig(
            unique_id=settings.unique_id,
            callback_base_url=settings.callback_base_url,
            presigned_url_ttl_seconds=settings.presigned_url_ttl_seconds,
            video_suffixes=settings.video_suffixes,
            max_object_bytes=settings.max_object_bytes,
            defaults=settings.defaults,
            lease_seconds=settings.connect_timeout_seconds + settings.read_timeout_seconds + 15,
            retry_base_seconds=settings.retry_base_delay_seconds,
            retry_max_seconds=settings.retry_max_delay_seconds,
        ),
        store=wiring.status_store(session, settings.table_name),
        objects=S3Objects(s3),
        provider=wiring.memories_client(
            secrets,
            base_url=settings.api_base_url,
            secret_id=settings.api_key_secret_id,
            max_age=settings.secret_cache_seconds,
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
        ),
        limiter=DynamoRateLimiter(dynamodb, settings.table_name, settings.uploads_per_minute),
        signing_key=lambda: signing_key().encode("utf-8"),
        clock=SystemClock(),
        metrics=PowertoolsMetrics(metrics),
    )
    return IngestApp(
        ingestor=ingestor, queue=SqsQueue(session.client("sqs", config=wiring.AWS_CONFIG), settings.queue_url)
    )


_app: IngestApp | None = None


def _cold_start_app() -> IngestApp:
    global _app  # noqa: PLW0603 - built once per execution environment
    if _app is None:
        _app = build(IngestSettings.from_env(os.environ))
    return _app


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, app: IngestApp | None = None
) -> PartialItemFailureResponse:
    ingest = app or _cold_start_app()
    return process_partial_response(
        event=event, record_handler=ingest.process, processor=processor, context=context
    )
