"""Status events: the status table's stream feeds the events function, which publishes each status
change to EventBridge (README "Status events"; the contract is ``functions.core.events``)."""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.adapters.dynamo import RATE_SLOT_ID
from functions.core import table as schema
from functions.core.publish import STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS
from infra.config import EVENTS_TIMEOUT_SECONDS, PipelineConfig
from infra.constructs.functions import application_log_level, pipeline_function
from infra.constructs.table import StatusTable

__all__ = ["EVENTS_HANDLER", "MAX_RECORD_AGE", "StatusEvents"]

EVENTS_HANDLER: Final = "functions.events.handler.handler"
# A stream keeps records 24 hours: a change not published by then cannot be read again anyway.
MAX_RECORD_AGE: Final = Duration.hours(24)
# Lambda's IteratorAge above this means the events lag the table by more than a few minutes.
ITERATOR_AGE_ALARM_MS: Final = 5 * 60 * 1000
_RETENTION: Final = Duration.days(14)
_PERIOD: Final = Duration.minutes(5)


class StatusEvents(Construct):
    """The events function on the table's stream, its on-failure queue and their alarms.

    The event source: batches of ``STREAM_BATCH_SIZE`` records, in order per shard (parallelization
    factor 1, so a video's changes are handled one after the other), partial batch failures (a
    change not published goes back with everything after it), a function error splits the batch
    (bisect), ``STREAM_RETRY_ATTEMPTS`` tries and ``MAX_RECORD_AGE`` at most, then a pointer to the
    records goes to ``failures`` (SSE-SQS, SSL only, 14 days), which is alarmed. Removals and the
    upload gate's item never reach the function (an event filter). The function may put events on
    ``bus`` only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        code: lambda_.Code,
        table: StatusTable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = pipeline_function(
            self,
            "Events",
            code=code,
            log_level=application_log_level(config),
            handler=EVENTS_HANDLER,
            description="Publishes every status change of a video to EventBridge.",
            timeout_seconds=EVENTS_TIMEOUT_SECONDS,
            environment=config.events_environment(),
        )
        self.bus = events.EventBus.from_event_bus_name(self, "Bus", config.bus_name)
        self.bus.grant_put_events_to(self.function)
        self.failures = sqs.Queue(
            self,
            "Failures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self._read_stream(table)
        self.alarms = self._alarms()

    def _read_stream(self, table: StatusTable) -> None:
        """The table's stream, minus removals and the gate item, with retries and a failure queue."""
        self.function.add_event_source(
            event_sources.DynamoEventSource(
                table.table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=STREAM_BATCH_SIZE,
                parallelization_factor=1,
                report_batch_item_failures=True,
                bisect_batch_on_error=True,
                retry_attempts=STREAM_RETRY_ATTEMPTS,
                max_record_age=MAX_RECORD_AGE,
                on_failure=event_sources.SqsDlq(self.failures),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "eventName": ["INSERT", "MODIFY"],
                            "dynamodb": {
                                "Keys": {schema.PARTITION_KEY: {"S": [{"anything-but": [RATE_SLOT_ID]}]}}
                            },
                        }
                    )
                ],
            )
        )

    def _alarms(self) -> list[cloudwatch.Alarm]:
        """Changes that were never published, and publishing that lags behind."""
        return [
            cloudwatch.Alarm(
                self,
                "FailuresNotEmpty",
                metric=self.failures.metric_approximate_number_of_messages_visible(
                    period=_PERIOD, statistic="Maximum"
                ),
                alarm_description=(
                    "Status changes were not published after every retry (the statuses themselves are "
                    "in the table). Each message names the stream shard and sequence numbers; see the "
                    "events function's logs for the cause (docs/deploy.md, Status events)."
                ),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "Delayed",
                metric=self.function.metric(
                    "IteratorAge", period=_PERIOD, statistic="Maximum", unit=cloudwatch.Unit.MILLISECONDS
                ),
                alarm_description=(
                    "Status events lag the status table by more than 5 minutes: the events function "
                    "is failing to publish (EventBridge throttling or an outage) and retrying."
                ),
                threshold=ITERATOR_AGE_ALARM_MS,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]

    def notify(self, topic: sns.ITopic) -> None:
        """Alarm and recovery of this construct's alarms to ``topic`` (the pipeline's alarm topic)."""
        action = cw_actions.SnsAction(topic)
        for alarm in self.alarms:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
