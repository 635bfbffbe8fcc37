"""The pipeline's stack: composes the constructs, states its outputs, and acknowledges the cdk-nag
findings that are deliberate (each with the reason, next to the resource it concerns)."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnOutput, Duration, Stack, Validations
from aws_cdk import aws_lambda as lambda_
from constructs import Construct, IConstruct

from infra.config import INGEST_SCHEDULE, INGEST_TIMEOUT_SECONDS, SERVICE_NAME, PipelineConfig
from infra.constructs.callback_api import CallbackApi
from infra.constructs.events import StatusEvents
from infra.constructs.functions import PipelineFunctions
from infra.constructs.hls_staging import HlsStaging
from infra.constructs.monitoring import PipelineMonitoring
from infra.constructs.results import ResultsWriting
from infra.constructs.schedule import FunctionSchedule
from infra.constructs.secrets import ProviderSecrets
from infra.constructs.storage import IngestStorage
from infra.constructs.table import StatusTable

__all__ = ["NAG_PLUGIN", "MemoriesIngestStack", "acknowledge"]

NAG_PLUGIN = "AwsSolutions"
# The events function's stream event source: CDK's DynamoEventSource grants ListStreams on '*'.
_LIST_STREAMS_REASON = (
    " dynamodb:ListStreams, which the stream event source mapping calls with the role, has no "
    "resource-level permissions either; the stream itself is read on its own ARN only."
)


class MemoriesIngestStack(Stack):
    """S3 -> SQS -> ingest -> memories.ai; callback API -> status table; scheduled reconcile; alarms."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PipelineConfig, code: lambda_.Code
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="memories.ai ingest pipeline: S3 uploads submitted to memories.ai, status tracked in DynamoDB",
        )
        self._data(config)
        self._functions(config, code)
        self._features(config, code)
        self._monitoring(config)
        self._outputs()
        self._acknowledge_findings()

    def _data(self, config: PipelineConfig) -> None:
        """The buckets, queues, table and secrets."""
        self.storage = IngestStorage(
            self,
            "Storage",
            ingest_timeout=Duration.seconds(INGEST_TIMEOUT_SECONDS),
            prefixes=config.prefixes,
            existing_bucket_name=config.existing_bucket_name,
            notification_source=config.notification_source,
        )
        self.hls_staging = HlsStaging(self, "HlsStaging", access_log_bucket=self.storage.access_log_bucket)
        self.status_table = StatusTable(
            self,
            "StatusTable",
            destroy_on_delete=config.destroy_table_on_delete,
            stream=config.publish_status_events,
        )
        self.secrets = ProviderSecrets(
            self,
            "Secrets",
            api_key_secret_name=config.api_key_secret_name,
            api_key_secret_arn=config.api_key_secret_arn,
        )

    def _functions(self, config: PipelineConfig, code: lambda_.Code) -> None:
        """The API and the functions behind it, on it and on their schedules."""
        self.callback_api = CallbackApi(
            self,
            "CallbackApi",
            throttle_rate=config.api_throttle_rate,
            throttle_burst=config.api_throttle_burst,
        )
        self.functions = PipelineFunctions(
            self,
            "Functions",
            config=config,
            code=code,
            storage=self.storage,
            table=self.status_table,
            secrets=self.secrets,
            callback_base_url=self.callback_api.url,
            hls_staging=self.hls_staging,
        )
        self.callback_api.route_to(self.functions.callback)
        self.callback_api.route_status_to(self.functions.status_api)
        # Every minute the ingest function submits what is due in the line (new drops also go at
        # once when the rate allows); the schedule is what keeps a line moving at the account's rate.
        self.ingest_schedule = FunctionSchedule(
            self,
            "IngestSchedule",
            handler=self.functions.ingest,
            schedule=INGEST_SCHEDULE,
            description="Submits the videos waiting in line to memories.ai at the account's rate.",
        )
        self.reconcile_schedule = FunctionSchedule(
            self,
            "ReconcileSchedule",
            handler=self.functions.reconcile,
            schedule=config.reconcile_schedule,
            description="Runs the memories.ai reconciler.",
        )

    def _features(self, config: PipelineConfig, code: lambda_.Code) -> None:
        """What context turns on or off: status events, results beside the videos."""
        self.status_events = (
            StatusEvents(self, "StatusEvents", config=config, code=code, table=self.status_table)
            if config.publish_status_events
            else None
        )
        # Before monitoring: the results function is alarmed with the others.
        self.results: ResultsWriting | None = None
        if config.write_results:
            self.results = ResultsWriting(
                self,
                "Results",
                config=config,
                functions=self.functions,
                table=self.status_table,
                secrets=self.secrets,
                access_logs=self.storage.access_log_bucket,
            )

    def _monitoring(self, config: PipelineConfig) -> None:
        """Alarms and the dashboard, over everything above."""
        self.monitoring = PipelineMonitoring(
            self,
            "Monitoring",
            metrics_namespace=config.metrics_namespace,
            service_name=SERVICE_NAME,
            functions=self.all_functions,
            queue=self.storage.queue,
            dead_letter_queue=self.storage.dead_letter_queue,
            api=self.callback_api.api,
            alarm_email=config.alarm_email,
        )
        if self.status_events is not None:
            self.status_events.notify(self.monitoring.topic)
        if self.results is not None:
            self.results.alarm(self.monitoring.topic, config.metrics_namespace)

    @property
    def all_functions(self) -> dict[str, lambda_.Function]:
        functions = dict(self.functions.all)
        if self.status_events is not None:
            functions["Events"] = self.status_events.function
        return functions

    def _outputs(self) -> None:
        CfnOutput(self, "SourceBucketName", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "HlsStagingBucketName", value=self.hls_staging.bucket.bucket_name)
        CfnOutput(self, "CallbackApiUrl", value=self.callback_api.url)
        CfnOutput(
            self,
            "StatusApiUrl",
            description="GET <url>/{video_id} or <url>?bucket=B&key=K, signed with SigV4 (service execute-api).",
            value=self.callback_api.status_url,
        )
        CfnOutput(
            self,
            "StatusApiInvokeArn",
            description="Grant execute-api:Invoke on this resource to whoever may read video statuses.",
            value=self.callback_api.status_invoke_arn,
        )
        CfnOutput(self, "StatusTableName", value=self.status_table.table.table_name)
        CfnOutput(self, "ApiKeySecretArn", value=self.secrets.api_key.secret_arn)
        CfnOutput(self, "IngestQueueUrl", value=self.storage.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=self.storage.dead_letter_queue.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        if self.status_events is not None:
            CfnOutput(self, "StatusEventBusName", value=self.status_events.bus.event_bus_name)
            CfnOutput(self, "StatusEventFailuresQueueUrl", value=self.status_events.failures.queue_url)
        if self.results is not None:
            CfnOutput(self, "ResultsBucketName", value=self.results.bucket.bucket_name)
            CfnOutput(self, "ResultsDeadLetterQueueUrl", value=self.results.dead_letter_queue.queue_url)
        CfnOutput(
            self,
            "PutApiKeyCommand",
            description="Stores the memories.ai API key from memories-api-key.txt (a file holding only the "
            "key; delete it afterwards), or set the secret in the console; run it once after the first deploy.",
            value=self.secrets.put_value_command,
        )

    def _acknowledge_findings(self) -> None:
        """The AwsSolutions findings this design accepts. Each reason names the resource it is about."""
        self._acknowledge_functions()
        self._acknowledge_object_grants()
        self._acknowledge_secrets()
        self._acknowledge_api()
        self._acknowledge_cdk_internals()

    def _acknowledge_functions(self) -> None:
        for name, function in self.all_functions.items():
            role = function.role
            assert role is not None  # PipelineFunctions gives every function an explicit role
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                f"{name}Role: X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level "
                "permissions, so active tracing can only be granted on Resource '*'."
                + (_LIST_STREAMS_REASON if name == "Events" else ""),
            )
            acknowledge(
                function,
                "AwsSolutions-L1",
                f"{name} function: python3.13 is pinned on purpose: the bundle's wheels are built for cp313 "
                "(infra.bundling.LAMBDA_TARGET) and the code is tested on it; move both together.",
            )
        if self.status_events is not None:
            acknowledge(
                self.status_events.failures,
                "AwsSolutions-SQS3",
                "StatusEvents/Failures is itself the dead-letter destination of the events function's "
                "stream event source (on-failure records); a queue behind it would only hold the same.",
            )

    def _acknowledge_object_grants(self) -> None:
        ingest_role = self.functions.ingest.role
        assert ingest_role is not None
        for arn in self.storage.notified_object_arns:
            acknowledge(
                ingest_role,
                f"AwsSolutions-IAM5[Resource::{self._nag_text(arn)}]",
                "IngestRole: s3:GetObject on the source bucket's objects under the notified prefixes; the "
                "keys are only known when uploads arrive, so the object part must be a wildcard.",
            )

        self._acknowledge_hls_staging(ingest_role)
        if self.results is not None:
            results_role = self.results.function.role
            assert results_role is not None
            acknowledge(
                results_role,
                f"AwsSolutions-IAM5[Resource::{self._nag_text(self.results.documents_arn)}]",
                "ResultsRole: s3:PutObject (only) on the results bucket's keys under resultsPrefix; each "
                "document is named after a video's key, known only when it is parsed, so the object part "
                "must be a wildcard.",
            )

    def _acknowledge_secrets(self) -> None:
        secrets = self.secrets
        if secrets.created_api_key is not None:
            acknowledge(
                secrets.created_api_key,
                "AwsSolutions-SMG4",
                "Secrets/ApiKey holds the memories.ai API key, which is issued in the memories.ai console "
                "and has no API to rotate it; the operator replaces it with put-secret-value.",
            )
        acknowledge(
            secrets.signing_key,
            "AwsSolutions-SMG4",
            "Secrets/CallbackSigningKey signs the callback URLs given to memories.ai; it is rotated by hand "
            "(put-secret-value, docs/deploy.md) and the callback function also verifies with AWSPREVIOUS, "
            "so pending URLs survive one rotation; a rotation Lambda would add nothing the provider can use.",
        )

    def _acknowledge_api(self) -> None:
        api = self.callback_api
        stage = api.api.deployment_stage
        acknowledge(
            stage,
            "AwsSolutions-APIG6",
            "CallbackApi stage: execution logs would record each request's query string, which carries "
            "the per-video callback token; JSON access logs without the query string are written instead.",
        )
        acknowledge(
            stage,
            "AwsSolutions-APIG3",
            "CallbackApi stage: one POST route authenticated by per-video HMAC tokens, with stage "
            "throttling and a body schema, and GET status routes that only IAM-signed requests reach; a "
            "WAF web ACL would add monthly cost without adding protection.",
        )
        for method in api.methods:
            for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                acknowledge(
                    method,
                    rule,
                    "CallbackApi POST /callbacks/{video_id}: memories.ai sends no credentials, so no IAM, "
                    "Cognito or API-key authorization is possible; the per-video HMAC token in the query "
                    "string, verified by the callback function, is the authentication.",
                )

        for method in api.status_methods:
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "CallbackApi GET /videos routes: IAM (SigV4) authorization; the callers are systems with "
                "AWS credentials (the ones that drop files), not end users of a Cognito user pool.",
            )

    def _acknowledge_cdk_internals(self) -> None:
        for child in self.node.children:
            # CDK's singleton that applies the S3 notification configuration at deploy time.
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(
                    child,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]",
                    "BucketNotificationsHandler is aws-cdk-lib's own deploy-time function that writes the "
                    "bucket's notification configuration; its role's managed policy (log writing only) "
                    "is fixed by aws-cdk-lib.",
                )

    def _acknowledge_hls_staging(self, ingest_role: IConstruct) -> None:
        acknowledge(
            ingest_role,
            f"AwsSolutions-IAM5[Resource::{self._nag_text(self.hls_staging.objects_arn)}]",
            "IngestRole: s3:PutObject and s3:GetObject on the HLS staging bucket's hls/ prefix; each video's "
            "derived playlists get keys named after its id, known only at its turn.",
        )
        if self.storage.access_log_bucket is None:
            acknowledge(
                self.hls_staging.bucket,
                "AwsSolutions-S1",
                "HlsStaging bucket: with an existing source bucket the stack has no access-log bucket; the "
                "staging bucket holds only derived playlists that expire, written by the ingest role alone.",
            )

    def _nag_text(self, value: str) -> str:
        """A token as cdk-nag prints it in finding ids, e.g. ``<TableC43DA315.Arn>/index/*``."""
        return _render_intrinsic(self.resolve(value))


def _render_intrinsic(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_render_intrinsic(part) for part in parts)
    raise ValueError(f"cannot render {value!r} as cdk-nag does")


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one AwsSolutions finding on ``construct`` and everything under it."""
    # "<plugin>::<rule>" is the id CDK's validation report asks for; without the prefix CDK files
    # the acknowledgement under its legacy "Annotation::" namespace.
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{NAG_PLUGIN}::{rule_id}", reason=reason))
