"""Issue 11 in the template: an existing bucket's SSE-KMS keys (kms:Decrypt for the ingest role on
exactly those keys, through S3 only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import ContextError, PipelineConfig
from infra.constructs.functions import CALLBACK_HANDLER, INGEST_HANDLER, RECONCILE_HANDLER, STATUS_API_HANDLER
from tests.infra.synth import Synthesized, cdk_json_context, synthesize
from tests.infra.test_infra_template import _as_list, _policy_statements_of_role, _ref_id

pytestmark = pytest.mark.infra

KEYS = (
    "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:kms:us-east-1:210987654321:key/0987dcba-09fe-87dc-65ba-ab0987654321",
)


def _kms_statements(synthesized: Synthesized, handler: str) -> list[dict[str, Any]]:
    _, function = synthesized.function_with_handler(handler)
    return [
        statement
        for statement in _policy_statements_of_role(synthesized, _ref_id(function["Properties"]["Role"]))
        if any(str(action).startswith("kms:") for action in _as_list(statement["Action"]))
    ]


@pytest.fixture(scope="module")
def with_keys(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(
        tmp_path_factory.mktemp("kms"),
        existingBucketName="my-encrypted-videos",
        sourceBucketKmsKeyArns=",".join(KEYS),
    )


def test_the_ingest_role_may_decrypt_with_exactly_the_named_keys_through_s3(with_keys: Synthesized) -> None:
    (statement,) = _kms_statements(with_keys, INGEST_HANDLER)
    assert statement["Effect"] == "Allow"
    assert _as_list(statement["Action"]) == ["kms:Decrypt"]
    assert sorted(_as_list(statement["Resource"])) == sorted(KEYS)
    via = statement["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == {"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}


@pytest.mark.parametrize("handler", [CALLBACK_HANDLER, RECONCILE_HANDLER, STATUS_API_HANDLER])
def test_no_other_role_may_use_the_keys(with_keys: Synthesized, handler: str) -> None:
    assert _kms_statements(with_keys, handler) == []


def test_without_keys_no_role_may_use_kms(synthesized: Synthesized) -> None:
    for handler in (INGEST_HANDLER, CALLBACK_HANDLER, RECONCILE_HANDLER, STATUS_API_HANDLER):
        assert _kms_statements(synthesized, handler) == []


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"existingBucketName": "my-bucket", "sourceBucketKmsKeyArns": "alias/videos"}, "not aliases"),
        (
            {"existingBucketName": "my-bucket", "sourceBucketKmsKeyArns": ["arn:aws:kms:us-east-1:1:key/x"]},
            "KMS key ARNs",
        ),
        ({"sourceBucketKmsKeyArns": [KEYS[0]]}, "only for an existing bucket"),
    ],
)
def test_bad_key_settings_stop_the_synth_with_the_key_named(
    tmp_path: Path, context: dict[str, object], message: str
) -> None:
    merged = {**cdk_json_context(), **context}
    with pytest.raises(ContextError, match="sourceBucketKmsKeyArns") as raised:
        PipelineConfig.from_context(merged.get)
    assert message in str(raised.value)


# -- EventBridge as the notification source -------------------------------------------------------


@pytest.fixture(scope="module")
def eventbridge_existing(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(
        tmp_path_factory.mktemp("eventbridge"),
        existingBucketName="someone-elses-videos",
        notificationSource="eventbridge",
        prefixes="videos/,uploads/raw/",
    )


def _s3_rules(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """The rules that match events (the others are the functions' schedules)."""
    return {
        k: v for k, v in synthesized.of_type("AWS::Events::Rule").items() if "EventPattern" in v["Properties"]
    }


def _queue_id(synthesized: Synthesized) -> str:
    (queue_id,) = [
        k for k, v in synthesized.of_type("AWS::SQS::Queue").items() if "RedrivePolicy" in v["Properties"]
    ]
    return queue_id


def test_a_rule_sends_object_created_for_the_bucket_and_prefixes_to_the_queue(
    eventbridge_existing: Synthesized,
) -> None:
    (rule,) = _s3_rules(eventbridge_existing).values()
    properties = rule["Properties"]
    assert properties["State"] == "ENABLED"
    assert "EventBusName" not in properties  # S3 sends to the default bus
    assert properties["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created", "Object Deleted"],
        "detail": {
            "bucket": {"name": ["someone-elses-videos"]},
            "object": {"key": [{"prefix": "videos/"}, {"prefix": "uploads/raw/"}]},
        },
    }
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [_queue_id(eventbridge_existing), "Arn"]}


def test_the_stack_leaves_the_existing_buckets_notifications_alone(eventbridge_existing: Synthesized) -> None:
    assert eventbridge_existing.of_type("Custom::S3BucketNotifications") == {}
    # The only bucket is the stack's own staging bucket for derived HLS playlists.
    assert [name for name in eventbridge_existing.of_type("AWS::S3::Bucket")] == [
        eventbridge_existing.stack.resolve(eventbridge_existing.stack.hls_staging.bucket.bucket_name)["Ref"]  # type: ignore[attr-defined]
    ]


def test_only_this_rule_may_send_to_the_queue(eventbridge_existing: Synthesized) -> None:
    queue_id = _queue_id(eventbridge_existing)
    (rule_id,) = _s3_rules(eventbridge_existing)
    statements = [
        statement
        for policy in eventbridge_existing.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in policy["Properties"]["Queues"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    ]
    (send,) = statements
    assert send["Principal"] == {"Service": "events.amazonaws.com"}
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    assert "s3.amazonaws.com" not in json.dumps(eventbridge_existing.template.to_json())


def test_a_created_bucket_sends_its_events_to_eventbridge(tmp_path: Path) -> None:
    synthesized = synthesize(tmp_path, notificationSource="eventbridge")
    (notifications,) = synthesized.of_type("Custom::S3BucketNotifications").values()
    assert notifications["Properties"]["NotificationConfiguration"] == {"EventBridgeConfiguration": {}}
    (rule,) = _s3_rules(synthesized).values()
    assert "object" not in rule["Properties"]["EventPattern"]["detail"]  # no prefixes: the whole bucket


def test_listing_versions_is_limited_to_the_notified_prefixes(eventbridge_existing: Synthesized) -> None:
    _, ingest = eventbridge_existing.function_with_handler(INGEST_HANDLER)
    statements = _policy_statements_of_role(eventbridge_existing, _ref_id(ingest["Properties"]["Role"]))
    (listing,) = [s for s in statements if "s3:ListBucketVersions" in _as_list(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["videos/*", "uploads/raw/*"]}}


def test_provider_deletes_are_off_unless_asked(synthesized: Synthesized, tmp_path: Path) -> None:
    _, ingest = synthesized.function_with_handler(INGEST_HANDLER)
    assert ingest["Properties"]["Environment"]["Variables"]["DELETE_AT_PROVIDER"] == "false"
    merged = {**cdk_json_context(), "deleteAtProvider": "true"}
    assert PipelineConfig.from_context(merged.get).delete_at_provider is True
