"""The stack's settings, read once from CDK context, typed and validated at synth.

Every context key is declared once, as a ``PipelineConfig`` field: its context key is the field's
name in camelCase, and its metadata (``setting(...)``) gives the default, the reader that validates
it, the function variable it feeds and which functions read that variable, and what it means.
``DEFAULTS``, the functions' environments and the key named in an error are derived from those
declarations. docs/deploy.md documents every key (a test keeps it complete), cdk.json repeats the
defaults so that ``cdk context`` shows them (a test keeps the two equal).

The functions' own settings classes are the strongest check there is: ``PipelineConfig`` builds the
exact environment each function will get (with placeholders for values only known at deploy time)
and runs it through ``IngestSettings`` / ``CallbackSettings`` / ``ReconcileSettings``, so context the
functions would reject at cold start fails ``cdk synth`` instead, naming the context key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from functions.core import env
from functions.core.errors import SettingsError
from functions.core.folders import folder_map_json, parse_folder_map
from functions.core.objects import NOTIFICATION_SOURCES
from functions.core.settings import (
    CALLBACK_TIMEOUT_SECONDS,
    CALLBACK_TOKEN_TTL_RANGE,
    DEFAULT_API_BASE_URL,
    DEFAULT_CALLBACK_READ_TIMEOUT_SECONDS,
    DEFAULT_CALLBACK_TOKEN_TTL_SECONDS,
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_EVENT_BUS_NAME,
    DEFAULT_HLS_SETTLE_SECONDS,
    DEFAULT_MAX_OBJECT_BYTES,
    DEFAULT_METRICS_NAMESPACE,
    DEFAULT_PRESIGNED_URL_TTL_SECONDS,
    DEFAULT_READ_TIMEOUT_SECONDS,
    DEFAULT_RECONCILE_AFTER_SECONDS,
    DEFAULT_RESULTS_MAX_WAIT_SECONDS,
    DEFAULT_RESULTS_RETRY_BASE_SECONDS,
    DEFAULT_RESULTS_RETRY_MAX_SECONDS,
    DEFAULT_RETRY_BASE_DELAY_SECONDS,
    DEFAULT_SECRET_CACHE_SECONDS,
    DEFAULT_STUCK_AFTER_SECONDS,
    DEFAULT_UNIQUE_ID,
    DEFAULT_UPLOADS_PER_MINUTE,
    DEFAULT_VIDEO_SUFFIXES,
    EVENTS_TIMEOUT_SECONDS,
    INGEST_SCHEDULE_SECONDS,
    INGEST_TIMEOUT_SECONDS,
    MAX_RETRY_DELAY_SECONDS,
    RECONCILE_TIMEOUT_SECONDS,
    RESULTS_TIMEOUT_SECONDS,
    SERVICE_NAME,
    STATUS_API_TIMEOUT_SECONDS,
    CallbackSettings,
    EventsSettings,
    IngestSettings,
    ReconcileSettings,
    ResultsSettings,
    StatusApiSettings,
)
from infra.botocore_models import LAMBDA_DATA_PATH

__all__ = [
    "CALLBACK_TIMEOUT_SECONDS",
    "DEFAULTS",
    "EVENTS_TIMEOUT_SECONDS",
    "INGEST_SCHEDULE",
    "INGEST_TIMEOUT_SECONDS",
    "PLACEHOLDER_REFS",
    "RECONCILE_TIMEOUT_SECONDS",
    "RESULTS_TIMEOUT_SECONDS",
    "SERVICE_NAME",
    "STATUS_API_TIMEOUT_SECONDS",
    "ContextError",
    "PipelineConfig",
    "RuntimeRefs",
]

# The ingest schedule: every minute, the line's due videos are submitted.
INGEST_SCHEDULE: Final = (
    f"rate({INGEST_SCHEDULE_SECONDS // 60} minute{'s' if INGEST_SCHEDULE_SECONDS > 60 else ''})"
)
# API Gateway gives up on the integration after 29 s (the callback's timeout is below it).
API_GATEWAY_TIMEOUT_SECONDS: Final = 29

# Results jobs per invocation of the results function (its timeout fits this many).
RESULTS_BATCH_SIZE: Final = 2

# The functions, by the name their environment builders take.
INGEST: Final = "ingest"
CALLBACK: Final = "callback"
RECONCILE: Final = "reconcile"
EVENTS: Final = "events"
RESULTS: Final = "results"
# The functions that call memories.ai: each reads the provider client's settings.
PROVIDER_CALLERS: Final = (INGEST, CALLBACK, RECONCILE, RESULTS)

Reader = Callable[[str, object], Any]


@dataclass(frozen=True, slots=True)
class Setting:
    """One context key: its default, how its value is read, the function variable it feeds."""

    default: object
    read: Reader
    doc: str
    variable: str | None = None
    functions: tuple[str, ...] = ()
    # How the variable carries the value, when not as ``_variable_text`` writes it.
    as_text: Callable[[Any], str] | None = None


def setting(
    default: object,
    read: Reader,
    doc: str,
    *,
    variable: str | None = None,
    functions: tuple[str, ...] = (INGEST,),
    as_text: Callable[[Any], str] | None = None,
) -> Any:
    """A ``PipelineConfig`` field declared with everything known about its context key."""
    spec = Setting(default, read, doc, variable, functions if variable else (), as_text)
    return field(metadata={"setting": spec})


def context_key(field_name: str) -> str:
    """``memories_api_base_url`` -> ``memoriesApiBaseUrl``."""
    first, *rest = field_name.split("_")
    return first + "".join(part.capitalize() for part in rest)


_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# A key ARN, not an alias: IAM authorizes kms:Decrypt on the key the object names, never its alias.
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
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
    # The bucket for derived HLS playlists (infra.constructs.hls_staging).
    hls_staging_bucket_name: str = "placeholder-hls-staging"


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


def _provider_folders(key: str, value: object) -> tuple[tuple[str, str], ...]:
    """A JSON object (cdk.json) or a JSON string (``-c providerFolders='{"a/": "acme"}'``), read by
    the functions' own rule (functions.core.folders.parse_folder_map)."""
    if _is_blank(value):
        return ()
    if isinstance(value, Mapping):
        raw = json.dumps(dict(value))
    elif isinstance(value, str):
        raw = value
    else:
        raise ContextError(
            key,
            f'must be an object of key prefix to folder, e.g. {{"customers/acme/": "acme"}}, got {value!r}',
        )
    try:
        return parse_folder_map(raw)
    except ValueError as exc:
        raise ContextError(key, str(exc)) from exc


