"""The Lambda functions, each with its own role holding only what its code calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.core import table as schema
from infra.config import (
    CALLBACK_TIMEOUT_SECONDS,
    INGEST_TIMEOUT_SECONDS,
    RECONCILE_TIMEOUT_SECONDS,
    STATUS_API_TIMEOUT_SECONDS,
    PipelineConfig,
    RuntimeRefs,
)
from infra.constructs.hls_staging import HlsStaging
from infra.constructs.secrets import ProviderSecrets
from infra.constructs.storage import IngestStorage
from infra.constructs.table import StatusTable

__all__ = [
    "INGEST_HANDLER",
    "RECORD_ACTIONS",
    "STATUS_API_HANDLER",
    "PipelineFunctions",
    "application_log_level",
    "pipeline_function",
]

INGEST_HANDLER: Final = "functions.ingest.handler.handler"
CALLBACK_HANDLER: Final = "functions.callback.handler.handler"
RECONCILE_HANDLER: Final = "functions.reconcile.handler.handler"
STATUS_API_HANDLER: Final = "functions.status_api.handler.handler"
# The bundle's wheels are cp313 / aarch64 (infra.bundling.LAMBDA_TARGET): these must match it.
RUNTIME: Final = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
MEMORY_MB: Final = 256
LOG_RETENTION: Final = logs.RetentionDays.ONE_MONTH

# What functions/adapters/dynamo.py calls to read and write one record (and the rate-limit slot):
# GetItem, and PutItem with a condition (create and save). Index reads are granted per index, Query only.
RECORD_ACTIONS: Final = ("dynamodb:GetItem", "dynamodb:PutItem")

# Lambda's advanced logging levels for the Python levels PipelineConfig accepts.
_APPLICATION_LOG_LEVEL: Final = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
}


class PipelineFunctions(Construct):
    """``ingest`` (fed by the queue), ``callback`` and ``status_api`` (behind the API) and
    ``reconcile`` (scheduled).

    Each function's environment is exactly what its settings class reads (``PipelineConfig``
    builds it); the API key is never in it, only the secret's id.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        code: lambda_.Code,
        storage: IngestStorage,
        table: StatusTable,
        secrets: ProviderSecrets,
        callback_base_url: str,
        hls_staging: HlsStaging,
    ) -> None:
        super().__init__(scope, construct_id)
        log_level = application_log_level(config)
        self._code = code
        self._log_level = log_level
        # Functions other constructs add (``add``): alarmed and acknowledged like these.
        self._added: dict[str, lambda_.Function] = {}
        self.refs = RuntimeRefs(
            table_name=table.table.table_name,
            source_bucket_name=storage.bucket.bucket_name,
            callback_base_url=callback_base_url,
            api_key_secret_id=secrets.api_key_secret_id,
            signing_secret_id=secrets.signing_key.secret_arn,
            hls_staging_bucket_name=hls_staging.bucket.bucket_name,
        )

        self.ingest = self._ingest(config, storage, table, secrets, hls_staging)
        self.callback = self._callback(config, table, secrets)
        self.reconcile = self._reconcile(config, table, secrets)
        self.status_api = self._status_api(config, table)

    @property
    def all(self) -> dict[str, lambda_.Function]:
        return {
            "Ingest": self.ingest,
            "Callback": self.callback,
            "Reconcile": self.reconcile,
            "StatusApi": self.status_api,
            **self._added,
        }

    def _ingest(
        self,
        config: PipelineConfig,
        storage: IngestStorage,
        table: StatusTable,
        secrets: ProviderSecrets,
        hls_staging: HlsStaging,
    ) -> lambda_.Function:
        """Fed by the ingest queue; reads the source bucket, writes the staging bucket, owns the line."""
        function = pipeline_function(
            self,
            "Ingest",
            code=self._code,
            log_level=self._log_level,
            handler=INGEST_HANDLER,
            description="Submits each new video in the source bucket to memories.ai.",
            timeout_seconds=INGEST_TIMEOUT_SECONDS,
            environment=config.ingest_environment(self.refs),
        )
        function.add_event_source(
            event_sources.SqsEventSource(
                storage.queue,
                batch_size=config.ingest_batch_size,
                # The provider's rate limit is per account: a small, fixed number of instances keeps
                # the shared upload slot uncontended and stops Lambda from scaling into throttling.
                max_concurrency=config.ingest_max_concurrency,
                report_batch_item_failures=True,
            )
        )
        _grant_source_bucket(function, config, storage)
        # Derived HLS playlists: written, and presigned for the provider (functions.core.hls). Their
        # segments are found with the ListBucketVersions grant and read with GetObject.
        hls_staging.grant_ingest(function)
        # Ingest reads and writes records, moves the shared upload gate item (UpdateItem), and reads
        # the line; it sends no messages (a waiting video waits in its record, not in the queue).
        _grant_table(
            table,
            function,
            record_actions=(*RECORD_ACTIONS, "dynamodb:UpdateItem"),
            query_indexes=(schema.LINE_INDEX,),
        )
        secrets.grant_read_api_key(function)
        secrets.grant_read_signing_key(function)
        return function

    def _callback(
        self, config: PipelineConfig, table: StatusTable, secrets: ProviderSecrets
    ) -> lambda_.Function:
        """Behind the API: confirms a callback with the provider and moves its record forward."""
        function = pipeline_function(
            self,
            "Callback",
            code=self._code,
            log_level=self._log_level,
            handler=CALLBACK_HANDLER,
            description="Records memories.ai status callbacks for videos with a valid token.",
            timeout_seconds=CALLBACK_TIMEOUT_SECONDS,
            environment=config.callback_environment(self.refs),
        )
        # A confirmed status is one conditional UpdateItem (StatusStore.advance); a record without a
        # videoNo yet may only take one no other record holds (the videoNo index).
        _grant_table(
            table,
            function,
            record_actions=(*RECORD_ACTIONS, "dynamodb:UpdateItem"),
            query_indexes=(schema.VIDEO_NO_INDEX,),
        )
        secrets.grant_read_signing_key(function)
        # The callback confirms each status with the provider's get_metadata before applying it.
        secrets.grant_read_api_key(function)
        return function

    def _reconcile(
        self, config: PipelineConfig, table: StatusTable, secrets: ProviderSecrets
    ) -> lambda_.Function:
        """Scheduled: asks the provider about videos whose callback has not come."""
        function = pipeline_function(
            self,
            "Reconcile",
            code=self._code,
            log_level=self._log_level,
            handler=RECONCILE_HANDLER,
            description="Asks memories.ai about videos whose callback has not arrived.",
            timeout_seconds=RECONCILE_TIMEOUT_SECONDS,
            environment=config.reconcile_environment(self.refs),
            # A failed run is not retried: the next scheduled run does the same work.
            retry_attempts=0,
        )
        # The reconciler only writes records it found through the status index (no GetItem); it
        # counts the line, and asks the videoNo index who holds a video the provider lists. It
        # resubmits by putting a record back in line, never by calling upload_url itself.
        _grant_table(
            table,
            function,
            record_actions=("dynamodb:PutItem",),
            query_indexes=(schema.STATUS_INDEX, schema.LINE_INDEX, schema.VIDEO_NO_INDEX),
        )
        secrets.grant_read_api_key(function)
        return function

    def _status_api(self, config: PipelineConfig, table: StatusTable) -> lambda_.Function:
        """Behind the API (IAM): reads records, nothing else."""
        function = pipeline_function(
            self,
            "StatusApi",
            code=self._code,
            log_level=self._log_level,
            handler=STATUS_API_HANDLER,
            description="Answers IAM-signed status reads of videos (GET /videos).",
            timeout_seconds=STATUS_API_TIMEOUT_SECONDS,
            environment=config.status_api_environment(self.refs),
        )
        # Read-only: a record (GetItem), an object's versions (the by-object index) and, for a
        # waiting video, its place in the line (a count on the line index). No secret, no write.
        _grant_table(
            table,
            function,
            record_actions=("dynamodb:GetItem",),
            query_indexes=(schema.OBJECT_INDEX, schema.LINE_INDEX),
        )
        return function

    def add(
        self, name: str, *, handler: str, description: str, timeout_seconds: int, environment: dict[str, str]
    ) -> lambda_.Function:
        """One more function built like these (runtime, own role and log group, tracing), in ``all``."""
        function = pipeline_function(
            self,
            name,
            code=self._code,
            log_level=self._log_level,
            handler=handler,
            description=description,
            timeout_seconds=timeout_seconds,
            environment=environment,
        )
        self._added[name] = function
        return function


