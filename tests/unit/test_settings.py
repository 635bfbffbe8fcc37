"""Settings: read once at cold start; a missing or malformed variable fails with its name."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from functions.core import env
from functions.core.contract import OptionalFields
from functions.core.errors import SettingsError
from functions.core.settings import (
    DEFAULT_MAX_OBJECT_BYTES,
    DEFAULT_VIDEO_SUFFIXES,
    CallbackSettings,
    IngestSettings,
    ReconcileSettings,
)
from tests.unit.fakes import CALLBACK_BASE

INGEST_ENV = {
    env.STATUS_TABLE_NAME: "videos",
    env.SOURCE_BUCKET_NAME: "uploads",
    env.MEMORIES_API_KEY_SECRET_ID: "memories/api-key",
    env.CALLBACK_BASE_URL: CALLBACK_BASE,
    env.CALLBACK_SIGNING_SECRET_ID: "memories/callback-signing",
}
CALLBACK_ENV = {
    env.STATUS_TABLE_NAME: "videos",
    env.CALLBACK_SIGNING_SECRET_ID: "memories/callback-signing",
    env.MEMORIES_API_KEY_SECRET_ID: "memories/api-key",
}
RECONCILE_ENV = {
    env.STATUS_TABLE_NAME: "videos",
    env.MEMORIES_API_KEY_SECRET_ID: "memories/api-key",
}
Loader = Callable[[dict[str, str]], object]
LOADERS: list[tuple[Loader, dict[str, str]]] = [
    (IngestSettings.from_env, INGEST_ENV),
    (CallbackSettings.from_env, CALLBACK_ENV),
    (ReconcileSettings.from_env, RECONCILE_ENV),
]
REQUIRED = [(load, environ, name) for load, environ in LOADERS for name in environ]


def refused(load: Loader, environ: dict[str, str]) -> SettingsError:
    with pytest.raises(SettingsError) as raised:
        load(environ)
    return raised.value


@pytest.mark.parametrize(("load", "environ", "name"), REQUIRED)
@pytest.mark.parametrize("absent", [None, "", "   "])
def test_a_missing_required_variable_is_named(
    load: Loader, environ: dict[str, str], name: str, absent: str | None
) -> None:
    """Given the minimal environment without one required variable (or blank), when loaded, then the error names it."""
    broken = {k: v for k, v in environ.items() if k != name}
    if absent is not None:
        broken[name] = absent
    error = refused(load, broken)
    assert error.name == name
    assert name in str(error)


def test_defaults_apply_when_only_the_required_variables_are_set() -> None:
    settings = IngestSettings.from_env(INGEST_ENV)
    assert settings.api_base_url == "https://api.memories.ai"
    assert settings.unique_id == "default"
    assert settings.presigned_url_ttl_seconds == 6 * 3600
    assert settings.video_suffixes == DEFAULT_VIDEO_SUFFIXES
    assert settings.max_object_bytes == DEFAULT_MAX_OBJECT_BYTES == 1024**3
    assert settings.uploads_per_minute == 1.0
    assert settings.secret_cache_seconds == 300
    assert settings.defaults == OptionalFields()
    assert settings.metrics_namespace == "MemoriesIngest"
    reconcile = ReconcileSettings.from_env(RECONCILE_ENV)
    assert (reconcile.reconcile_after_seconds, reconcile.stuck_after_seconds) == (900, 6 * 3600)
    callback = CallbackSettings.from_env(CALLBACK_ENV)
    assert callback.secret_cache_seconds == 300
    assert callback.token_ttl_seconds == 3 * 86400
    assert (callback.connect_timeout_seconds, callback.read_timeout_seconds) == (3.05, 8.0)


MALFORMED = [
    (env.PRESIGNED_URL_TTL_SECONDS, "six hours"),
    (env.PRESIGNED_URL_TTL_SECONDS, "59"),
    (env.PRESIGNED_URL_TTL_SECONDS, "604801"),  # beyond SigV4's 7 days
    (env.PRESIGNED_URL_TTL_SECONDS, "3600.5"),
    (env.MAX_OBJECT_BYTES, "0"),
    (env.MAX_OBJECT_BYTES, "1GB"),
    (env.UPLOADS_PER_MINUTE, "0"),
    (env.UPLOADS_PER_MINUTE, "-1"),
    (env.UPLOADS_PER_MINUTE, "nan"),
    (env.UPLOADS_PER_MINUTE, "inf"),
    (env.UPLOADS_PER_MINUTE, "fast"),
    (env.PROVIDER_CONNECT_TIMEOUT_SECONDS, "0"),
    (env.PROVIDER_READ_TIMEOUT_SECONDS, "-20"),
    (env.SECRET_CACHE_SECONDS, "-1"),
    (env.SECRET_CACHE_SECONDS, "86401"),
    (env.MEMORIES_API_BASE_URL, "api.memories.ai"),
    (env.MEMORIES_API_BASE_URL, "ftp://api.memories.ai"),
    (env.MEMORIES_API_BASE_URL, "https://api.memories.ai?x=1"),
    (env.MEMORIES_API_BASE_URL, "https://api.memories.ai#top"),
    (env.CALLBACK_BASE_URL, "not a url"),
    (env.CALLBACK_BASE_URL, "https://"),
    (env.VIDEO_SUFFIXES, ","),
    (env.VIDEO_SUFFIXES, " , "),
]


@pytest.mark.parametrize(("name", "value"), MALFORMED)
def test_a_malformed_ingest_variable_is_named(name: str, value: str) -> None:
    error = refused(IngestSettings.from_env, {**INGEST_ENV, name: value})
    assert error.name == name
    assert name in str(error)


@pytest.mark.parametrize(
    ("name", "value"),
    [(env.RECONCILE_AFTER_SECONDS, "-5"), (env.RECONCILE_AFTER_SECONDS, "soon"), (env.STUCK_AFTER_SECONDS, "x"),
     (env.STUCK_AFTER_SECONDS, str(31 * 86400))],
)  # fmt: skip
def test_a_malformed_reconcile_variable_is_named(name: str, value: str) -> None:
    assert refused(ReconcileSettings.from_env, {**RECONCILE_ENV, name: value}).name == name


def test_a_malformed_callback_variable_is_named() -> None:
    assert refused(CallbackSettings.from_env, {**CALLBACK_ENV, env.SECRET_CACHE_SECONDS: "often"}).name == (
        env.SECRET_CACHE_SECONDS
    )


@pytest.mark.parametrize(
    ("raw", "suffixes"),
    [("MP4, .Mov", (".mp4", ".mov")), (".mkv", (".mkv",)), ("mp4,,webm, ", (".mp4", ".webm"))],
)
def test_video_suffixes_are_normalized(raw: str, suffixes: tuple[str, ...]) -> None:
    assert IngestSettings.from_env({**INGEST_ENV, env.VIDEO_SUFFIXES: raw}).video_suffixes == suffixes


def test_urls_lose_their_trailing_slash() -> None:
    settings = IngestSettings.from_env(
        {
            **INGEST_ENV,
            env.CALLBACK_BASE_URL: CALLBACK_BASE + "/",
            env.MEMORIES_API_BASE_URL: "https://emu:8080/",
        }
    )
    assert settings.callback_base_url == CALLBACK_BASE
    assert settings.api_base_url == "https://emu:8080"


@pytest.mark.parametrize(
    "load", [IngestSettings.from_env, CallbackSettings.from_env, ReconcileSettings.from_env]
)
@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.memories.ai", True),
        ("http://127.0.0.1:8766", True),
        ("http://localhost:8766", True),
        ("http://api.memories.ai", False),
        ("http://127.0.0.1.evil.test", False),
        ("ftp://api.memories.ai", False),
    ],
)
def test_the_provider_is_reached_over_https_only(load: Loader, url: str, ok: bool) -> None:
    """The API key travels in every request: plain http only for a stand-in on this machine."""
    environ = {**dict(next(e for f, e in LOADERS if f == load)), env.MEMORIES_API_BASE_URL: url}
    if ok:
        load(environ)
    else:
        assert refused(load, environ).name == env.MEMORIES_API_BASE_URL


@pytest.mark.parametrize(
    ("ttl", "ok"), [("3599", False), ("3600", True), ("2592000", True), ("2592001", False)]
)
def test_the_callback_token_lifetime_is_bounded(ttl: str, ok: bool) -> None:
    environ = {**CALLBACK_ENV, env.CALLBACK_TOKEN_TTL_SECONDS: ttl}
    if ok:
        assert CallbackSettings.from_env(environ).token_ttl_seconds == int(ttl)
    else:
        assert refused(CallbackSettings.from_env, environ).name == env.CALLBACK_TOKEN_TTL_SECONDS


def test_the_callbacks_provider_timeouts_fit_api_gateways_wait() -> None:
    """API Gateway gives up after 29 s: the callback's get_metadata may take at most 15 s of it."""
    environ = {**CALLBACK_ENV, env.PROVIDER_READ_TIMEOUT_SECONDS: "20"}
    assert refused(CallbackSettings.from_env, environ).name == env.PROVIDER_READ_TIMEOUT_SECONDS


