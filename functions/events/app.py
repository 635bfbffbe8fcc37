"""The events function's app: a batch of the status table's stream records becomes status events on
EventBridge (which write makes which events, and their order, are in ``functions.core.publish``).

A change whose events were not all accepted is reported as a failed batch item (its sequence
number), so the stream hands it, and everything after it, over again. ``build`` composes the app
from settings (boto3 clients through ``functions.adapters.wiring``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBStreamEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import tracing, wiring
from functions.adapters.aws import PowertoolsMetrics
from functions.adapters.dynamo import image_to_record
from functions.adapters.eventbridge import EventBridgeBus
from functions.core.errors import StatusEventsNotPublished
from functions.core.publish import Change, StatusEventPublisher
from functions.core.settings import EventsSettings

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def change_of(record: DynamoDBRecord) -> Change:
    """One stream record as the write it stands for (the images in DynamoDB's typed JSON)."""
    stream = record.dynamodb
    if stream is None or not stream.sequence_number:
        raise ValueError(f"stream record {record.event_id} has no dynamodb.SequenceNumber")
    return Change(
        position=stream.sequence_number,
        old=image_to_record(stream.get("OldImage")),
        new=image_to_record(stream.get("NewImage")),
    )


@dataclass(frozen=True, slots=True)
class EventsApp:
    publisher: StatusEventPublisher

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Any:
        """One stream batch: its events published, the records whose events are not all on the bus
        reported failed (Powertools builds the partial batch response, itemIdentifier: the sequence number)."""
        failed = self.publish(DynamoDBStreamEvent(event).records)

        def settle(record: DynamoDBRecord) -> None:
            if record.dynamodb is None or record.dynamodb.sequence_number in failed:
                raise StatusEventsNotPublished(
                    f"stream record {record.event_id}: its events are not all on the bus"
                )

        return process_partial_response(
            event=event, record_handler=settle, processor=processor, context=context
        )

    def publish(self, records: Iterable[DynamoDBRecord]) -> frozenset[str]:
        """Publishes the batch's events in stream order; returns the sequence numbers to retry."""
        changes: list[Change] = []
        unreadable: list[str] = []
        for record in records:
            if unreadable:  # after a record that cannot be read, nothing is published out of order
                unreadable.append(str(record.dynamodb.sequence_number if record.dynamodb else ""))
                continue
            try:
                changes.append(change_of(record))
            except (TypeError, ValueError, KeyError):
                logger.exception(
                    "a stream record is not a readable status change", extra={"id": record.event_id}
                )
                unreadable.append(str(record.dynamodb.sequence_number if record.dynamodb else ""))
        published = self.publisher.publish(changes)
        if published.failed or unreadable:
            logger.warning(
                f"{published.accepted} events accepted; {len(published.failed) + len(unreadable)} of "
                f"{len(changes) + len(unreadable)} changes go back to the stream",
                extra={"errors": list(published.errors)},
            )
        else:
            logger.info(f"{published.accepted} events published for {len(changes)} changes")
        return frozenset((*published.failed, *unreadable))


def build(settings: EventsSettings, session: boto3.Session | None = None) -> EventsApp:
    session = session or boto3.Session()
    metrics.namespace = settings.metrics_namespace
    partition = session.get_partition_for_region(session.region_name or "us-east-1")
    bus = EventBridgeBus(wiring.events(session), settings.event_bus_name)
    return EventsApp(StatusEventPublisher(bus, partition=partition, metrics=PowertoolsMetrics(metrics)))
