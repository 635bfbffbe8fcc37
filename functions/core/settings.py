"""Typed settings, read once at cold start from a mapping (``os.environ`` in the handlers).

Every problem is reported with the variable's name; the handlers fail their cold start with it
rather than misbehave later. Defaults live here and nowhere else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from functions.core import env
from functions.core.contract import CALLBACK_MAX_LENGTH, OptionalFields, validate_optional_fields
from functions.core.errors import SettingsError
from functions.core.folders import parse_folder_map
from functions.core.signing import callback_url_length

DEFAULT_API_BASE_URL = "https://api.memories.ai"
DEFAULT_UNIQUE_ID = "default"
DEFAULT_VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".m3u8")
# The provider's documented source limit (m3u8 above it needs its permission).
DEFAULT_MAX_OBJECT_BYTES = 1024**3
# Six hours: the provider fetches at request time and again until parsing starts, which is minutes
# for short videos; see the README for how the role's temporary credentials cap it.
DEFAULT_PRESIGNED_URL_TTL_SECONDS = 6 * 3600
SIGV4_MAX_PRESIGN_SECONDS = 7 * 24 * 3600
DEFAULT_UPLOADS_PER_MINUTE = 1.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 3.05
DEFAULT_READ_TIMEOUT_SECONDS = 20.0
DEFAULT_SECRET_CACHE_SECONDS = 300
DEFAULT_RECONCILE_AFTER_SECONDS = 15 * 60
DEFAULT_STUCK_AFTER_SECONDS = 6 * 3600
DEFAULT_METRICS_NAMESPACE = "MemoriesIngest"
# One Powertools service for the whole pipeline: the custom metrics the alarms watch (e.g.
# ProviderAuthFailure) are emitted by more than one function, and one `service` dimension lets one
# alarm cover them all. Logs and traces still carry the function name.
SERVICE_NAME = "memories-ingest"
# The status events go to the account's default event bus unless a bus is named.
DEFAULT_EVENT_BUS_NAME = "default"
# How long a callback URL is honoured. The provider calls back when it has fetched the video and
# when parsing ends: minutes for short videos, hours for long ones. Three days covers a long queue at
# the provider; whatever arrives later is caught by the reconciler, which asks get_metadata itself.
DEFAULT_CALLBACK_TOKEN_TTL_SECONDS = 3 * 86400
CALLBACK_TOKEN_TTL_RANGE = (3600, 30 * 86400)
# API Gateway gives up on the callback function after 29 s. The callback asks get_metadata once;
# its timeouts, plus Secrets Manager and DynamoDB, must fit well inside that (see infra/config.py).
DEFAULT_CALLBACK_READ_TIMEOUT_SECONDS = 8.0
CALLBACK_PROVIDER_TIMEOUT_BUDGET_SECONDS = 15.0
# Plain http is only for a provider stand-in on this machine (the local stack's emulator).
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_RETRY_BASE_DELAY_SECONDS = 30
# The longest the line waits between two tries (a bad key, no credit), and the default for it.
MAX_RETRY_DELAY_SECONDS = 900
# The ingest function's schedule: every minute it submits what is due. A tick waits up to this long
# for the next slot, so a slot between two ticks is never left unused.
INGEST_SCHEDULE_SECONDS = 60
# How long an .m3u8 waits after its upload before its turn, so the rest of its HLS set has arrived.
DEFAULT_HLS_SETTLE_SECONDS = 30
# Beyond the provider's timeouts, what one submission may take (object check, presign, writes).
SUBMISSION_OVERHEAD_SECONDS = 15

# Each function's timeout, deployed (infra) and local (devstack) alike.
# A scheduled ingest run waits up to one schedule period (60 s) for the next upload slot, then makes
# the call, bounded by the connect + read timeouts (about 23 s with the functions' defaults) plus
# S3, DynamoDB and Secrets Manager around it; 120 s holds both. A test keeps the relation.
INGEST_TIMEOUT_SECONDS = 120
# API Gateway gives up on the integration after 29 s. The callback checks a token, asks get_metadata
# once (connect 3.05 s + read 8 s at most, CALLBACK_PROVIDER_TIMEOUT_BUDGET_SECONDS) and writes one
# item; 20 s leaves room for Secrets Manager and DynamoDB and still answers before 29 s.
CALLBACK_TIMEOUT_SECONDS = 20
# Reconcile may query the provider for many videos; it must finish before the next scheduled run
# so that two runs never resubmit the same video (infra.config checks it for rate()).
RECONCILE_TIMEOUT_SECONDS = 240
# The events function puts at most ten PutEvents requests per batch, each retried by botocore.
EVENTS_TIMEOUT_SECONDS = 60
# The status API reads at most 101 index entries and 100 items (functions.core.views.MAX_VERSIONS);
# 10 s is far more than that takes and well before API Gateway's 29 s.
STATUS_API_TIMEOUT_SECONDS = 10
# The results function: per job two paced provider calls (each at most connect 3.05 s + read 20 s),
# and get_metadata when not ready, plus DynamoDB, S3 and EventBridge; two jobs per batch fit.
RESULTS_TIMEOUT_SECONDS = 180
# Results jobs' retries: first delay, longest delay (SQS allows 12 h), the longest a job may wait in all.
DEFAULT_RESULTS_RETRY_BASE_SECONDS = 60
DEFAULT_RESULTS_RETRY_MAX_SECONDS = 3600
DEFAULT_RESULTS_MAX_WAIT_SECONDS = 86400
MAX_VISIBILITY_SECONDS = 12 * 3600
FUNCTION_TIMEOUT_SECONDS = {
    "ingest": INGEST_TIMEOUT_SECONDS,
    "callback": CALLBACK_TIMEOUT_SECONDS,
    "reconcile": RECONCILE_TIMEOUT_SECONDS,
    "events": EVENTS_TIMEOUT_SECONDS,
    "status_api": STATUS_API_TIMEOUT_SECONDS,
    "results": RESULTS_TIMEOUT_SECONDS,
}

T = TypeVar("T")


def _raw(environ: Mapping[str, str], name: str, default: str | None) -> str:
    value = environ.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise SettingsError(name, "is required but not set")
    return default


def _parse(environ: Mapping[str, str], name: str, default: str | None, parse: Callable[[str], T]) -> T:
    raw = _raw(environ, name, default)
    try:
        return parse(raw)
    except ValueError as exc:
        raise SettingsError(name, f"is malformed ({raw!r}): {exc}") from exc


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value) or value <= 0:
        raise ValueError("must be a positive number")
    return value


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return raw.rstrip("/")


def _suffixes(raw: str) -> tuple[str, ...]:
    items = tuple(
        s if s.startswith(".") else f".{s}" for s in (p.strip().lower() for p in raw.split(",")) if s
    )
    if not items:
        raise ValueError("must list at least one suffix, e.g. .mp4,.mov")
    return items


def video_suffixes(environ: Mapping[str, str]) -> tuple[str, ...]:
    """``VIDEO_SUFFIXES``: the key endings taken for videos (ingest, and the backfill's filter)."""
    return _parse(environ, env.VIDEO_SUFFIXES, ",".join(DEFAULT_VIDEO_SUFFIXES), _suffixes)


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError("must be true or false")
    return lowered == "true"


def _required(environ: Mapping[str, str], name: str) -> str:
    return _raw(environ, name, None)


def _provider_url(raw: str) -> str:
    url = _http_url(raw)
    parts = urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ValueError("must be https (http only for a server on this machine, e.g. http://127.0.0.1)")
    return url


# Variables read by more than one function: one rule each.
def _api_base_url(environ: Mapping[str, str]) -> str:
    return _parse(environ, env.MEMORIES_API_BASE_URL, DEFAULT_API_BASE_URL, _provider_url)


def _unique_id(environ: Mapping[str, str]) -> str:
    return _raw(environ, env.MEMORIES_UNIQUE_ID, DEFAULT_UNIQUE_ID)


def _connect_timeout(environ: Mapping[str, str]) -> float:
    return _parse(
        environ, env.PROVIDER_CONNECT_TIMEOUT_SECONDS, str(DEFAULT_CONNECT_TIMEOUT_SECONDS), _positive_float
    )


def _read_timeout(environ: Mapping[str, str], default: float = DEFAULT_READ_TIMEOUT_SECONDS) -> float:
    return _parse(environ, env.PROVIDER_READ_TIMEOUT_SECONDS, str(default), _positive_float)


def _secret_cache(environ: Mapping[str, str]) -> int:
    return _parse(
        environ, env.SECRET_CACHE_SECONDS, str(DEFAULT_SECRET_CACHE_SECONDS), _bounded_int(0, 86400)
    )


def _metrics_namespace(environ: Mapping[str, str]) -> str:
    # Powertools reads this variable itself but refuses to flush without it; a default keeps a
    # forgotten variable from failing every invocation.
    return _raw(environ, env.POWERTOOLS_METRICS_NAMESPACE, DEFAULT_METRICS_NAMESPACE)


@dataclass(frozen=True, slots=True)
class ProviderClientSettings:
    """What every function that calls memories.ai reads (ingest, callback, reconcile, results),
    described once: the functions' settings extend it."""

    api_base_url: str
    api_key_secret_id: str
    unique_id: str
    connect_timeout_seconds: float
    read_timeout_seconds: float
    secret_cache_seconds: int

    @staticmethod
    def read(
        environ: Mapping[str, str], read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS
    ) -> dict[str, Any]:
        """The provider client's values from ``environ``, as keyword arguments of a subclass."""
        return {
            "api_base_url": _api_base_url(environ),
            "api_key_secret_id": _required(environ, env.MEMORIES_API_KEY_SECRET_ID),
            "unique_id": _unique_id(environ),
            "connect_timeout_seconds": _connect_timeout(environ),
            "read_timeout_seconds": _read_timeout(environ, read_timeout),
            "secret_cache_seconds": _secret_cache(environ),
        }


def _upload_defaults(environ: Mapping[str, str]) -> OptionalFields:
    """The upload_url fields sent when an object does not give them, validated as the provider's."""
    defaults = OptionalFields.from_strings(
        datetime_taken=environ.get(env.DEFAULT_DATETIME_TAKEN),
        camera_model=environ.get(env.DEFAULT_CAMERA_MODEL),
        latitude=environ.get(env.DEFAULT_LATITUDE),
        longitude=environ.get(env.DEFAULT_LONGITUDE),
        tags=environ.get(env.DEFAULT_TAGS),
        retain_original_video=environ.get(env.DEFAULT_RETAIN_ORIGINAL_VIDEO),
        video_transcription_prompt=environ.get(env.DEFAULT_VIDEO_TRANSCRIPTION_PROMPT),
    )
    problems = validate_optional_fields(defaults)
    if problems:
        field, reason = problems[0]
        raise SettingsError(f"DEFAULT_{field.upper()}", reason)
    return defaults


def _submission_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """What decides what is submitted and how fast: limits, rate, retries."""
    return {
        "presigned_url_ttl_seconds": _parse(
            environ,
            env.PRESIGNED_URL_TTL_SECONDS,
            str(DEFAULT_PRESIGNED_URL_TTL_SECONDS),
            _bounded_int(60, SIGV4_MAX_PRESIGN_SECONDS),
        ),
        "video_suffixes": video_suffixes(environ),
        "max_object_bytes": _parse(
            environ, env.MAX_OBJECT_BYTES, str(DEFAULT_MAX_OBJECT_BYTES), _bounded_int(1, 5 * 1024**4)
        ),
        "uploads_per_minute": _parse(
            environ, env.UPLOADS_PER_MINUTE, str(DEFAULT_UPLOADS_PER_MINUTE), _positive_float
        ),
        "retry_base_delay_seconds": _parse(
            environ,
            env.RETRY_BASE_DELAY_SECONDS,
            str(DEFAULT_RETRY_BASE_DELAY_SECONDS),
            _bounded_int(1, MAX_RETRY_DELAY_SECONDS),
        ),
        "retry_max_delay_seconds": _parse(
            environ,
            env.RETRY_MAX_DELAY_SECONDS,
            str(MAX_RETRY_DELAY_SECONDS),
            _bounded_int(1, MAX_RETRY_DELAY_SECONDS),
        ),
    }


@dataclass(frozen=True, slots=True)
class IngestSettings(ProviderClientSettings):
    table_name: str
    source_bucket: str
    callback_base_url: str
    signing_secret_id: str
    presigned_url_ttl_seconds: int
    video_suffixes: tuple[str, ...]
    max_object_bytes: int
    uploads_per_minute: float
    retry_base_delay_seconds: int
    retry_max_delay_seconds: int
    defaults: OptionalFields
    metrics_namespace: str
    # An object deleted from the bucket is deleted at memories.ai too (functions.core.deletes).
    delete_at_provider: bool = False
    # Each video's <key>.json sidecar is read at its turn (one more S3 request per video).
    read_sidecars: bool = False
    # Key prefix -> provider folder (unique_id), longest prefix first (functions.core.folders).
    provider_folders: tuple[tuple[str, str], ...] = ()
    # Where derived HLS playlists are written; None: playlists with relative URIs are refused.
    hls_staging_bucket: str | None = None
    hls_settle_seconds: int = DEFAULT_HLS_SETTLE_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> IngestSettings:
        settings = cls(
            **ProviderClientSettings.read(environ),
            **_submission_values(environ),
            table_name=_required(environ, env.STATUS_TABLE_NAME),
            source_bucket=_required(environ, env.SOURCE_BUCKET_NAME),
            callback_base_url=_parse(environ, env.CALLBACK_BASE_URL, None, _http_url),
            signing_secret_id=_required(environ, env.CALLBACK_SIGNING_SECRET_ID),
            defaults=_upload_defaults(environ),
            metrics_namespace=_metrics_namespace(environ),
            delete_at_provider=_parse(environ, env.DELETE_AT_PROVIDER, "false", _boolean),
            read_sidecars=_parse(environ, env.READ_SIDECARS, "false", _boolean),
            provider_folders=_parse(environ, env.PROVIDER_FOLDERS, "{}", parse_folder_map),
            hls_staging_bucket=environ.get(env.HLS_STAGING_BUCKET_NAME, "").strip() or None,
            hls_settle_seconds=_parse(
                environ, env.HLS_SETTLE_SECONDS, str(DEFAULT_HLS_SETTLE_SECONDS), _bounded_int(0, 3600)
            ),
        )
        if settings.retry_max_delay_seconds < settings.retry_base_delay_seconds:
            raise SettingsError(
                env.RETRY_MAX_DELAY_SECONDS, f"must be at least {env.RETRY_BASE_DELAY_SECONDS}"
            )
        if callback_url_length(settings.callback_base_url) > CALLBACK_MAX_LENGTH:
            raise SettingsError(
                env.CALLBACK_BASE_URL,
                f"is too long: callback URLs built on it would exceed the provider's {CALLBACK_MAX_LENGTH}"
                " characters",
            )
        return settings

    @property
    def submission_seconds(self) -> float:
        """The longest one submission takes: its lease, and what a drainer keeps before its deadline."""
        return self.connect_timeout_seconds + self.read_timeout_seconds + SUBMISSION_OVERHEAD_SECONDS


@dataclass(frozen=True, slots=True)
class CallbackSettings(ProviderClientSettings):
    table_name: str
    signing_secret_id: str
    token_ttl_seconds: int
    metrics_namespace: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CallbackSettings:
        settings = cls(
            table_name=_required(environ, env.STATUS_TABLE_NAME),
            signing_secret_id=_required(environ, env.CALLBACK_SIGNING_SECRET_ID),
            token_ttl_seconds=_parse(
                environ,
                env.CALLBACK_TOKEN_TTL_SECONDS,
                str(DEFAULT_CALLBACK_TOKEN_TTL_SECONDS),
                _bounded_int(*CALLBACK_TOKEN_TTL_RANGE),
            ),
            **ProviderClientSettings.read(environ, DEFAULT_CALLBACK_READ_TIMEOUT_SECONDS),
            metrics_namespace=_metrics_namespace(environ),
        )
        if (
            settings.connect_timeout_seconds + settings.read_timeout_seconds
            > CALLBACK_PROVIDER_TIMEOUT_BUDGET_SECONDS
        ):
            raise SettingsError(
                env.PROVIDER_READ_TIMEOUT_SECONDS,
                f"plus {env.PROVIDER_CONNECT_TIMEOUT_SECONDS} must not exceed "
                f"{CALLBACK_PROVIDER_TIMEOUT_BUDGET_SECONDS:g} s for the callback (API Gateway waits 29 s)",
            )
        return settings


@dataclass(frozen=True, slots=True)
class ReconcileSettings(ProviderClientSettings):
    table_name: str
    reconcile_after_seconds: int
    stuck_after_seconds: int
    metrics_namespace: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReconcileSettings:
        return cls(
            table_name=_required(environ, env.STATUS_TABLE_NAME),
            reconcile_after_seconds=_parse(
                environ,
                env.RECONCILE_AFTER_SECONDS,
                str(DEFAULT_RECONCILE_AFTER_SECONDS),
                _bounded_int(0, 30 * 86400),
            ),
            stuck_after_seconds=_parse(
                environ,
                env.STUCK_AFTER_SECONDS,
                str(DEFAULT_STUCK_AFTER_SECONDS),
                _bounded_int(0, 30 * 86400),
            ),
            **ProviderClientSettings.read(environ),
            metrics_namespace=_metrics_namespace(environ),
        )


def _event_bus_name(raw: str) -> str:
    # EventBridge's rule for a bus name; not an ARN: the function's grant names a bus of its account.
    if not re.fullmatch(r"[A-Za-z0-9._\-/]{1,256}", raw):
        raise ValueError("must be an event bus name (letters, digits, . _ - /), not an ARN")
    return raw


# Results beside the video (functions.core.results); the queue's shape depends on these.
RESULTS_PREFIX_MAX_LENGTH = 512


def _results_prefix(raw: str) -> str:
    if len(raw) > RESULTS_PREFIX_MAX_LENGTH or not raw.isprintable():
        raise ValueError(f"must be printable and at most {RESULTS_PREFIX_MAX_LENGTH} characters")
    return raw


@dataclass(frozen=True, slots=True)
class EventsSettings:
    """The events function: status changes from the table's stream, published to ``event_bus_name``."""

    event_bus_name: str
    metrics_namespace: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EventsSettings:
        return cls(
            event_bus_name=_parse(environ, env.EVENT_BUS_NAME, DEFAULT_EVENT_BUS_NAME, _event_bus_name),
            metrics_namespace=_metrics_namespace(environ),
        )


@dataclass(frozen=True, slots=True)
class StatusApiSettings:
    """The status read API: it only reads the status table."""

    table_name: str
    metrics_namespace: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StatusApiSettings:
        return cls(
            table_name=_required(environ, env.STATUS_TABLE_NAME),
            metrics_namespace=_metrics_namespace(environ),
        )


@dataclass(frozen=True, slots=True)
class ResultsSettings(ProviderClientSettings):
    table_name: str
    metrics_namespace: str
    results_bucket: str
    results_prefix: str
    queue_url: str
    dead_letter_queue_url: str
    event_bus_name: str
    retry_base_seconds: int
    retry_max_seconds: int
    max_wait_seconds: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ResultsSettings:
        def seconds(name: str, default: int, high: int) -> int:
            return _parse(environ, name, str(default), _bounded_int(1, high))

        settings = cls(
            table_name=_required(environ, env.STATUS_TABLE_NAME),
            **ProviderClientSettings.read(environ),
            metrics_namespace=_metrics_namespace(environ),
            results_bucket=_required(environ, env.RESULTS_BUCKET_NAME),
            # Empty is a valid prefix: the document then sits right beside the key's path.
            results_prefix=_results_prefix(environ.get(env.RESULTS_PREFIX, "")),
            queue_url=_parse(environ, env.RESULTS_QUEUE_URL, None, _http_url),
            dead_letter_queue_url=_parse(environ, env.RESULTS_DEAD_LETTER_QUEUE_URL, None, _http_url),
            event_bus_name=_parse(environ, env.EVENT_BUS_NAME, DEFAULT_EVENT_BUS_NAME, _event_bus_name),
            retry_base_seconds=seconds(
                env.RESULTS_RETRY_BASE_SECONDS,
                DEFAULT_RESULTS_RETRY_BASE_SECONDS,
                MAX_VISIBILITY_SECONDS,
            ),
            retry_max_seconds=seconds(
                env.RESULTS_RETRY_MAX_SECONDS,
                DEFAULT_RESULTS_RETRY_MAX_SECONDS,
                MAX_VISIBILITY_SECONDS,
            ),
            max_wait_seconds=seconds(
                env.RESULTS_MAX_WAIT_SECONDS, DEFAULT_RESULTS_MAX_WAIT_SECONDS, 14 * 86400
            ),
        )
        if settings.retry_max_seconds < settings.retry_base_seconds:
            raise SettingsError(
                env.RESULTS_RETRY_MAX_SECONDS, f"must be at least {env.RESULTS_RETRY_BASE_SECONDS}"
            )
        return settings