def _grant_source_bucket(function: lambda_.Function, config: PipelineConfig, storage: IngestStorage) -> None:
    """Ingest reads the notified objects (and their versions), lists a key's versions, and decrypts
    with exactly the bucket's KMS keys through S3."""
    iam.Grant.add_to_principal(
        grantee=function,
        # GetObjectVersion too: on a versioned bucket the presigned URL names the version.
        actions=["s3:GetObject", "s3:GetObjectVersion"],
        resource_arns=storage.notified_object_arns,
    )
    # A delete marker hides a version: ingest lists the key's versions to find which (only keys
    # under the notified prefixes).
    iam.Grant.add_to_principal(
        grantee=function,
        actions=["s3:ListBucketVersions"],
        resource_arns=[storage.bucket.bucket_arn],
        conditions=(
            {"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in storage.prefixes]}}
            if storage.prefixes
            else None
        ),
    )
    if config.source_bucket_kms_key_arns:
        # SSE-KMS objects: the ranged GET and the provider's fetch of the presigned URL (signed
        # by this role) each make S3 decrypt as this role. Only these keys, and only through S3.
        iam.Grant.add_to_principal(
            grantee=function,
            actions=["kms:Decrypt"],
            resource_arns=list(config.source_bucket_kms_key_arns),
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(function).region}.amazonaws.com"}},
        )


