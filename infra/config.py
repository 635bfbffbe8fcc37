"""The stack's settings, read once from CDK context, typed and validated at synth.

Every context key, its default and its meaning is listed in ``PipelineConfig``'s docstring and in
docs/deploy.md; ``DEFAULTS`` is the one place the defaults are written (cdk.json repeats them so
that ``cdk context`` shows them, and a test keeps the two equal).

The functions' own settings classes are the strongest check there is: ``PipelineConfig`` builds the
exact environment each function will get (with placeholders for values only known at deploy time)
and runs it through ``IngestSettings`` / ``CallbackSettings`` / ``ReconcileSettings``, so context the
functions would reject at cold start fails ``cdk synth`` instead, naming the context key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from functions.core import env, results
from functions.core.errors import SettingsError
from functions.core.objects import NOTIFICATION_SOURCES
from functions.core.settings import (
    CALLBACK_TOKEN_TTL_RANGE,
    DEFAULT_API_BASE_URL,
    DEFAULT_CALLBACK_READ_TIMEOUT_SECONDS,
    DEFAULT_CALLBACK_TOKEN_TTL_SECONDS,
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_MAX_OBJECT_BYTES,
    DEFAULT_METRICS_NAMESPACE,
    DEFAULT_PRESIGNED_URL_TTL_SECONDS,
    DEFAULT_READ_TIMEOUT_SECONDS,
    DEFAULT_RECONCILE_AFTER_SECONDS,
    DEFAULT_RETRY_BASE_DELAY_SECONDS,
    DEFAULT_SECRET_CACHE_SECONDS,
    DEFAULT_STUCK_AFTER_SECONDS,
    DEFAULT_UNIQUE_ID,
    DEFAULT_UPLOADS_PER_MINUTE,
    DEFAULT_VIDEO_SUFFIXES,
    INGEST_SCHEDULE_SECONDS,
    MAX_RETRY_DELAY_SECONDS,
    CallbackSettings,
    IngestSettings,
    ReconcileSettings,
    ResultsSettings,
)

__all__ = [
    "CALLBACK_TIMEOUT_SECONDS",
    "DEFAULTS",
    "INGEST_SCHEDULE",
    "INGEST_TIMEOUT_SECONDS",
    "PLACEHOLDER_REFS",
    "RECONCILE_TIMEOUT_SECONDS",
    "SERVICE_NAME",
    "ContextError",
    "PipelineConfig",
    "RuntimeRefs",
]

# One Powertools service for the whole pipeline: the custom metrics the alarms watch (e.g.
# ProviderAuthFailure) are emitted by more than one function, and one `service` dimension lets one
# alarm cover them all. Logs and traces still carry the function name.
SERVICE_NAME: Final = "memories-ingest"

# A scheduled ingest run waits up to one schedule period (60 s) for the next upload slot, then makes
# the call, bounded by the connect + read timeouts (about 23 s with the functions' defaults) plus
# S3, DynamoDB and Secrets Manager around it; 120 s holds both. A test keeps the relation.
INGEST_TIMEOUT_SECONDS: Final = 120
# The ingest schedule: every minute, the line's due videos are submitted.
INGEST_SCHEDULE: Final = (
    f"rate({INGEST_SCHEDULE_SECONDS // 60} minute{'s' if INGEST_SCHEDULE_SECONDS > 60 else ''})"
)
# API Gateway gives up on the integration after 29 s. The callback checks a token, asks get_metadata
# once (connect 3.05 s + read 8 s at most, settings.CALLBACK_PROVIDER_TIMEOUT_BUDGET_SECONDS) and
# writes one item; 20 s leaves room for Secrets Manager and DynamoDB and still answers before 29 s.
API_GATEWAY_TIMEOUT_SECONDS: Final = 29
CALLBACK_TIMEOUT_SECONDS: Final = 20
# Reconcile may query the provider for many videos; it must finish before the next scheduled run
# so that two runs never resubmit the same video (``_check_schedule`` enforces it for rate()).
RECONCILE_TIMEOUT_SECONDS: Final = 240
# The results function: per job two paced provider calls (each at most connect 3.05 s + read 20 s),
# and get_metadata when not ready, plus DynamoDB, S3 and EventBridge; RESULTS_BATCH_SIZE jobs fit.
RESULTS_TIMEOUT_SECONDS: Final = 180
RESULTS_BATCH_SIZE: Final = 2

DEFAULTS: Final[Mapping[str, object]] = {
    "memoriesApiBaseUrl": DEFAULT_API_BASE_URL,
    "uploadsPerMinute": DEFAULT_UPLOADS_PER_MINUTE,
    "retryBaseDelaySeconds": DEFAULT_RETRY_BASE_DELAY_SECONDS,
    "retryMaxDelaySeconds": MAX_RETRY_DELAY_SECONDS,
    "ingestMaxConcurrency": 2,
    "ingestBatchSize": 5,
    "presignedUrlTtlSeconds": DEFAULT_PRESIGNED_URL_TTL_SECONDS,
    "videoSuffixes": list(DEFAULT_VIDEO_SUFFIXES),
    "maxObjectBytes": DEFAULT_MAX_OBJECT_BYTES,
    "prefixes": [],
    "uniqueId": DEFAULT_UNIQUE_ID,
    "defaultDatetimeTaken": None,
    "defaultCameraModel": None,
    "defaultLatitude": None,
    "defaultLongitude": None,
    "defaultTags": [],
    "defaultRetainOriginalVideo": None,
    "defaultVideoTranscriptionPrompt": None,
    "existingBucketName": None,
    "sourceBucketKmsKeyArns": [],
    "notificationSource": "s3",
    "deleteAtProvider": False,
    "readSidecars": False,
    "apiKeySecretName": None,
    "apiKeySecretArn": None,
    "alarmEmail": None,
    "apiThrottleRate": 20,
    "apiThrottleBurst": 40,
    "callbackTokenTtlSeconds": DEFAULT_CALLBACK_TOKEN_TTL_SECONDS,
    "reconcileAfterSeconds": DEFAULT_RECONCILE_AFTER_SECONDS,
    "stuckAfterSeconds": DEFAULT_STUCK_AFTER_SECONDS,
    "reconcileSchedule": "rate(5 minutes)",
    "destroyTableOnDelete": False,
    "metricsNamespace": DEFAULT_METRICS_NAMESPACE,
    "logLevel": "INFO",
    "eventBusName": "default",
    "writeResults": False,
    "resultsBucketName": None,
    "resultsBucketKmsKeyArn": None,
    "resultsPrefix": "",
}

# Which context key feeds which environment variable, so that a function setting that rejects a
# value at synth can name the key the user has to change.
_CONTEXT_KEY_OF_VARIABLE: Final[Mapping[str, str]] = {
    env.MEMORIES_API_BASE_URL: "memoriesApiBaseUrl",
    env.MEMORIES_UNIQUE_ID: "uniqueId",
    env.PRESIGNED_URL_TTL_SECONDS: "presignedUrlTtlSeconds",
    env.VIDEO_SUFFIXES: "videoSuffixes",
    env.MAX_OBJECT_BYTES: "maxObjectBytes",
    env.DELETE_AT_PROVIDER: "deleteAtProvider",
    env.READ_SIDECARS: "readSidecars",
    env.UPLOADS_PER_MINUTE: "uploadsPerMinute",
    env.RETRY_BASE_DELAY_SECONDS: "retryBaseDelaySeconds",
    env.RETRY_MAX_DELAY_SECONDS: "retryMaxDelaySeconds",
    env.DEFAULT_DATETIME_TAKEN: "defaultDatetimeTaken",
    env.DEFAULT_CAMERA_MODEL: "defaultCameraModel",
    env.DEFAULT_LATITUDE: "defaultLatitude",
    env.DEFAULT_LONGITUDE: "defaultLongitude",
    env.DEFAULT_TAGS: "defaultTags",
    env.DEFAULT_RETAIN_ORIGINAL_VIDEO: "defaultRetainOriginalVideo",
    env.DEFAULT_VIDEO_TRANSCRIPTION_PROMPT: "defaultVideoTranscriptionPrompt",
    env.CALLBACK_TOKEN_TTL_SECONDS: "callbackTokenTtlSeconds",
    env.RECONCILE_AFTER_SECONDS: "reconcileAfterSeconds",
    env.STUCK_AFTER_SECONDS: "stuckAfterSeconds",
    env.POWERTOOLS_METRICS_NAMESPACE: "metricsNamespace",
    env.RESULTS_PREFIX: "resultsPrefix",
    env.EVENT_BUS_NAME: "eventBusName",
}

_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# A key ARN, not an alias: IAM authorizes kms:Decrypt on the key the object names, never its alias.
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
# An event bus name, or "default" for the account's default bus (an ARN is not taken: same account only).
_EVENT_BUS_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9 ._/#:-]{1,255}$")
_SCHEDULE = re.compile(r"^(rate|cron)\(.+\)$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_RATE_UNIT_SECONDS: Final[Mapping[str, int]] = {
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
}
# Lambda's limits on an SQS event source without a batching window.
_MAX_CONCURRENCY_RANGE: Final = (2, 1000)
_BATCH_SIZE_RANGE: Final = (1, 10)


class ContextError(ValueError):
    """A CDK context value is malformed or contradicts another; the message names the key to fix."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"CDK context key '{key}' {problem}")
        self.key = key


