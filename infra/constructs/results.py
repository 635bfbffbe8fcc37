"""Results beside the video (``writeResults``): an EventBridge rule for the status events to PARSE,
the results queue with its dead-letter queue, the results function, and the results bucket.

    status event (to_status PARSE) --rule--> results queue --(max 2 at once)--> results function
    results function --get_video_caption, get_audio_transcription--> memories.ai
                     --PutObject <prefix><key>.memories.json--> results bucket
                     --PutEvents "Video Results Written"--> the bus
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from functions.core import events as contract
from functions.core.metrics import Metric
from functions.core.results import RESULTS_MAX_CONCURRENCY, ResultsConfig, max_receives
from functions.core.status import PARSE
from infra.config import (
    RESULTS_BATCH_SIZE,
    RESULTS_TIMEOUT_SECONDS,
    SERVICE_NAME,
    PipelineConfig,
    ResultsRefs,
)
from infra.constructs.functions import PipelineFunctions
from infra.constructs.secrets import ProviderSecrets
from infra.constructs.storage import access_log_bucket, queue_with_dead_letter_queue
from infra.constructs.table import StatusTable

__all__ = ["RESULTS_HANDLER", "ResultsWriting"]

RESULTS_HANDLER: Final = "functions.results.handler.handler"
# Old versions of a results document (a redelivery, a re-parse) are kept this long.
NONCURRENT_VERSION_EXPIRY: Final = Duration.days(30)
PERIOD: Final = Duration.minutes(5)


class ResultsWriting(Construct):
    """Created only with ``writeResults``. ``bucket`` is the results bucket (created: private,
    SSE-S3, SSL-only, versioned, access-logged; or ``resultsBucketName``), ``rule`` the status
    events rule, ``queue`` / ``dead_letter_queue`` the jobs, ``function`` the results function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        functions: PipelineFunctions,
        table: StatusTable,
        secrets: ProviderSecrets,
        access_logs: s3.IBucket | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = self._bucket(config, access_logs)
        # The function gives up itself when the results take too long (and moves the job to the
        # dead-letter queue with its reason); SQS only moves a job that keeps crashing the function.
        self.queue, self.dead_letter_queue = queue_with_dead_letter_queue(
            self,
            function_timeout=Duration.seconds(RESULTS_TIMEOUT_SECONDS),
            max_receive_count=max_receives(ResultsConfig(results_bucket="")),
        )
        self.bus = events.EventBus.from_event_bus_name(self, "Bus", config.bus_name)
        self.rule = self._parsed_rule()
        self.function = functions.add(
            "Results",
            handler=RESULTS_HANDLER,
            description="Writes memories.ai's caption and transcription beside each parsed video.",
            timeout_seconds=RESULTS_TIMEOUT_SECONDS,
            environment=config.results_environment(
                functions.refs,
                ResultsRefs(
                    results_bucket_name=self.bucket.bucket_name,
                    queue_url=self.queue.queue_url,
                    dead_letter_queue_url=self.dead_letter_queue.queue_url,
                ),
            ),
        )
        self.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=RESULTS_BATCH_SIZE,
                # With each instance pacing its calls, this caps the account's query rate
                # (functions.core.results.CALL_INTERVAL_SECONDS).
                max_concurrency=RESULTS_MAX_CONCURRENCY,
                report_batch_item_failures=True,
            )
        )
        self._grant(config, table, secrets)

    def _parsed_rule(self) -> events.Rule:
        """Every status event to PARSE, to the results queue."""
        rule = events.Rule(
            self,
            "ParsedRule",
            description="memories-ingest status events to PARSE, to the results queue.",
            event_bus=self.bus,
            event_pattern=events.EventPattern(
                source=[contract.SOURCE],
                detail_type=[contract.STATUS_CHANGED],
                detail={"to_status": [PARSE]},
            ),
        )
        # The queue policy admits events.amazonaws.com for this rule only; events EventBridge
        # cannot deliver go to the dead-letter queue too.
        rule.add_target(targets.SqsQueue(self.queue, dead_letter_queue=self.dead_letter_queue))
        return rule

    def _bucket(self, config: PipelineConfig, access_logs: s3.IBucket | None) -> s3.IBucket:
        if config.results_bucket_name is not None:
            return s3.Bucket.from_bucket_name(self, "ResultsBucket", config.results_bucket_name)
        return s3.Bucket(
            self,
            "ResultsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs or access_log_bucket(self, "AccessLogBucket"),
            server_access_logs_prefix="results-bucket/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=NONCURRENT_VERSION_EXPIRY)],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _grant(self, config: PipelineConfig, table: StatusTable, secrets: ProviderSecrets) -> None:
        function = self.function
        # The documents only, under the prefix; nothing is ever read or deleted.
        self.documents_arn = self.bucket.arn_for_objects(f"{config.results_prefix}*")
        iam.Grant.add_to_principal(
            grantee=function, actions=["s3:PutObject"], resource_arns=[self.documents_arn]
        )
        if config.results_bucket_kms_key_arn is not None:
            iam.Grant.add_to_principal(
                grantee=function,
                actions=["kms:GenerateDataKey"],
                resource_arns=[config.results_bucket_kms_key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"}},
            )
        # Only its own event, on the one bus.
        iam.Grant.add_to_principal(
            grantee=function,
            actions=["events:PutEvents"],
            resource_arns=[self.bus.event_bus_arn],
            conditions={
                "StringEquals": {
                    "events:source": [contract.SOURCE],
                    "events:detail-type": [contract.RESULTS_WRITTEN],
                }
            },
        )
        # The record is the authority on whether the video is PARSE with that videoNo.
        iam.Grant.add_to_principal(
            grantee=function, actions=["dynamodb:GetItem"], resource_arns=[table.table.table_arn]
        )
        secrets.grant_read_api_key(function)
        # A job that failed for good is moved with its reason (the event source grants the rest,
        # ChangeMessageVisibility included).
        self.dead_letter_queue.grant_send_messages(function)

    def alarm(self, topic: sns.ITopic, metrics_namespace: str) -> list[cloudwatch.Alarm]:
        """The dead-letter queue and ``ResultsFailed``, to the pipeline's alarm topic."""
        failed = cloudwatch.Metric(
            namespace=metrics_namespace,
            metric_name=Metric.RESULTS_FAILED,
            dimensions_map={"service": SERVICE_NAME},
            period=PERIOD,
            statistic="Sum",
        )
        alarms = [
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            ).create_alarm(
                self,
                "DeadLetterQueueNotEmpty",
                alarm_description="Results jobs failed (their reason is the message attribute 'failure'): "
                "a video memories.ai does not know, results that never came, or a function that keeps "
                "failing. Fix the cause, then redrive them to the results queue.",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            failed.create_alarm(
                self,
                Metric.RESULTS_FAILED,
                alarm_description="The results function gave up on a video (see its log for the reason).",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        for alarm in alarms:
            alarm.add_alarm_action(cw_actions.SnsAction(topic))
            alarm.add_ok_action(cw_actions.SnsAction(topic))
        return alarms
