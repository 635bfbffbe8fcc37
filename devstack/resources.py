"""The stack's AWS resources, created locally the way the CDK stack (infra/) defines them.

Table: key and indexes from ``functions.core.table`` (full projections, the line keys-only plus
``not_before``, the object index keys-only), on-demand, TTL on
``expires_at``. Queue: a dead-letter queue after ``MAX_RECEIVE_COUNT`` failed receives. Bucket:
every ``s3:ObjectCreated:*`` and ``s3:ObjectRemoved:*`` becomes a message on the queue, as an S3
notification, or (with ``notification_source="eventbridge"``) as S3's EventBridge event through a
rule on the default bus. Secrets: the memories.ai API key and a random callback signing key. Status
events: the table's stream (new and old images), a rule on the default bus sending every
``memories-ingest`` event to an "events sink" queue (what a consumer would subscribe), and the
queue that stands for the event source's on-failure destination. What only matters on AWS (encryption, SSL-only policies, the queue
policy that lets S3 publish) is left out: the local services do not enforce it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import boto3

from functions.core import table
from functions.core.events import SOURCE
from functions.core.objects import NOTIFICATION_SOURCES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.type_defs import NotificationConfigurationTypeDef

__all__ = [
    "MAX_RECEIVE_COUNT",
    "ResourceNames",
    "Resources",
    "create_resources",
    "notify_queue",
]

# As infra/constructs/storage.py: five failed receives of one object mean an operator must look.
MAX_RECEIVE_COUNT: Final = 5
# The longest SQS keeps a message, as on AWS.
RETENTION_SECONDS: Final = 14 * 24 * 3600
HLS_STAGING_BUCKET: Final = "memories-ingest-hls-staging"


@dataclass(frozen=True, slots=True)
class ResourceNames:
    bucket: str = "memories-ingest-local"
    queue: str = "memories-ingest-queue"
    dead_letter_queue: str = "memories-ingest-dlq"
    table: str = "memories-ingest-status"
    api_key_secret: str = "memories-ingest/memories-api-key"  # noqa: S105 - a name, not a secret
    signing_secret: str = "memories-ingest/callback-signing-key"  # noqa: S105 - a name, not a secret
    rule: str = "memories-ingest-object-events"
    events_sink: str = "memories-ingest-events-sink"
    events_rule: str = "memories-ingest-status-events"
    events_failures: str = "memories-ingest-events-failures"
    # Derived HLS playlists (functions.core.hls); no notifications, so nothing there is ingested.
    hls_staging_bucket: str = HLS_STAGING_BUCKET


@dataclass(frozen=True, slots=True)
class Resources:
    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    table_name: str
    api_key_secret_id: str
    signing_secret_id: str
    stream_arn: str
    events_sink_url: str
    events_failures_url: str
    hls_staging_bucket: str = HLS_STAGING_BUCKET


def create_resources(
    session: boto3.Session,
    *,
    api_key: str,
    visibility_timeout_seconds: int,
    names: ResourceNames | None = None,
    max_receive_count: int = MAX_RECEIVE_COUNT,
    notification_source: str = "s3",
) -> Resources:
    """Create everything on the endpoints ``session``'s clients resolve to (the local ones)."""
    names = names or ResourceNames()
    create_table(session.client("dynamodb"), names.table)
    sqs = session.client("sqs")
    dlq_url = sqs.create_queue(
        QueueName=names.dead_letter_queue, Attributes={"MessageRetentionPeriod": str(RETENTION_SECONDS)}
    )["QueueUrl"]
    dlq_arn = _queue_arn(session, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
    queue_url = sqs.create_queue(
        QueueName=names.queue,
        Attributes={
            "MessageRetentionPeriod": str(RETENTION_SECONDS),
            "VisibilityTimeout": str(visibility_timeout_seconds),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    queue_arn = _queue_arn(session, queue_url)
    s3 = session.client("s3")
    s3.create_bucket(Bucket=names.bucket)
    s3.create_bucket(Bucket=names.hls_staging_bucket)
    if notification_source == "eventbridge":
        _create_rule(session, names, queue_arn)
    notify_queue(session, names.bucket, queue_arn, notification_source)
    secretsmanager = session.client("secretsmanager")
    api_key_arn = secretsmanager.create_secret(Name=names.api_key_secret, SecretString=api_key)["ARN"]
    signing_arn = secretsmanager.create_secret(
        Name=names.signing_secret, SecretString=secrets.token_urlsafe(32)
    )["ARN"]
    events_sink_url, events_failures_url = _create_status_event_queues(session, names)
    return Resources(
        stream_arn=session.client("dynamodb").describe_table(TableName=names.table)["Table"][
            "LatestStreamArn"
        ],
        events_sink_url=events_sink_url,
        events_failures_url=events_failures_url,
        bucket=names.bucket,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        table_name=names.table,
        api_key_secret_id=api_key_arn,
        signing_secret_id=signing_arn,
        hls_staging_bucket=names.hls_staging_bucket,
    )


def notify_queue(session: boto3.Session, bucket: str, queue_arn: str, notification_source: str) -> None:
    """Turn the bucket's object events on: to the queue, or to EventBridge (whose rule sends them on)."""
    if notification_source not in NOTIFICATION_SOURCES:
        raise ValueError(
            f"notification_source must be one of {NOTIFICATION_SOURCES}, got {notification_source!r}"
        )
    configuration: NotificationConfigurationTypeDef = (
        {"EventBridgeConfiguration": {}}
        if notification_source == "eventbridge"
        else {
            "QueueConfigurations": [
                {
                    "Id": "ingest",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                }
            ]
        }
    )
    session.client("s3").put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=configuration
    )


def _create_rule(session: boto3.Session, names: ResourceNames, queue_arn: str) -> None:
    """The rule infra/constructs/storage.py defines: the bucket's Object Created and Object Deleted
    events, to the queue."""
    events = session.client("events")
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created", "Object Deleted"],
        "detail": {"bucket": {"name": [names.bucket]}},
    }
    events.put_rule(Name=names.rule, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=names.rule, Targets=[{"Id": "ingest-queue", "Arn": queue_arn}])


def _create_status_event_queues(session: boto3.Session, names: ResourceNames) -> tuple[str, str]:
    """The events sink (a rule on the default bus sends it every status event, as a consumer's rule
    would), and the stream event source's on-failure queue."""
    sqs = session.client("sqs")
    sink_url, failures_url = (
        sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": str(RETENTION_SECONDS)})[
            "QueueUrl"
        ]
        for name in (names.events_sink, names.events_failures)
    )
    events = session.client("events")
    events.put_rule(Name=names.events_rule, EventPattern=json.dumps({"source": [SOURCE]}), State="ENABLED")
    events.put_targets(
        Rule=names.events_rule, Targets=[{"Id": "events-sink", "Arn": _queue_arn(session, sink_url)}]
    )
    return sink_url, failures_url