def application_log_level(config: PipelineConfig) -> lambda_.ApplicationLogLevel:
    return _APPLICATION_LOG_LEVEL[config.log_level]


def pipeline_function(
    scope: Construct,
    name: str,
    *,
    code: lambda_.Code,
    log_level: lambda_.ApplicationLogLevel,
    handler: str,
    description: str,
    timeout_seconds: int,
    environment: dict[str, str],
    retry_attempts: int | None = None,
) -> lambda_.Function:
    """One of the pipeline's functions: its own role and log group, JSON logs, X-Ray, arm64."""
    log_group = logs.LogGroup(
        scope,
        f"{name}Logs",
        retention=LOG_RETENTION,
        # Operational logs only; nothing in them outlives the pipeline.
        removal_policy=RemovalPolicy.DESTROY,
    )
    # An explicit role instead of Lambda's default one, which carries the broad
    # AWSLambdaBasicExecutionRole managed policy: this one may write to its own log group only.
    role = iam.Role(
        scope,
        f"{name}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"Execution role of the {name.lower()} function.",
    )
    log_group.grant_write(role)
    return lambda_.Function(
        scope,
        name,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        code=code,
        handler=handler,
        description=description,
        memory_size=MEMORY_MB,
        timeout=Duration.seconds(timeout_seconds),
        environment=environment,
        role=role,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=log_level,
        system_log_level_v2=lambda_.SystemLogLevel.WARN,
        tracing=lambda_.Tracing.ACTIVE,
        retry_attempts=retry_attempts,
    )


def _grant_table(
    table: StatusTable,
    grantee: iam.IGrantable,
    *,
    record_actions: Sequence[str] = RECORD_ACTIONS,
    query_indexes: Sequence[str] = (),
) -> None:
    """Exactly the DynamoDB calls a function's code makes: ``record_actions`` on the table's items,
    and Query on each index in ``query_indexes`` (by name, never ``index/*``)."""
    iam.Grant.add_to_principal(
        grantee=grantee, actions=list(record_actions), resource_arns=[table.table.table_arn]
    )
    if query_indexes:
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:Query"],
            resource_arns=[f"{table.table.table_arn}/index/{name}" for name in query_indexes],
        )