def _kms_key_arns(key: str, value: object) -> tuple[str, ...]:
    arns = _string_list(key, value)
    for arn in arns:
        if not _KMS_KEY_ARN.match(arn):
            raise ContextError(
                key, f"must list KMS key ARNs (arn:aws:kms:REGION:ACCOUNT:key/ID; not aliases), got {arn!r}"
            )
    return tuple(dict.fromkeys(arns))


def _whole(low: int, high: int) -> Reader:
    return lambda key, value: _int(key, value, low, high)


def _pattern(pattern: re.Pattern[str], shape: str) -> Reader:
    return lambda key, value: _matching(key, value, pattern, shape)


def _optional_pattern(pattern: re.Pattern[str], shape: str) -> Reader:
    return lambda key, value: _optional_matching(key, value, pattern, shape)


def _one_of(choices: tuple[str, ...]) -> Reader:
    return lambda key, value: _choice(key, value, choices)


def _schedule_period_seconds(schedule: str) -> int | None:
    match = _RATE.match(schedule)
    return int(match.group(1)) * _RATE_UNIT_SECONDS[match.group(2)] if match else None


def _results_prefix(key: str, value: object) -> str:
    """Empty is a prefix too: the documents then sit beside the videos' own keys."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ContextError(key, f"must be a string, got {value!r}")
    return value


def _bus_name(event_bus_name: str | None) -> str:
    """The bus ``eventBusName`` names: unset is the account's default bus."""
    return event_bus_name or DEFAULT_EVENT_BUS_NAME


def _https_url(key: str, value: object) -> str:
    """The API key travels in every request: a deployed stack reaches the provider over https only."""
    url = _text(key, value)
    if not url.lower().startswith("https://"):
        raise ContextError(key, f"must be an https:// URL, got {url!r}")
    return url


def _metrics_namespace(key: str, value: object) -> str:
    namespace = _matching(key, value, _NAMESPACE, "a CloudWatch namespace")
    if namespace.startswith("AWS/"):
        raise ContextError(key, "must not start with AWS/ (reserved for AWS services)")
    return namespace


