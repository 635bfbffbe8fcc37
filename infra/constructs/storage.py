"""The source bucket (created, or an existing one), the ingest queue with its dead-letter queue, and
the S3 -> SQS notifications between them (objects created, and objects removed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_s3 import IBucketRef
from constructs import Construct

__all__ = ["MAX_RECEIVE_COUNT", "IngestStorage", "access_log_bucket", "queue_with_dead_letter_queue"]

# Rate limiting does not count towards this: ingest defers a rate-limited (or paused) message by
# sending a copy with a delay and deleting the original, so every receive here is a real attempt
# that failed. Five failures of the same object mean something only an operator can fix.
MAX_RECEIVE_COUNT: Final = 5
# The longest SQS allows. A message keeps its original enqueue time when it moves to the DLQ, so
# the DLQ cannot usefully keep it any longer than the source queue.
RETENTION: Final = Duration.days(14)
# Server access logs are for investigations, not an archive.
ACCESS_LOG_EXPIRY: Final = Duration.days(90)
# A presigned URL names the object version its record is for; an overwritten or deleted version
# stays fetchable this long (longer than any presigned URL lives), then S3 expires it.
NONCURRENT_VERSION_EXPIRY: Final = Duration.days(14)
# Lambda's guidance for SQS event sources: visibility timeout at least six times the function timeout.
VISIBILITY_TIMEOUT_FACTOR: Final = 6


class IngestStorage(Construct):
    """Objects created in ``bucket`` (under any of ``prefixes``, or anywhere when there are none)
    become messages on ``queue``; messages that fail ``MAX_RECEIVE_COUNT`` times move to
    ``dead_letter_queue``.

    With ``existing_bucket_name`` the stack neither creates nor configures a bucket: it only adds
    the notifications (through CDK's BucketNotifications custom resource, which keeps the bucket's
    other notification settings). ``access_log_bucket`` is then None.

    With ``notification_source="eventbridge"`` no S3 notification is configured: an EventBridge
    rule on the default bus sends S3's "Object Created" events for the bucket (and the prefixes) to
    the queue. The bucket the stack creates has EventBridge delivery turned on; an existing bucket's
    owner turns it on (one bucket setting, shared by every consumer), the stack never touches it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ingest_timeout: Duration,
        prefixes: Sequence[str] = (),
        existing_bucket_name: str | None = None,
        notification_source: str = "s3",
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefixes = tuple(prefixes)
        self.queue, self.dead_letter_queue = queue_with_dead_letter_queue(
            self, function_timeout=ingest_timeout, max_receive_count=MAX_RECEIVE_COUNT
        )

        self.access_log_bucket, self.bucket = self._source_bucket(existing_bucket_name, notification_source)
        self.rule: events.Rule | None = None
        if notification_source == "eventbridge":
            self.rule = self._eventbridge_rule()
        else:
            self._notify_queue()

    def _source_bucket(
        self, existing_bucket_name: str | None, notification_source: str
    ) -> tuple[s3.Bucket | None, s3.IBucket]:
        """The bucket drops land in (the one named, or a new one) and its access-log bucket."""
        if existing_bucket_name is not None:
            return None, s3.Bucket.from_bucket_name(self, "SourceBucket", existing_bucket_name)
        logs = access_log_bucket(self, "AccessLogBucket")
        bucket = s3.Bucket(
            self,
            "SourceBucket",
            # SSE-S3 rather than KMS: the provider fetches objects through presigned URLs, which
            # with SSE-KMS would also need kms:Decrypt for the signer and a KMS request per
            # fetch, for no protection the bucket policy and block-public-access do not give.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=logs,
            server_access_logs_prefix="source-bucket/",
            # Versioned: each upload is its own version, so the provider fetches exactly the bytes
            # the record stands for, even if the key is overwritten meanwhile.
            versioned=True,
            event_bridge_enabled=notification_source == "eventbridge",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=NONCURRENT_VERSION_EXPIRY,
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        return logs, bucket

    def _notify_queue(self) -> None:
        """S3 event notifications of the bucket to the ingest queue."""
        destination = _QueueDestination(self.queue)
        # One notification per prefix; S3 filters cannot express "any of these prefixes". Suffixes
        # are not filtered here: S3 matches them case-sensitively, ingest does not.
        # Removals mark records DELETED (functions.core.deletes).
        for event in (s3.EventType.OBJECT_CREATED, s3.EventType.OBJECT_REMOVED):
            for prefix in self.prefixes:
                self.bucket.add_event_notification(
                    event, destination, s3.NotificationKeyFilter(prefix=prefix)
                )
            if not self.prefixes:
                self.bucket.add_event_notification(event, destination)

    def _eventbridge_rule(self) -> events.Rule:
        obj: dict[str, object] = {}
        if self.prefixes:
            obj["key"] = [{"prefix": prefix} for prefix in self.prefixes]
        rule = events.Rule(
            self,
            "ObjectEventsRule",
            description="S3 Object Created and Object Deleted events of the source bucket, to the ingest queue.",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created", "Object Deleted"],
                detail={"bucket": {"name": [self.bucket.bucket_name]}, **({"object": obj} if obj else {})},
            ),
        )
        # The target's queue policy admits events.amazonaws.com for this rule's ARN only.
        rule.add_target(targets.SqsQueue(self.queue))
        return rule

    @property
    def notified_object_arns(self) -> list[str]:
        """The ARNs of every object whose creation can reach the queue, and of no other."""
        return [self.bucket.arn_for_objects(f"{prefix}*") for prefix in self.prefixes] or [
            self.bucket.arn_for_objects("*")
        ]


