"""The results function's app: ``Video Status Changed`` events to PARSE (EventBridge rule -> SQS)
become a results document beside the video; one ``Video Results Written`` event each. The decisions
are in ``functions.core.results``.

A job that is not ready is put off (ChangeMessageVisibility) and reported failed, so it comes back
after the delay; a job that failed for good is copied to the dead-letter queue with its reason and
reported done. ``build`` composes the app from settings (boto3 clients through
``functions.adapters.wiring``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import tracing, wiring
from functions.adapters.aws import PowertoolsMetrics, SystemClock
from functions.adapters.results import EventBridgeResults, S3Results, SqsJobs
from functions.core.results import Failed, ResultsConfig, ResultsWriter, RetryLater
from functions.core.settings import ResultsSettings

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics()
# A batch whose every job is put off is not a function error (it would trip the Errors alarm).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class NotYet(Exception):
    """Reported as a batch item failure: the message was put off and comes back later."""


class Jobs(Protocol):
    """The results queue (``functions.adapters.results.SqsJobs``)."""

    def defer(self, receipt_handle: str, seconds: int) -> None: ...

    def dead_letter(self, body: str, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ResultsApp:
    writer: ResultsWriter
    jobs: Jobs

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Any:
        """One SQS batch: Powertools builds the partial batch response from ``process``."""
        return process_partial_response(
            event=event, record_handler=self.process, processor=processor, context=context
        )

    def process(self, record: SQSRecord) -> None:
        try:
            envelope = EventBridgeEvent(json.loads(record.body))
            source, detail_type, detail = envelope.source, envelope.detail_type, envelope.detail
        except (ValueError, KeyError, TypeError):
            source, detail_type, detail = "", "", None
        outcome = self.writer.handle(
            source,
            detail_type,
            detail,
            receive_count=int(record.attributes.approximate_receive_count),
            queued_at=int(record.attributes.sent_timestamp) / 1000,
        )
        logger.set_correlation_id(outcome.video_id)
        logger.info(f"results {type(outcome).__name__.lower()}", extra={"outcome": repr(outcome)})
        logger.set_correlation_id(None)
        if isinstance(outcome, RetryLater):
            self.jobs.defer(record.receipt_handle, outcome.delay_seconds)
            raise NotYet(outcome.reason)
        if isinstance(outcome, Failed):
            self.jobs.dead_letter(record.body, outcome.reason)


def build(settings: ResultsSettings, session: boto3.Session | None = None) -> ResultsApp:
    session = session or boto3.Session()
    metrics.namespace = settings.metrics_namespace
    writer = ResultsWriter(
        ResultsConfig(
            results_bucket=settings.results_bucket,
            results_prefix=settings.results_prefix,
            unique_id=settings.unique_id,
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
            max_wait_seconds=settings.max_wait_seconds,
        ),
        store=wiring.status_store(session, settings.table_name),
        provider=wiring.memories_client(wiring.secrets(session), settings),
        results=S3Results(wiring.s3(session), settings.results_bucket),
        bus=EventBridgeResults(wiring.events(session), settings.event_bus_name),
        clock=SystemClock(),
        metrics=PowertoolsMetrics(metrics),
    )
    return ResultsApp(
        writer, SqsJobs(wiring.sqs(session), settings.queue_url, settings.dead_letter_queue_url)
    )