def create_table(client: DynamoDBClient, name: str) -> None:
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": table.PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": table.STATUS_INDEX_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": table.STATUS_INDEX_SORT_KEY, "AttributeType": "S"},
            {"AttributeName": table.VIDEO_NO_INDEX_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": table.LINE_INDEX_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": table.LINE_INDEX_SORT_KEY, "AttributeType": "S"},
            {"AttributeName": table.OBJECT_INDEX_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": table.OBJECT_INDEX_SORT_KEY, "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": table.PARTITION_KEY, "KeyType": "HASH"}],
        # As infra/constructs/table.py with publishStatusEvents: the events function reads it.
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        GlobalSecondaryIndexes=[
            {
                "IndexName": table.STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": table.STATUS_INDEX_PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": table.STATUS_INDEX_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": table.VIDEO_NO_INDEX,
                "KeySchema": [{"AttributeName": table.VIDEO_NO_INDEX_PARTITION_KEY, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": table.LINE_INDEX,
                "KeySchema": [
                    {"AttributeName": table.LINE_INDEX_PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": table.LINE_INDEX_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": list(table.LINE_INDEX_PROJECTED),
                },
            },
            {
                "IndexName": table.OBJECT_INDEX,
                "KeySchema": [
                    {"AttributeName": table.OBJECT_INDEX_PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": table.OBJECT_INDEX_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.TTL_ATTRIBUTE}
    )


def _queue_arn(session: boto3.Session, queue_url: str) -> str:
    attributes = session.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]