@dataclass(frozen=True, slots=True)
class RuntimeRefs:
    """The values of the functions' environment that only exist at deploy time (CDK tokens)."""

    table_name: str
    source_bucket_name: str
    callback_base_url: str
    api_key_secret_id: str
    signing_secret_id: str


@dataclass(frozen=True, slots=True)
class ResultsRefs:
    """The results function's deploy-time values (CDK tokens)."""

    results_bucket_name: str
    queue_url: str
    dead_letter_queue_url: str


PLACEHOLDER_RESULTS_REFS: Final = ResultsRefs(
    results_bucket_name="placeholder-results-bucket",
    queue_url="https://sqs.ap-southeast-5.amazonaws.com/123456789012/placeholder-results",
    dead_letter_queue_url="https://sqs.ap-southeast-5.amazonaws.com/123456789012/placeholder-results-dlq",
)


# Stand-ins for the tokens when the functions' settings validate the environment at synth. Token
# strings (``${Token[...]}``) are not URLs; these have the shape and the longest plausible length
# of the real values (10-character API id, longest region name, China partition suffix).
PLACEHOLDER_REFS: Final = RuntimeRefs(
    table_name="placeholder-status-table",
    source_bucket_name="placeholder-source-bucket",
    callback_base_url="https://abcdefghij.execute-api.ap-southeast-5.amazonaws.com.cn/prod/",
    # Secret ids, not secret values.
    api_key_secret_id="arn:aws:secretsmanager:us-east-1:123456789012:secret:placeholder-api-key-AbCdEf",  # noqa: S106
    signing_secret_id="arn:aws:secretsmanager:us-east-1:123456789012:secret:placeholder-signing-AbCdEf",  # noqa: S106
)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _int(key: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ContextError(key, f"must be a whole number, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ContextError(key, f"must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise ContextError(key, f"must be between {low} and {high}, got {number}")
    return number


def _positive_number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ContextError(key, f"must be a positive number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ContextError(key, f"must be a positive number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ContextError(key, f"must be a positive number, got {value!r}")
    return number


def _bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ContextError(key, f"must be true or false, got {value!r}")


def _optional_bool(key: str, value: object) -> bool | None:
    return None if _is_blank(value) else _bool(key, value)


def _text(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ContextError(key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _optional_text(key: str, value: object) -> str | None:
    """A string, or a number given as JSON (latitude / longitude), or nothing."""
    if _is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ContextError(key, f"must be a string, got {value!r}")
    return str(value).strip()


def _string_list(key: str, value: object) -> tuple[str, ...]:
    """A JSON list of strings (cdk.json) or one comma-separated string (``-c key=a,b`` on the CLI)."""
    if _is_blank(value):
        return ()
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list):
        items = list(value)
    else:
        raise ContextError(key, f"must be a list of strings or a comma-separated string, got {value!r}")
    result: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ContextError(key, f"must contain only strings, got {item!r}")
        if "," in item:
            raise ContextError(key, f"items must not contain commas, got {item!r}")
        if item.strip():
            result.append(item.strip())
    return tuple(result)


def _matching(key: str, value: object, pattern: re.Pattern[str], shape: str) -> str:
    text = _text(key, value)
    if not pattern.match(text):
        raise ContextError(key, f"must be {shape}, got {text!r}")
    return text


def _optional_matching(key: str, value: object, pattern: re.Pattern[str], shape: str) -> str | None:
    return None if _is_blank(value) else _matching(key, value, pattern, shape)


def _prefixes(key: str, value: object) -> tuple[str, ...]:
    prefixes = _string_list(key, value)
    if len(set(prefixes)) != len(prefixes):
        raise ContextError(key, f"lists a prefix twice: {list(prefixes)}")
    # S3 refuses a notification configuration whose filters overlap for the same event type, so
    # this would otherwise fail only at deploy time.
    for a in prefixes:
        for b in prefixes:
            if a != b and b.startswith(a):
                raise ContextError(
                    key, f"has overlapping prefixes {a!r} and {b!r}; S3 rejects overlapping filters"
                )
    return prefixes


def _kms_key_arns(key: str, value: object) -> tuple[str, ...]:
    arns = _string_list(key, value)
    for arn in arns:
        if not _KMS_KEY_ARN.match(arn):
            raise ContextError(
                key, f"must list KMS key ARNs (arn:aws:kms:REGION:ACCOUNT:key/ID; not aliases), got {arn!r}"
            )
    return tuple(dict.fromkeys(arns))


def _schedule_period_seconds(schedule: str) -> int | None:
    match = _RATE.match(schedule)
    return int(match.group(1)) * _RATE_UNIT_SECONDS[match.group(2)] if match else None


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """The pipeline's deploy-time settings. Context keys (cdk.json ``context`` or ``-c key=value``):

    - ``memoriesApiBaseUrl``: provider base URL. Default ``https://api.memories.ai``.
    - ``uploadsPerMinute``: account-wide upload_url rate the ingest function keeps to. Default 1
      (the provider's current documented limit).
    - ``retryBaseDelaySeconds`` / ``retryMaxDelaySeconds``: first and longest delay before ingest
      re-sends a message the provider could not take (exponential backoff, 1..900). Default 30 / 900.
    - ``ingestMaxConcurrency``: most ingest instances the queue may run at once (2..1000).
      Default 2, the smallest Lambda allows.
    - ``ingestBatchSize``: queue messages per ingest invocation (1..10). Default 5.
    - ``presignedUrlTtlSeconds``: lifetime of the GET URL given to the provider. Default 21600 (6 h).
    - ``videoSuffixes``: object key suffixes that are submitted (case-insensitive; others are
      skipped by ingest). Default ``.mp4 .mov .mkv .webm .avi .m4v .m3u8``.
    - ``maxObjectBytes``: larger objects are rejected without a provider call. Default 1 GiB.
    - ``prefixes``: key prefixes that notify the queue, one S3 notification each. Default none
      (the whole bucket).
    - ``uniqueId``: the provider's ``unique_id`` folder for every upload. Default ``default``.
    - ``defaultDatetimeTaken``, ``defaultCameraModel``, ``defaultLatitude``, ``defaultLongitude``,
      ``defaultTags`` (list), ``defaultRetainOriginalVideo`` (bool),
      ``defaultVideoTranscriptionPrompt``: upload_url fields sent when the object's metadata does
      not give them. Default: not sent.
    - ``existingBucketName``: use this existing bucket instead of creating one. Default: create.
    - ``sourceBucketKmsKeyArns``: the KMS key ARN(s) an existing bucket encrypts objects with
      (SSE-KMS); the ingest role may ``kms:Decrypt`` with exactly these, through S3 only.
      Default none (SSE-S3, or the created bucket).
    - ``notificationSource``: ``s3`` (S3 event notifications to the queue, configured on the bucket)
      or ``eventbridge`` (an EventBridge rule sends S3's "Object Created" events for the bucket and
      the prefixes to the queue; the stack never touches an existing bucket's notification
      configuration). Default ``s3``.
    - ``deleteAtProvider``: an object deleted from the bucket is deleted at memories.ai too
      (``delete_videos``). Its record becomes DELETED either way. Default false: an S3 delete is
      often housekeeping, and a provider delete cannot be undone (re-ingesting is billed again).
    - ``readSidecars``: a JSON file ``<key>.json`` beside a video gives its per-object fields (under
      its own S3 metadata, over the defaults). Default false: it costs one more S3 request per video,
      for tools that cannot set S3 metadata.
    - ``apiKeySecretName`` / ``apiKeySecretArn`` (at most one): import the memories.ai API key
      secret. Default: create an empty secret.
    - ``alarmEmail``: subscribe this address to the alarm topic. Default: no subscription.
    - ``apiThrottleRate`` / ``apiThrottleBurst``: callback API stage throttling. Default 20 / 40.
    - ``callbackTokenTtlSeconds``: how long a callback URL is honoured (3600..2592000). Default
      259200 (3 days).
    - ``reconcileAfterSeconds``: age after which reconcile asks the provider about a pending
      video. Default 900.
    - ``stuckAfterSeconds``: age after which a pending video counts as stuck (``VideosStuck``).
      Default 21600.
    - ``reconcileSchedule``: EventBridge schedule of reconcile. Default ``rate(5 minutes)``.
    - ``destroyTableOnDelete``: delete the status table with the stack. Default false (retain).
    - ``metricsNamespace``: CloudWatch namespace of the custom metrics. Default ``MemoriesIngest``.
    - ``logLevel``: DEBUG, INFO, WARNING or ERROR. Default INFO.
    - ``eventBusName``: the EventBridge bus the status events travel on (a bus of this account).
      Default ``default``.
    - ``writeResults``: when a video reaches PARSE, write its caption and transcription beside it
      as ``<resultsPrefix><key>.memories.json`` (README, "Results beside the video"). Default false:
      none of its resources are created.
    - ``resultsBucketName``: write the results into this existing bucket (it may be the source
      bucket). Default: a bucket the stack creates.
    - ``resultsBucketKmsKeyArn``: the KMS key ARN ``resultsBucketName`` encrypts with by default
      (SSE-KMS); the results role may generate data keys with it, through S3 only. Default none.
    - ``resultsPrefix``: key prefix of the results documents (e.g. ``memories/``). Default empty.
    """

    memories_api_base_url: str
    uploads_per_minute: float
    retry_base_delay_seconds: int
    retry_max_delay_seconds: int
    ingest_max_concurrency: int
    ingest_batch_size: int
    presigned_url_ttl_seconds: int
    video_suffixes: tuple[str, ...]
    max_object_bytes: int
    prefixes: tuple[str, ...]
    unique_id: str
    default_datetime_taken: str | None
    default_camera_model: str | None
    default_latitude: str | None
    default_longitude: str | None
    default_tags: tuple[str, ...]
    default_retain_original_video: bool | None
    default_video_transcription_prompt: str | None
    existing_bucket_name: str | None
    source_bucket_kms_key_arns: tuple[str, ...]
    notification_source: str
    delete_at_provider: bool
    read_sidecars: bool
    api_key_secret_name: str | None
    api_key_secret_arn: str | None
    alarm_email: str | None
    api_throttle_rate: float
    api_throttle_burst: int
    callback_token_ttl_seconds: int
    reconcile_after_seconds: int
    stuck_after_seconds: int
    reconcile_schedule: str
    destroy_table_on_delete: bool
    metrics_namespace: str
    log_level: str
    event_bus_name: str = "default"
    write_results: bool = False
    results_bucket_name: str | None = None
    results_bucket_kms_key_arn: str | None = None
    results_prefix: str = ""

    @classmethod
    def from_context(cls, try_get_context: Callable[[str], object]) -> PipelineConfig:
        """Read and validate every key; ``try_get_context`` is ``app.node.try_get_context``."""

        def get(key: str) -> object:
            value = try_get_context(key)
            return DEFAULTS[key] if value is None else value

        config = cls(
            memories_api_base_url=_https_url("memoriesApiBaseUrl", get("memoriesApiBaseUrl")),
            uploads_per_minute=_positive_number("uploadsPerMinute", get("uploadsPerMinute")),
            retry_base_delay_seconds=_int("retryBaseDelaySeconds", get("retryBaseDelaySeconds"), 1, 2**31),
            retry_max_delay_seconds=_int("retryMaxDelaySeconds", get("retryMaxDelaySeconds"), 1, 2**31),
            ingest_max_concurrency=_int(
                "ingestMaxConcurrency", get("ingestMaxConcurrency"), *_MAX_CONCURRENCY_RANGE
            ),
            ingest_batch_size=_int("ingestBatchSize", get("ingestBatchSize"), *_BATCH_SIZE_RANGE),
            presigned_url_ttl_seconds=_int("presignedUrlTtlSeconds", get("presignedUrlTtlSeconds"), 1, 2**31),
            video_suffixes=_string_list("videoSuffixes", get("videoSuffixes")),
            max_object_bytes=_int("maxObjectBytes", get("maxObjectBytes"), 1, 2**63),
            prefixes=_prefixes("prefixes", get("prefixes")),
            unique_id=_text("uniqueId", get("uniqueId")),
            default_datetime_taken=_optional_text("defaultDatetimeTaken", get("defaultDatetimeTaken")),
            default_camera_model=_optional_text("defaultCameraModel", get("defaultCameraModel")),
            default_latitude=_optional_text("defaultLatitude", get("defaultLatitude")),
            default_longitude=_optional_text("defaultLongitude", get("defaultLongitude")),
            default_tags=_string_list("defaultTags", get("defaultTags")),
            default_retain_original_video=_optional_bool(
                "defaultRetainOriginalVideo", get("defaultRetainOriginalVideo")
            ),
            default_video_transcription_prompt=_optional_text(
                "defaultVideoTranscriptionPrompt", get("defaultVideoTranscriptionPrompt")
            ),
            existing_bucket_name=_optional_matching(
                "existingBucketName", get("existingBucketName"), _BUCKET_NAME, "an S3 bucket name"
            ),
            source_bucket_kms_key_arns=_kms_key_arns("sourceBucketKmsKeyArns", get("sourceBucketKmsKeyArns")),
            delete_at_provider=_bool("deleteAtProvider", get("deleteAtProvider")),
            read_sidecars=_bool("readSidecars", get("readSidecars")),
            notification_source=_choice(
                "notificationSource", get("notificationSource"), NOTIFICATION_SOURCES
            ),
            api_key_secret_name=_optional_matching(
                "apiKeySecretName", get("apiKeySecretName"), _SECRET_NAME, "a Secrets Manager secret name"
            ),
            api_key_secret_arn=_optional_matching(
                "apiKeySecretArn",
                get("apiKeySecretArn"),
                _SECRET_ARN,
                "a complete Secrets Manager secret ARN",
            ),
            alarm_email=_optional_matching("alarmEmail", get("alarmEmail"), _EMAIL, "an e-mail address"),
            api_throttle_rate=_positive_number("apiThrottleRate", get("apiThrottleRate")),
            api_throttle_burst=_int("apiThrottleBurst", get("apiThrottleBurst"), 1, 5000),
            callback_token_ttl_seconds=_int(
                "callbackTokenTtlSeconds", get("callbackTokenTtlSeconds"), *CALLBACK_TOKEN_TTL_RANGE
            ),
            reconcile_after_seconds=_int("reconcileAfterSeconds", get("reconcileAfterSeconds"), 0, 2**31),
            stuck_after_seconds=_int("stuckAfterSeconds", get("stuckAfterSeconds"), 0, 2**31),
            reconcile_schedule=_matching(
                "reconcileSchedule",
                get("reconcileSchedule"),
                _SCHEDULE,
                "an EventBridge rate(...) or cron(...)",
            ),
            destroy_table_on_delete=_bool("destroyTableOnDelete", get("destroyTableOnDelete")),
            metrics_namespace=_metrics_namespace(get("metricsNamespace")),
            log_level=_log_level(get("logLevel")),
            event_bus_name=_matching(
                "eventBusName", get("eventBusName"), _EVENT_BUS_NAME, "an event bus name"
            ),
            write_results=_bool("writeResults", get("writeResults")),
            results_bucket_name=_optional_matching(
                "resultsBucketName", get("resultsBucketName"), _BUCKET_NAME, "an S3 bucket name"
            ),
            results_bucket_kms_key_arn=_optional_matching(
                "resultsBucketKmsKeyArn",
                get("resultsBucketKmsKeyArn"),
                _KMS_KEY_ARN,
                "a KMS key ARN (not an alias)",
            ),
            results_prefix=_results_prefix(get("resultsPrefix")),
        )
        config._check_relations()
        config._check_function_settings()
        return config

    @property
    def imports_api_key_secret(self) -> bool:
        return self.api_key_secret_name is not None or self.api_key_secret_arn is not None

    def ingest_environment(self, refs: RuntimeRefs) -> dict[str, str]:
        """Exactly what ``IngestSettings.from_env`` reads, plus the Powertools variables."""
        return {
            **self._powertools_environment(),
            env.STATUS_TABLE_NAME: refs.table_name,
            env.SOURCE_BUCKET_NAME: refs.source_bucket_name,
            env.MEMORIES_API_BASE_URL: self.memories_api_base_url,
            env.MEMORIES_API_KEY_SECRET_ID: refs.api_key_secret_id,
            env.MEMORIES_UNIQUE_ID: self.unique_id,
            env.CALLBACK_BASE_URL: refs.callback_base_url,
            env.CALLBACK_SIGNING_SECRET_ID: refs.signing_secret_id,
            env.PRESIGNED_URL_TTL_SECONDS: str(self.presigned_url_ttl_seconds),
            env.VIDEO_SUFFIXES: ",".join(self.video_suffixes),
            env.MAX_OBJECT_BYTES: str(self.max_object_bytes),
            env.DELETE_AT_PROVIDER: str(self.delete_at_provider).lower(),
            env.READ_SIDECARS: str(self.read_sidecars).lower(),
            env.UPLOADS_PER_MINUTE: _number_text(self.uploads_per_minute),
            env.RETRY_BASE_DELAY_SECONDS: str(self.retry_base_delay_seconds),
            env.RETRY_MAX_DELAY_SECONDS: str(self.retry_max_delay_seconds),
            **self._provider_client_environment(),
            # Empty means "not sent"; the variables are always present so that the environment
            # names exactly what the settings read.
            env.DEFAULT_DATETIME_TAKEN: self.default_datetime_taken or "",
            env.DEFAULT_CAMERA_MODEL: self.default_camera_model or "",
            env.DEFAULT_LATITUDE: self.default_latitude or "",
            env.DEFAULT_LONGITUDE: self.default_longitude or "",
            env.DEFAULT_TAGS: ",".join(self.default_tags),
            env.DEFAULT_RETAIN_ORIGINAL_VIDEO: (
                ""
                if self.default_retain_original_video is None
                else str(self.default_retain_original_video).lower()
            ),
            env.DEFAULT_VIDEO_TRANSCRIPTION_PROMPT: self.default_video_transcription_prompt or "",
        }

    def callback_environment(self, refs: RuntimeRefs) -> dict[str, str]:
        """Exactly what ``CallbackSettings.from_env`` reads, plus the Powertools variables."""
        return {
            **self._powertools_environment(),
            env.STATUS_TABLE_NAME: refs.table_name,
            env.CALLBACK_SIGNING_SECRET_ID: refs.signing_secret_id,
            env.CALLBACK_TOKEN_TTL_SECONDS: str(self.callback_token_ttl_seconds),
            env.MEMORIES_API_BASE_URL: self.memories_api_base_url,
            env.MEMORIES_API_KEY_SECRET_ID: refs.api_key_secret_id,
            env.MEMORIES_UNIQUE_ID: self.unique_id,
            **self._provider_client_environment(read_timeout=DEFAULT_CALLBACK_READ_TIMEOUT_SECONDS),
        }

    def reconcile_environment(self, refs: RuntimeRefs) -> dict[str, str]:
        """Exactly what ``ReconcileSettings.from_env`` reads, plus the Powertools variables."""
        return {
            **self._powertools_environment(),
            env.STATUS_TABLE_NAME: refs.table_name,
            env.MEMORIES_API_BASE_URL: self.memories_api_base_url,
            env.MEMORIES_API_KEY_SECRET_ID: refs.api_key_secret_id,
            env.MEMORIES_UNIQUE_ID: self.unique_id,
            env.RECONCILE_AFTER_SECONDS: str(self.reconcile_after_seconds),
            env.STUCK_AFTER_SECONDS: str(self.stuck_after_seconds),
            **self._provider_client_environment(),
        }

    def results_environment(self, refs: RuntimeRefs, results_refs: ResultsRefs) -> dict[str, str]:
        """Exactly what ``ResultsSettings.from_env`` reads, plus the Powertools variables."""
        return {
            **self._powertools_environment(),
            env.STATUS_TABLE_NAME: refs.table_name,
            env.MEMORIES_API_BASE_URL: self.memories_api_base_url,
            env.MEMORIES_API_KEY_SECRET_ID: refs.api_key_secret_id,
            env.MEMORIES_UNIQUE_ID: self.unique_id,
            **self._provider_client_environment(),
            env.RESULTS_BUCKET_NAME: results_refs.results_bucket_name,
            env.RESULTS_PREFIX: self.results_prefix,
            env.RESULTS_QUEUE_URL: results_refs.queue_url,
            env.RESULTS_DEAD_LETTER_QUEUE_URL: results_refs.dead_letter_queue_url,
            env.EVENT_BUS_NAME: self.event_bus_name,
            # Not context settings: the retry schedule the queue's maxReceiveCount is sized for.
            env.RESULTS_RETRY_BASE_SECONDS: str(results.DEFAULT_RETRY_BASE_SECONDS),
            env.RESULTS_RETRY_MAX_SECONDS: str(results.DEFAULT_RETRY_MAX_SECONDS),
            env.RESULTS_MAX_WAIT_SECONDS: str(results.DEFAULT_MAX_WAIT_SECONDS),
        }

    def _powertools_environment(self) -> dict[str, str]:
        return {
            env.POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
            env.POWERTOOLS_METRICS_NAMESPACE: self.metrics_namespace,
            env.POWERTOOLS_LOG_LEVEL: self.log_level,
        }

    @staticmethod
    def _provider_client_environment(read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS) -> dict[str, str]:
        # Not context settings: the functions' defaults, written out so that the stack states the
        # provider timeouts its Lambda timeouts are sized for.
        return {
            env.PROVIDER_CONNECT_TIMEOUT_SECONDS: _number_text(DEFAULT_CONNECT_TIMEOUT_SECONDS),
            env.PROVIDER_READ_TIMEOUT_SECONDS: _number_text(read_timeout),
            env.SECRET_CACHE_SECONDS: str(DEFAULT_SECRET_CACHE_SECONDS),
        }

    def _check_relations(self) -> None:
        if self.api_key_secret_name is not None and self.api_key_secret_arn is not None:
            raise ContextError("apiKeySecretArn", "cannot be set together with apiKeySecretName; choose one")
        if self.source_bucket_kms_key_arns and self.existing_bucket_name is None:
            raise ContextError(
                "sourceBucketKmsKeyArns",
                "is only for an existing bucket (existingBucketName); the bucket the stack creates uses SSE-S3",
            )
        if self.results_bucket_kms_key_arn and self.results_bucket_name is None:
            raise ContextError(
                "resultsBucketKmsKeyArn",
                "is only for an existing results bucket (resultsBucketName); the one the stack creates uses SSE-S3",
            )
        period = _schedule_period_seconds(self.reconcile_schedule)
        if period is not None and period <= RECONCILE_TIMEOUT_SECONDS:
            raise ContextError(
                "reconcileSchedule",
                f"runs every {period} s, which is not longer than the reconcile timeout "
                f"({RECONCILE_TIMEOUT_SECONDS} s): two runs could overlap and resubmit the same video",
            )

    def _check_function_settings(self) -> None:
        builders: list[
            tuple[Callable[[Mapping[str, str]], object], Callable[[RuntimeRefs], dict[str, str]]]
        ] = [
            (IngestSettings.from_env, self.ingest_environment),
            (CallbackSettings.from_env, self.callback_environment),
            (ReconcileSettings.from_env, self.reconcile_environment),
        ]
        if self.write_results:
            builders.append(
                (
                    ResultsSettings.from_env,
                    lambda refs: self.results_environment(refs, PLACEHOLDER_RESULTS_REFS),
                )
            )
        for from_env, environment in builders:
            try:
                from_env(environment(PLACEHOLDER_REFS))
            except SettingsError as exc:
                key = _CONTEXT_KEY_OF_VARIABLE.get(exc.name)
                if key is None:  # a variable the stack fills in itself: a bug here, not bad context
                    raise
                raise ContextError(key, f"is rejected by the functions: {exc}") from exc


def _results_prefix(value: object) -> str:
    """Empty is a prefix too: the documents then sit beside the videos' own keys."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ContextError("resultsPrefix", f"must be a string, got {value!r}")
    return value


def _https_url(key: str, value: object) -> str:
    """The API key travels in every request: a deployed stack reaches the provider over https only."""
    url = _text(key, value)
    if not url.lower().startswith("https://"):
        raise ContextError(key, f"must be an https:// URL, got {url!r}")
    return url


def _metrics_namespace(value: object) -> str:
    namespace = _matching("metricsNamespace", value, _NAMESPACE, "a CloudWatch namespace")
    if namespace.startswith("AWS/"):
        raise ContextError("metricsNamespace", "must not start with AWS/ (reserved for AWS services)")
    return namespace


def _choice(key: str, value: object, choices: tuple[str, ...]) -> str:
    text = _text(key, value).lower()
    if text not in choices:
        raise ContextError(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return text


def _log_level(value: object) -> str:
    level = _text("logLevel", value).upper()
    if level not in _LOG_LEVELS:
        raise ContextError("logLevel", f"must be one of {', '.join(_LOG_LEVELS)}, got {value!r}")
    return level


def _number_text(value: float) -> str:
    """``1.0`` as ``1``: what a person would write in the environment."""
    return str(int(value)) if value.is_integer() else str(value)
