"""Provider folders at synth: the providerFolders context map reaches the ingest function's
environment as the JSON its settings read, and a bad map stops ``cdk synth`` naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.core import env
from functions.core.folders import parse_folder_map
from functions.core.settings import IngestSettings
from infra.config import PLACEHOLDER_REFS, ContextError, PipelineConfig
from infra.constructs.functions import CALLBACK_HANDLER, INGEST_HANDLER, RECONCILE_HANDLER
from tests.infra.synth import cdk_json_context, synthesize

pytestmark = pytest.mark.infra

FOLDERS = {"customers/acme/": "acme", "customers/": "customers"}


def test_the_map_reaches_the_ingest_functions_environment(tmp_path: Path) -> None:
    synthesized = synthesize(tmp_path, providerFolders=FOLDERS)
    _, ingest = synthesized.function_with_handler(INGEST_HANDLER)
    variables = ingest["Properties"]["Environment"]["Variables"]
    assert json.loads(variables[env.PROVIDER_FOLDERS]) == FOLDERS
    # what the function reads at cold start from that value: longest prefix first
    settings = IngestSettings.from_env({**variables, **_refs()})
    assert settings.provider_folders == (("customers/acme/", "acme"), ("customers/", "customers"))
    # the other functions follow each record's own folder: they need no map
    for handler in (CALLBACK_HANDLER, RECONCILE_HANDLER):
        _, function = synthesized.function_with_handler(handler)
        assert env.PROVIDER_FOLDERS not in function["Properties"]["Environment"]["Variables"]


def _refs() -> dict[str, str]:
    """The deploy-time values (tokens in the template) as the functions would see them."""
    placeholders = PipelineConfig.from_context(cdk_json_context().get).ingest_environment(PLACEHOLDER_REFS)
    names = (
        env.STATUS_TABLE_NAME,
        env.SOURCE_BUCKET_NAME,
        env.MEMORIES_API_KEY_SECRET_ID,
        env.CALLBACK_BASE_URL,
        env.CALLBACK_SIGNING_SECRET_ID,
        env.HLS_STAGING_BUCKET_NAME,
    )
    return {name: placeholders[name] for name in names}


def test_no_map_is_an_empty_object() -> None:
    environment = PipelineConfig.from_context(cdk_json_context().get).ingest_environment(PLACEHOLDER_REFS)
    assert environment[env.PROVIDER_FOLDERS] == "{}"


def test_a_map_given_with_dash_c_is_a_json_string() -> None:
    merged = {**cdk_json_context(), "providerFolders": json.dumps(FOLDERS)}
    assert PipelineConfig.from_context(merged.get).provider_folders == parse_folder_map(json.dumps(FOLDERS))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("customers/acme/=acme", "is not JSON"),
        (["customers/acme/"], "must be an object of key prefix to folder"),
        ({"customers/acme/": "has space"}, "letters, digits"),
        ({"": "acme"}, "empty prefix"),
        ({"customers/acme/": 7}, "a folder is a string"),
    ],
)
def test_a_bad_map_stops_the_synth_with_the_key_named(value: object, message: str) -> None:
    merged = {**cdk_json_context(), "providerFolders": value}
    with pytest.raises(ContextError, match="CDK context key 'providerFolders'") as raised:
        PipelineConfig.from_context(merged.get)
    assert message in str(raised.value)


def test_a_bad_map_fails_the_synth_itself(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="providerFolders"):
        synthesize(tmp_path, providerFolders={"a/": "no/slash"})


def test_a_prefix_no_notified_key_can_start_with_is_refused() -> None:
    merged = {**cdk_json_context(), "prefixes": ["videos/"], "providerFolders": {"customers/": "c"}}
    with pytest.raises(ContextError, match="no notified key can start with"):
        PipelineConfig.from_context(merged.get)
    ok = {**merged, "providerFolders": {"videos/acme/": "acme"}}
    assert PipelineConfig.from_context(ok.get).provider_folders == (("videos/acme/", "acme"),)
