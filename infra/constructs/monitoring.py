"""Alarms to an encrypted SNS topic, and one dashboard for the pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.core.metrics import Metric

__all__ = [
    "ALARMED_METRICS",
    "CALLBACKS_METRIC",
    "DASHBOARD_METRICS",
    "UNCONFIRMED_ALARM_THRESHOLD",
    "UNCONFIRMED_METRIC",
    "PipelineMonitoring",
]

PERIOD: Final = Duration.minutes(5)
# Powertools EMF metrics carry one dimension, the service name.
SERVICE_DIMENSION: Final = "service"

# Custom metrics that need a person (metric -> what to do), each alarmed at >= 1 in a period.
ALARMED_METRICS: Final[Mapping[Metric, str]] = {
    Metric.PROVIDER_AUTH_FAILURE: "memories.ai refused the API key (0401/0403/9009). Set the right key with the "
    "stack's PutApiKeyCommand output; the line resumes by itself.",
    Metric.PROVIDER_BALANCE_EXHAUSTED: "memories.ai reports no balance left (0402). Top the account up; the line "
    "resumes by itself.",
    Metric.VIDEOS_STUCK: "Videos have waited longer than stuckAfterSeconds for the provider; see the status "
    "table's by-status index.",
    Metric.VIDEOS_UNCERTAIN_TOO_LONG: "Videos UNCERTAIN for over an hour: memories.ai lists an unparsed upload "
    "that may be theirs (maybe billed). `memories-ingest list --status UNCERTAIN`; resubmit --force "
    "only once the provider's folder shows it is not theirs.",
    Metric.CALLBACKS_FORGED: "The callback API received tokens no signing key made: someone is guessing or "
    "replaying URLs, or the signing key was rotated twice while videos waited. Nothing was changed; "
    "see the callback function's logs and the API access logs (source IPs).",
}
# Callbacks whose claim get_metadata did not confirm. One now and then is a race with the provider's
# own status; this many in a period means someone holding callback URLs is posting to them.
UNCONFIRMED_METRIC: Final = Metric.CALLBACKS_UNCONFIRMED
UNCONFIRMED_ALARM_THRESHOLD: Final = 5
# The pipeline's flow, on the dashboard (service dimension only).
DASHBOARD_METRICS: Final = (
    Metric.VIDEOS_SUBMITTED,
    Metric.VIDEOS_REJECTED,
    Metric.SUBMIT_DEFERRED,
    Metric.SUBMIT_UNCERTAIN,
)
# Emitted with a second dimension, `result`: drawn with a SEARCH, one line per result.
CALLBACKS_METRIC: Final = Metric.CALLBACKS_RECEIVED


class PipelineMonitoring(Construct):
    """Every alarm notifies ``topic`` (and ``alarm_email`` when given).

    The topic is encrypted with a customer-managed key because CloudWatch cannot publish to a topic
    encrypted with the AWS-managed aws/sns key: its key policy cannot admit cloudwatch.amazonaws.com.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        metrics_namespace: str,
        service_name: str,
        functions: Mapping[str, lambda_.IFunction],
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        api: apigw.RestApi,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._namespace, self._service = metrics_namespace, service_name
        self.topic_key, self.topic = self._topic(alarm_email)
        self._action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        self._resource_alarms(functions, dead_letter_queue, api)
        self._metric_alarms()
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(24))
        self._flow_widgets()
        self._resource_widgets(functions, queue, dead_letter_queue)

    def _topic(self, alarm_email: str | None) -> tuple[kms.Key, sns.Topic]:
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the memories.ai ingest pipeline's alarm topic.",
            enable_key_rotation=True,
            # It only protects notifications in flight; nothing stored depends on it.
            removal_policy=RemovalPolicy.DESTROY,
        )
        stack = Stack.of(self)
        key.grant(
            # Only this account's alarms: CloudWatch acts for every account (confused deputy).
            iam.ServicePrincipal(
                "cloudwatch.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                },
            ),
            "kms:Decrypt",
            "kms:GenerateDataKey*",
        )
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="memories.ai ingest alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if alarm_email is not None:
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        return key, topic

    def _resource_alarms(
        self, functions: Mapping[str, lambda_.IFunction], dead_letter_queue: sqs.IQueue, api: apigw.RestApi
    ) -> None:
        self._alarm(
            "DeadLetterQueueNotEmpty",
            dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            ),
            "Messages failed ingest repeatedly and are in the dead-letter queue. Read one, fix the cause, "
            "then redrive them to the ingest queue.",
        )
        for name, function in functions.items():
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                f"The {name.lower()} function failed; see its log group.",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=PERIOD, statistic="Sum"),
                f"The {name.lower()} function was throttled; check the account's Lambda concurrency.",
            )
        self._alarm(
            "CallbackApiServerErrors",
            api.metric_server_error(period=PERIOD, statistic="Sum"),
            "The callback API answered 5XX; callbacks may be lost until reconcile picks the videos up.",
        )

    def _custom(self, metric_name: str) -> cloudwatch.Metric:
        """One of the functions' own metrics (``functions.core.metrics``), summed per period."""
        return cloudwatch.Metric(
            namespace=self._namespace,
            metric_name=metric_name,
            dimensions_map={SERVICE_DIMENSION: self._service},
            period=PERIOD,
            statistic="Sum",
        )

    def _metric_alarms(self) -> None:
        for metric_name, advice in ALARMED_METRICS.items():
            self._alarm(metric_name, self._custom(metric_name), advice)
        self._alarm(
            UNCONFIRMED_METRIC,
            self._custom(UNCONFIRMED_METRIC),
            f"At least {UNCONFIRMED_ALARM_THRESHOLD} callbacks in 5 minutes claimed a status memories.ai's "
            "get_metadata does not report (nothing was changed): a callback URL may have leaked. See the "
            "callback function's logs.",
            threshold=UNCONFIRMED_ALARM_THRESHOLD,
        )

    def _flow_widgets(self) -> None:
        callbacks_by_result = cloudwatch.MathExpression(
            expression=(
                f'SEARCH(\'{{"{self._namespace}",result,{SERVICE_DIMENSION}}} '
                f'MetricName="{CALLBACKS_METRIC}" {SERVICE_DIMENSION}="{self._service}"\', '
                f"'Sum', {int(PERIOD.to_seconds())})"
            ),
            label=CALLBACKS_METRIC,
            period=PERIOD,
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Videos",
                left=[self._custom(name) for name in DASHBOARD_METRICS],
                right=[callbacks_by_result],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Provider problems", left=[self._custom(name) for name in ALARMED_METRICS], width=12
            ),
        )

    def _resource_widgets(
        self, functions: Mapping[str, lambda_.IFunction], queue: sqs.IQueue, dead_letter_queue: sqs.IQueue
    ) -> None:
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Ingest queue depth",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")
                ],
                right=[queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queue depth",
                left=[
                    dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum"
                    )
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function errors",
                left=[f.metric_errors(period=PERIOD, statistic="Sum", label=n) for n, f in functions.items()],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function duration (p99)",
                left=[
                    f.metric_duration(period=PERIOD, statistic="p99", label=n) for n, f in functions.items()
                ],
                width=12,
            ),
        )

    def _alarm(self, name: str, metric: cloudwatch.Metric, description: str, threshold: int = 1) -> None:
        alarm = metric.create_alarm(
            self,
            name,
            alarm_description=description,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            # No data means nothing happened: every alarm here counts bad events.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