def queue_with_dead_letter_queue(
    scope: Construct, *, function_timeout: Duration, max_receive_count: int
) -> tuple[sqs.Queue, sqs.Queue]:
    """``Queue`` for a function that runs up to ``function_timeout``, and its ``DeadLetterQueue``
    after ``max_receive_count`` receives: both SSE-SQS, SSL only, kept the longest SQS allows."""
    dead_letter_queue = sqs.Queue(
        scope,
        "DeadLetterQueue",
        # SSE-SQS rather than KMS: S3 and EventBridge can only send to a KMS-encrypted queue through
        # a customer-managed key whose policy admits them (1 USD a month plus requests), and nothing
        # here needs key-level audit or revocation.
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
    )
    queue = sqs.Queue(
        scope,
        "Queue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
        visibility_timeout=Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * function_timeout.to_seconds()),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letter_queue, max_receive_count=max_receive_count),
    )
    return queue, dead_letter_queue


def access_log_bucket(scope: Construct, construct_id: str) -> s3.Bucket:
    """A bucket for S3 server access logs, kept ``ACCESS_LOG_EXPIRY``."""
    return s3.Bucket(
        scope,
        construct_id,
        # S3 server access logging only delivers to buckets encrypted with SSE-S3.
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        lifecycle_rules=[s3.LifecycleRule(expiration=ACCESS_LOG_EXPIRY)],
        removal_policy=RemovalPolicy.RETAIN,
    )


@jsii.implements(s3.IBucketNotificationDestination)
class _QueueDestination:
    """``s3_notifications.SqsDestination``, but S3 may only send for this bucket *and* this account:
    bucket names are global, so a deleted bucket's name taken by another account must not pass."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(self, scope: Construct, bucket: IBucketRef) -> s3.BucketNotificationDestinationConfig:
        self._queue.grant_send_messages(
            iam.ServicePrincipal(
                "s3.amazonaws.com",
                conditions={
                    "ArnLike": {"aws:SourceArn": bucket.bucket_ref.bucket_arn},
                    "StringEquals": {"aws:SourceAccount": Stack.of(scope).account},
                },
            )
        )
        policy = self._queue.node.try_find_child("Policy")
        return s3.BucketNotificationDestinationConfig(
            arn=self._queue.queue_arn,
            type=s3.BucketNotificationDestinationType.QUEUE,
            dependencies=[policy] if policy is not None else None,
        )
