"""Context is validated at synth, and a bad value names the context key to fix."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest

from functions.core.settings import DEFAULT_CONNECT_TIMEOUT_SECONDS, DEFAULT_READ_TIMEOUT_SECONDS
from infra.app import PROJECT_ROOT
from infra.config import (
    DEFAULTS,
    INGEST_TIMEOUT_SECONDS,
    PLACEHOLDER_REFS,
    PLACEHOLDER_RESULTS_REFS,
    RECONCILE_TIMEOUT_SECONDS,
    SETTINGS,
    ContextError,
    PipelineConfig,
    context_key,
)
from tests.infra.synth import cdk_json_context

pytestmark = pytest.mark.infra


def _config(**context: object) -> PipelineConfig:
    return PipelineConfig.from_context(context.get)


def test_defaults_are_valid() -> None:
    config = _config()
    assert config.ingest_max_concurrency == 2
    assert config.prefixes == ()
    assert not config.imports_api_key_secret


def test_cdk_json_states_the_same_defaults() -> None:
    context = cdk_json_context()
    assert {key: context.get(key) for key in DEFAULTS} == dict(DEFAULTS)


def test_docs_and_declarations_describe_every_context_key() -> None:
    docs = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    for name, spec in SETTINGS.items():
        key = context_key(name)
        assert f"`{key}`" in docs, f"docs/deploy.md does not describe {key}"
        assert len(spec.doc) > 10, f"the declaration of {key} does not say what it means"


def test_a_context_key_is_its_fields_name_in_camel_case() -> None:
    assert context_key("memories_api_base_url") == "memoriesApiBaseUrl"
    assert context_key("unique_id") == "uniqueId"
    assert list(DEFAULTS)[:2] == ["memoriesApiBaseUrl", "uploadsPerMinute"]


def test_every_variable_a_context_key_feeds_reaches_a_function_that_reads_it() -> None:
    config = _config()
    environments = (
        config.ingest_environment(PLACEHOLDER_REFS),
        config.callback_environment(PLACEHOLDER_REFS),
        config.reconcile_environment(PLACEHOLDER_REFS),
        config.events_environment(),
        config.results_environment(PLACEHOLDER_REFS, PLACEHOLDER_RESULTS_REFS),
    )
    for name, spec in SETTINGS.items():
        if spec.variable is not None:
            assert any(spec.variable in e for e in environments), f"{context_key(name)} reaches no function"


def test_cli_strings_are_accepted() -> None:
    # Given values as `cdk synth -c key=value` passes them: strings
    config = _config(
        ingestBatchSize="7",
        destroyTableOnDelete="true",
        prefixes="videos/,uploads/",
        uploadsPerMinute="0.5",
        defaultTags="a,b",
    )
    assert config.ingest_batch_size == 7
    assert config.destroy_table_on_delete is True
    assert config.prefixes == ("videos/", "uploads/")
    assert config.uploads_per_minute == 0.5
    assert config.default_tags == ("a", "b")


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"ingestBatchSize": 0}, "ingestBatchSize"),
        ({"ingestBatchSize": "many"}, "ingestBatchSize"),
        ({"ingestMaxConcurrency": 1}, "ingestMaxConcurrency"),
        ({"uploadsPerMinute": -1}, "uploadsPerMinute"),
        ({"apiThrottleRate": 0}, "apiThrottleRate"),
        ({"alarmEmail": "not-an-address"}, "alarmEmail"),
        ({"existingBucketName": "Not_A_Bucket"}, "existingBucketName"),
        ({"prefixes": ["videos/", "videos/raw/"]}, "prefixes"),
        (
            {
                "apiKeySecretName": "a",
                "apiKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf",
            },
            "apiKeySecretArn",
        ),
        ({"apiKeySecretArn": "memories-key"}, "apiKeySecretArn"),
        ({"reconcileSchedule": "every 5 minutes"}, "reconcileSchedule"),
        ({"reconcileSchedule": "rate(1 minute)"}, "reconcileSchedule"),
        ({"destroyTableOnDelete": "yes please"}, "destroyTableOnDelete"),
        ({"logLevel": "LOUD"}, "logLevel"),
        ({"metricsNamespace": "Memories!"}, "metricsNamespace"),
        ({"metricsNamespace": "AWS/Lambda"}, "metricsNamespace"),
        # Rejected by the functions' own settings classes, reported under the context key:
        ({"presignedUrlTtlSeconds": 10}, "presignedUrlTtlSeconds"),
        ({"memoriesApiBaseUrl": "ftp://example.com"}, "memoriesApiBaseUrl"),
        # The API key travels in every request: a deployed stack never speaks plain http to the provider.
        ({"memoriesApiBaseUrl": "http://api.memories.ai"}, "memoriesApiBaseUrl"),
        ({"memoriesApiBaseUrl": "http://127.0.0.1:8766"}, "memoriesApiBaseUrl"),
        ({"callbackTokenTtlSeconds": 60}, "callbackTokenTtlSeconds"),
        ({"callbackTokenTtlSeconds": 31 * 86400}, "callbackTokenTtlSeconds"),
        ({"videoSuffixes": [","]}, "videoSuffixes"),
        ({"defaultDatetimeTaken": "2025-10-20T11:00:00"}, "defaultDatetimeTaken"),
        ({"defaultLatitude": 91}, "defaultLatitude"),
        ({"defaultTags": [f"t{i}" for i in range(20)]}, "defaultTags"),
        ({"defaultRetainOriginalVideo": "perhaps"}, "defaultRetainOriginalVideo"),
        ({"stuckAfterSeconds": 99 * 86400}, "stuckAfterSeconds"),
        ({"retryBaseDelaySeconds": 901}, "retryBaseDelaySeconds"),
        ({"retryBaseDelaySeconds": 120, "retryMaxDelaySeconds": 60}, "retryMaxDelaySeconds"),
    ],
)
def test_bad_context_fails_synth_naming_the_key(context: Mapping[str, object], key: str) -> None:
    with pytest.raises(ContextError, match=re.escape(f"'{key}'")) as raised:
        PipelineConfig.from_context(context.get)
    assert raised.value.key == key


def test_function_timeouts_leave_room_for_a_provider_call() -> None:
    provider_call = DEFAULT_CONNECT_TIMEOUT_SECONDS + DEFAULT_READ_TIMEOUT_SECONDS
    assert 2 * provider_call <= INGEST_TIMEOUT_SECONDS
    assert 2 * provider_call <= RECONCILE_TIMEOUT_SECONDS