def _choice(key: str, value: object, choices: tuple[str, ...]) -> str:
    text = _text(key, value).lower()
    if text not in choices:
        raise ContextError(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return text


def _log_level(key: str, value: object) -> str:
    level = _text(key, value).upper()
    if level not in _LOG_LEVELS:
        raise ContextError(key, f"must be one of {', '.join(_LOG_LEVELS)}, got {value!r}")
    return level


def _number_text(value: float) -> str:
    """``1.0`` as ``1``: what a person would write in the environment."""
    return str(int(value)) if value.is_integer() else str(value)


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """The pipeline's deploy-time settings, from CDK context (cdk.json ``context`` or ``-c key=value``):
    one field per context key (the field's name in camelCase), declared with ``setting``."""

    memories_api_base_url: str = setting(
        DEFAULT_API_BASE_URL,
        _https_url,
        "provider base URL (https only: the API key travels in every request)",
        variable=env.MEMORIES_API_BASE_URL,
        functions=PROVIDER_CALLERS,
    )
    uploads_per_minute: float = setting(
        DEFAULT_UPLOADS_PER_MINUTE,
        _positive_number,
        "account-wide upload_url rate the ingest function keeps to (the provider's documented limit)",
        variable=env.UPLOADS_PER_MINUTE,
    )
    retry_base_delay_seconds: int = setting(
        DEFAULT_RETRY_BASE_DELAY_SECONDS,
        _whole(1, 2**31),
        "first delay before a video the provider could not take is tried again (exponential backoff)",
        variable=env.RETRY_BASE_DELAY_SECONDS,
    )
    retry_max_delay_seconds: int = setting(
        MAX_RETRY_DELAY_SECONDS,
        _whole(1, 2**31),
        "longest such delay, and how long the whole line waits after a bad key or no credit",
        variable=env.RETRY_MAX_DELAY_SECONDS,
    )
    ingest_max_concurrency: int = setting(
        2, _whole(*_MAX_CONCURRENCY_RANGE), "most ingest instances the queue may run at once (2..1000)"
    )
    ingest_batch_size: int = setting(
        5, _whole(*_BATCH_SIZE_RANGE), "queue messages per ingest invocation (1..10)"
    )
    presigned_url_ttl_seconds: int = setting(
        DEFAULT_PRESIGNED_URL_TTL_SECONDS,
        _whole(1, 2**31),
        "lifetime of the GET URL given to the provider",
        variable=env.PRESIGNED_URL_TTL_SECONDS,
    )
    video_suffixes: tuple[str, ...] = setting(
        list(DEFAULT_VIDEO_SUFFIXES),
        _string_list,
        "object key suffixes that are submitted (case-insensitive; others are skipped)",
        variable=env.VIDEO_SUFFIXES,
    )
    max_object_bytes: int = setting(
        DEFAULT_MAX_OBJECT_BYTES,
        _whole(1, 2**63),
        "larger objects are rejected without a provider call",
        variable=env.MAX_OBJECT_BYTES,
    )
    prefixes: tuple[str, ...] = setting(
        [], _prefixes, "key prefixes that notify the queue, one S3 notification each (none: the whole bucket)"
    )
    unique_id: str = setting(
        DEFAULT_UNIQUE_ID,
        _text,
        "the provider's unique_id folder for every upload",
        variable=env.MEMORIES_UNIQUE_ID,
        functions=PROVIDER_CALLERS,
    )
    provider_folders: tuple[tuple[str, str], ...] = setting(
        {},
        _provider_folders,
        "key prefix -> unique_id folder (a JSON object, or a JSON string with -c); the longest matching"
        " prefix wins, x-amz-meta-unique-id and the sidecar's unique_id win over it, uniqueId is the rest",
        variable=env.PROVIDER_FOLDERS,
        as_text=folder_map_json,
    )
    default_datetime_taken: str | None = setting(
        None, _optional_text, "upload_url datetime_taken when the object does not give one",
        variable=env.DEFAULT_DATETIME_TAKEN,
    )  # fmt: skip
    default_camera_model: str | None = setting(
        None, _optional_text, "upload_url camera_model when the object does not give one",
        variable=env.DEFAULT_CAMERA_MODEL,
    )  # fmt: skip
    default_latitude: str | None = setting(
        None, _optional_text, "upload_url latitude when the object does not give one",
        variable=env.DEFAULT_LATITUDE,
    )  # fmt: skip
    default_longitude: str | None = setting(
        None, _optional_text, "upload_url longitude when the object does not give one",
        variable=env.DEFAULT_LONGITUDE,
    )  # fmt: skip
    default_tags: tuple[str, ...] = setting(
        [], _string_list, "upload_url tags when the object does not give any", variable=env.DEFAULT_TAGS
    )
    default_retain_original_video: bool | None = setting(
        None, _optional_bool, "upload_url retain_original_video when the object does not say",
        variable=env.DEFAULT_RETAIN_ORIGINAL_VIDEO,
    )  # fmt: skip
    default_video_transcription_prompt: str | None = setting(
        None, _optional_text, "upload_url video_transcription_prompt when the object does not give one",
        variable=env.DEFAULT_VIDEO_TRANSCRIPTION_PROMPT,
    )  # fmt: skip
    existing_bucket_name: str | None = setting(
        None,
        _optional_pattern(_BUCKET_NAME, "an S3 bucket name"),
        "use this existing bucket instead of creating one",
    )
    source_bucket_kms_key_arns: tuple[str, ...] = setting(
        [],
        _kms_key_arns,
        "the KMS key ARN(s) an existing bucket encrypts objects with (SSE-KMS); the ingest role may"
        " kms:Decrypt with exactly these, through S3 only",
    )
    notification_source: str = setting(
        "s3",
        _one_of(NOTIFICATION_SOURCES),
        "s3 (S3 event notifications on the bucket) or eventbridge (a rule sends S3's Object Created"
        " events to the queue; the bucket's notification configuration is never touched)",
    )
    delete_at_provider: bool = setting(
        False,
        _bool,
        "an object deleted from the bucket is deleted at memories.ai too (false: an S3 delete is often"
        " housekeeping, and a provider delete cannot be undone)",
        variable=env.DELETE_AT_PROVIDER,
    )
    read_sidecars: bool = setting(
        False,
        _bool,
        "a JSON file <key>.json beside a video gives its per-object fields (one more S3 request per video)",
        variable=env.READ_SIDECARS,
    )
    api_key_secret_name: str | None = setting(
        None,
        _optional_pattern(_SECRET_NAME, "a Secrets Manager secret name"),
        "import the memories.ai API key secret by name (default: create an empty secret)",
    )
    api_key_secret_arn: str | None = setting(
        None,
        _optional_pattern(_SECRET_ARN, "a complete Secrets Manager secret ARN"),
        "import the memories.ai API key secret by ARN (at most one of the two)",
    )
    alarm_email: str | None = setting(
        None, _optional_pattern(_EMAIL, "an e-mail address"), "subscribe this address to the alarm topic"
    )
    api_throttle_rate: float = setting(
        20, _positive_number, "callback API stage throttling: requests per second"
    )
    api_throttle_burst: int = setting(40, _whole(1, 5000), "callback API stage throttling: burst")
    callback_token_ttl_seconds: int = setting(
        DEFAULT_CALLBACK_TOKEN_TTL_SECONDS,
        _whole(*CALLBACK_TOKEN_TTL_RANGE),
        "how long a callback URL is honoured",
        variable=env.CALLBACK_TOKEN_TTL_SECONDS,
        functions=(CALLBACK,),
    )
    reconcile_after_seconds: int = setting(
        DEFAULT_RECONCILE_AFTER_SECONDS,
        _whole(0, 2**31),
        "age after which reconcile asks the provider about a pending video",
        variable=env.RECONCILE_AFTER_SECONDS,
        functions=(RECONCILE,),
    )
    stuck_after_seconds: int = setting(
        DEFAULT_STUCK_AFTER_SECONDS,
        _whole(0, 2**31),
        "age after which a pending video counts as stuck (VideosStuck)",
        variable=env.STUCK_AFTER_SECONDS,
        functions=(RECONCILE,),
    )
    reconcile_schedule: str = setting(
        "rate(5 minutes)",
        _pattern(_SCHEDULE, "an EventBridge rate(...) or cron(...)"),
        "schedule of reconcile",
    )
    destroy_table_on_delete: bool = setting(
        False, _bool, "delete the status table with the stack (default: retain)"
    )
    metrics_namespace: str = setting(
        DEFAULT_METRICS_NAMESPACE,
        _metrics_namespace,
        "CloudWatch namespace of the custom metrics",
        variable=env.POWERTOOLS_METRICS_NAMESPACE,
        functions=(),
    )
    log_level: str = setting("INFO", _log_level, "DEBUG, INFO, WARNING or ERROR")

    publish_status_events: bool = setting(
        True,
        _bool,
        "every status change is published as an EventBridge event (README 'Status events'; the table's"
        " stream feeds an events function)",
    )
    event_bus_name: str | None = setting(
        None,
        _optional_text,
        "the event bus of this account and region the status events go to (default: the default bus)",
        variable=env.EVENT_BUS_NAME,
        functions=(EVENTS, RESULTS),
        as_text=_bus_name,
    )
    write_results: bool = setting(
        False,
        _bool,
        "when a video reaches PARSE, write its caption and transcription beside it as"
        " <resultsPrefix><key>.memories.json (README, 'Results beside the video'); off: none of its"
        " resources are created",
    )
    results_bucket_name: str | None = setting(
        None,
        _optional_pattern(_BUCKET_NAME, "an S3 bucket name"),
        "write the results into this existing bucket (it may be the source bucket); default: a bucket"
        " the stack creates",
    )
    results_bucket_kms_key_arn: str | None = setting(
        None,
        _optional_pattern(_KMS_KEY_ARN, "a KMS key ARN (not an alias)"),
        "the KMS key ARN resultsBucketName encrypts with by default (SSE-KMS); the results role may"
        " generate data keys with it, through S3 only",
    )
    results_prefix: str = setting(
        "",
        _results_prefix,
        "key prefix of the results documents (e.g. memories/)",
        variable=env.RESULTS_PREFIX,
        functions=(RESULTS,),
    )

    @classmethod
    def from_context(cls, try_get_context: Callable[[str], object]) -> PipelineConfig:
        """Read and validate every key; ``try_get_context`` is ``app.node.try_get_context``."""
        values = {}
        for name, spec in SETTINGS.items():
            key = context_key(name)
            given = try_get_context(key)
            values[name] = spec.read(key, spec.default if given is None else given)
        config = cls(**values)
        config._check_relations()
        config._check_function_settings()
        return config

    @property
    def imports_api_key_secret(self) -> bool:
        return self.api_key_secret_name is not None or self.api_key_secret_arn is not None

    def _context_variables(self, function: str) -> dict[str, str]:
        """The variables of ``function`` that context keys set, as the settings classes read them."""
        return {
            spec.variable: (spec.as_text or _variable_text)(getattr(self, name))
            for name, spec in SETTINGS.items()
            if spec.variable is not None and function in spec.functions
        }

    def ingest_environment(self, refs: RuntimeRefs) -> dict[str, str]:
        """Exactly what ``IngestSettings.from_env`` reads, plus what the libraries read."""
        return {
            **self._runtime_environment(),
            env.STATUS_TABLE_NAME: refs.table_name,
            env.SOURCE_BUCKET_NAME: refs.source_bucket_name,
            env.MEMORIES_API_KEY_SECRET_ID: refs.api_key_secret_id,
            env.CALLBACK_BASE_URL: refs.callback_base_url,
            env.CALLBACK_SIGNING_SECRET_ID: refs.signing_secret_id,
            env.HLS_STAGING_BUCKET_NAME: refs.hls_staging_bucket_name,
            # Not a context setting: the functions' default, written out.
            env.HLS_SETTLE_SECONDS: str(DEFAULT_HLS_SETTLE_SECONDS),
            **self._context_variables(INGEST),
            **self._provider_client_environment(),
        }

    def callback_environment(self, refs: RuntimeRefs) -> dict[str, str]:
        """Exactly what ``CallbackSettings.from_env`` reads, plus what the libraries read."""
        return {
            **self._runtime_environment(),
            env.STATUS_TABLE_NAME: refs.table_name,
            env.CALLBACK_SIGNING_SECRET_ID: refs.signing_secret_id,
            env.MEMORIES_API_KEY_SECRET_ID: refs.api_key_secret_id,
            **self._context_variables(CALLBACK),
            **self._provider_client_environment(read_timeout=DEFAULT_CALLBACK_READ_TIMEOUT_SECONDS),
        }

    def reconcile_environment(self, refs: RuntimeRefs) -> dict[str, str]:
        """Exactly what ``ReconcileSettings.from_env`` reads, plus what the libraries read."""
        return {
            **self._runtime_environment(),
            env.STATUS_TABLE_NAME: refs.table_name,
            env.MEMORIES_API_KEY_SECRET_ID: refs.api_key_secret_id,
            **self._context_variables(RECONCILE),
            **self._provider_client_environment(),
        }

    def events_environment(self) -> dict[str, str]:
        """Exactly what ``EventsSettings.from_env`` reads, plus what the libraries read."""
        return {
            **self._runtime_environment(),
            **self._context_variables(EVENTS),
        }

    @property
    def bus_name(self) -> str:
        """The bus the status events go to."""
        return _bus_name(self.event_bus_name)

    def results_environment(self, refs: RuntimeRefs, results_refs: ResultsRefs) -> dict[str, str]:
        """Exactly what ``ResultsSettings.from_env`` reads, plus what the libraries read."""
        return {
            **self._runtime_environment(),
            env.STATUS_TABLE_NAME: refs.table_name,
            env.MEMORIES_API_KEY_SECRET_ID: refs.api_key_secret_id,
            **self._context_variables(RESULTS),
            **self._provider_client_environment(),
            env.RESULTS_BUCKET_NAME: results_refs.results_bucket_name,
            env.RESULTS_QUEUE_URL: results_refs.queue_url,
            env.RESULTS_DEAD_LETTER_QUEUE_URL: results_refs.dead_letter_queue_url,
            # Not context settings: the retry schedule the queue's maxReceiveCount is sized for.
            env.RESULTS_RETRY_BASE_SECONDS: str(DEFAULT_RESULTS_RETRY_BASE_SECONDS),
            env.RESULTS_RETRY_MAX_SECONDS: str(DEFAULT_RESULTS_RETRY_MAX_SECONDS),
            env.RESULTS_MAX_WAIT_SECONDS: str(DEFAULT_RESULTS_MAX_WAIT_SECONDS),
        }

    def status_api_environment(self, refs: RuntimeRefs) -> dict[str, str]:
        """Exactly what ``StatusApiSettings.from_env`` reads, plus what the libraries read."""
        return {**self._runtime_environment(), env.STATUS_TABLE_NAME: refs.table_name}

    def _runtime_environment(self) -> dict[str, str]:
        return {
            env.AWS_DATA_PATH: LAMBDA_DATA_PATH,
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
        self._check_folder_prefixes()
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

    def _check_folder_prefixes(self) -> None:
        """A mapped prefix no notified key can start with would never apply: a mistake, said now."""
        if not self.prefixes:
            return
        for prefix, _ in self.provider_folders:
            if not any(prefix.startswith(p) or p.startswith(prefix) for p in self.prefixes):
                raise ContextError(
                    "providerFolders",
                    f"maps {prefix!r}, which no notified key can start with (prefixes: {list(self.prefixes)})",
                )

    def _check_function_settings(self) -> None:
        builders: list[
            tuple[Callable[[Mapping[str, str]], object], Callable[[RuntimeRefs], dict[str, str]]]
        ] = [
            (IngestSettings.from_env, self.ingest_environment),
            (CallbackSettings.from_env, self.callback_environment),
            (ReconcileSettings.from_env, self.reconcile_environment),
            (EventsSettings.from_env, lambda _: self.events_environment()),
            (StatusApiSettings.from_env, self.status_api_environment),
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
                key = CONTEXT_KEY_OF_VARIABLE.get(exc.name)
                if key is None:  # a variable the stack fills in itself: a bug here, not bad context
                    raise
                raise ContextError(key, f"is rejected by the functions: {exc}") from exc


def _variable_text(value: object) -> str:
    """A setting as its environment variable carries it: empty for "not set", lists comma-separated,
    booleans in lower case, ``1.0`` as ``1``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return _number_text(value)
    return str(value)


# Derived from the declarations: each field's setting, the defaults by context key, and which key
# feeds which variable (so that a value the functions reject at synth names the key to change).
SETTINGS: Final[Mapping[str, Setting]] = {f.name: f.metadata["setting"] for f in fields(PipelineConfig)}
DEFAULTS: Final[Mapping[str, object]] = {context_key(name): spec.default for name, spec in SETTINGS.items()}
CONTEXT_KEY_OF_VARIABLE: Final[Mapping[str, str]] = {
    spec.variable: context_key(name) for name, spec in SETTINGS.items() if spec.variable is not None
}