@pytest.mark.parametrize(("length", "ok"), [(195, True), (196, False), (400, False)])
def test_a_callback_base_too_long_for_the_providers_limit_is_refused(length: int, ok: bool) -> None:
    """Given a callback base of n characters, when loaded, then URLs over 299 characters are refused at cold start."""
    prefix = "https://h.test/"
    base = prefix + "p" * (length - len(prefix))
    environ = {**INGEST_ENV, env.CALLBACK_BASE_URL: base}
    if ok:
        assert IngestSettings.from_env(environ).callback_base_url == base
    else:
        assert refused(IngestSettings.from_env, environ).name == env.CALLBACK_BASE_URL


def test_default_optional_fields_are_read_and_parsed() -> None:
    settings = IngestSettings.from_env(
        {
            **INGEST_ENV,
            env.DEFAULT_CAMERA_MODEL: "Dashcam",
            env.DEFAULT_LATITUDE: "52.52",
            env.DEFAULT_LONGITUDE: "13.40",
            env.DEFAULT_TAGS: "fleet, berlin",
            env.DEFAULT_RETAIN_ORIGINAL_VIDEO: "false",
            env.DEFAULT_DATETIME_TAKEN: "2025-10-20 11:00:00",
            env.DEFAULT_VIDEO_TRANSCRIPTION_PROMPT: "Describe the road",
        }
    )
    assert settings.defaults == OptionalFields(
        datetime_taken="2025-10-20 11:00:00",
        camera_model="Dashcam",
        latitude="52.52",
        longitude="13.40",
        tags=("fleet", "berlin"),
        retain_original_video="false",
        video_transcription_prompt="Describe the road",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (env.DEFAULT_LATITUDE, "95"),
        (env.DEFAULT_LATITUDE, "north"),
        (env.DEFAULT_LONGITUDE, "1e2"),
        (env.DEFAULT_DATETIME_TAKEN, "2025-02-30 00:00:00"),
        (env.DEFAULT_CAMERA_MODEL, "c" * 201),
        (env.DEFAULT_TAGS, ",".join(f"t{i}" for i in range(20))),
        (env.DEFAULT_RETAIN_ORIGINAL_VIDEO, "maybe"),
        (env.DEFAULT_VIDEO_TRANSCRIPTION_PROMPT, "p" * 2001),
    ],
)
def test_an_invalid_default_field_is_named(name: str, value: str) -> None:
    error = refused(IngestSettings.from_env, {**INGEST_ENV, name: value})
    assert error.name == name
    assert name in str(error)
