"""Issue 14 in the template: exact table permissions per role, no token in X-Ray, versioned objects,
a table that cannot be deleted by mistake, and service principals bound to this account."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core import table as schema
from infra.config import API_GATEWAY_TIMEOUT_SECONDS, CALLBACK_TIMEOUT_SECONDS
from infra.constructs.functions import CALLBACK_HANDLER, INGEST_HANDLER, RECONCILE_HANDLER, STATUS_API_HANDLER
from infra.constructs.monitoring import UNCONFIRMED_ALARM_THRESHOLD
from tests.infra.synth import Synthesized
from tests.infra.test_infra_template import _as_list, _policy_statements_of_role, _ref_id

pytestmark = pytest.mark.infra


def _table_grants(synthesized: Synthesized, handler: str) -> dict[str, set[str]]:
    """resource (table, or index/<name>) -> the DynamoDB actions the function's role may call on it."""
    (table_id,) = synthesized.of_type("AWS::DynamoDB::Table")
    _, function = synthesized.function_with_handler(handler)
    grants: dict[str, set[str]] = {}
    for statement in _policy_statements_of_role(synthesized, _ref_id(function["Properties"]["Role"])):
        actions = {a for a in _as_list(statement["Action"]) if a.startswith("dynamodb:")}
        if not actions:
            continue
        assert statement["Effect"] == "Allow"
        for resource in _as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Fn::GetAtt" in resource:
                assert resource["Fn::GetAtt"] == [table_id, "Arn"]
                name = "table"
            else:
                parts = resource["Fn::Join"][1]
                assert parts[0]["Fn::GetAtt"] == [table_id, "Arn"]
                name = parts[1].lstrip("/")
            grants.setdefault(name, set()).update(actions)
    return grants


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        # get, create and save a record; read and move the shared upload gate; read the line.
        (
            INGEST_HANDLER,
            {
                "table": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
                f"index/{schema.LINE_INDEX}": {"dynamodb:Query"},
            },
        ),
        (
            CALLBACK_HANDLER,
            {
                "table": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
                f"index/{schema.VIDEO_NO_INDEX}": {"dynamodb:Query"},
            },
        ),
        # records found through the status index, saved with a conditional PutItem; the line's
        # length; who holds a videoNo the provider lists.
        (
            RECONCILE_HANDLER,
            {
                "table": {"dynamodb:PutItem"},
                f"index/{schema.STATUS_INDEX}": {"dynamodb:Query"},
                f"index/{schema.LINE_INDEX}": {"dynamodb:Query"},
                f"index/{schema.VIDEO_NO_INDEX}": {"dynamodb:Query"},
            },
        ),
        # read-only: a record, an object's versions, a waiting video's place in line.
        (
            STATUS_API_HANDLER,
            {
                "table": {"dynamodb:GetItem"},
                f"index/{schema.OBJECT_INDEX}": {"dynamodb:Query"},
                f"index/{schema.LINE_INDEX}": {"dynamodb:Query"},
            },
        ),
    ],
)
def test_each_role_may_call_exactly_the_dynamodb_actions_its_code_calls(
    synthesized: Synthesized, handler: str, expected: dict[str, set[str]]
) -> None:
    assert _table_grants(synthesized, handler) == expected


def test_api_gateway_does_not_trace_the_token_but_the_functions_still_trace(synthesized: Synthesized) -> None:
    (stage,) = synthesized.of_type("AWS::ApiGateway::Stage").values()
    assert stage["Properties"].get("TracingEnabled", False) is False
    for function in synthesized.of_type("AWS::Lambda::Function").values():
        if function["Properties"].get("Handler") in (
            INGEST_HANDLER,
            CALLBACK_HANDLER,
            RECONCILE_HANDLER,
            STATUS_API_HANDLER,
        ):
            assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}


def test_the_callback_answers_before_api_gateway_gives_up(synthesized: Synthesized) -> None:
    _, callback = synthesized.function_with_handler(CALLBACK_HANDLER)
    environment = callback["Properties"]["Environment"]["Variables"]
    provider_seconds = float(environment["PROVIDER_CONNECT_TIMEOUT_SECONDS"]) + float(
        environment["PROVIDER_READ_TIMEOUT_SECONDS"]
    )
    assert callback["Properties"]["Timeout"] == CALLBACK_TIMEOUT_SECONDS < API_GATEWAY_TIMEOUT_SECONDS
    assert provider_seconds + 5 <= CALLBACK_TIMEOUT_SECONDS


def test_the_source_bucket_is_versioned_and_old_versions_expire(synthesized: Synthesized) -> None:
    versioned = [
        b["Properties"]
        for b in synthesized.of_type("AWS::S3::Bucket").values()
        if b["Properties"].get("VersioningConfiguration") == {"Status": "Enabled"}
    ]
    assert len(versioned) == 1  # the source bucket; the access-log bucket only expires its logs
    rules = versioned[0]["LifecycleConfiguration"]["Rules"]
    assert any(
        r["Status"] == "Enabled" and r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays", 0) >= 7
        for r in rules
    )


def test_the_status_table_has_deletion_protection(synthesized: Synthesized) -> None:
    (table,) = synthesized.of_type("AWS::DynamoDB::Table").values()
    assert table["Properties"]["DeletionProtectionEnabled"] is True


def _service_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s for s in document["Statement"] if s["Effect"] == "Allow" and "Service" in s.get("Principal", {})
    ]


def test_service_principals_are_admitted_only_for_this_account(synthesized: Synthesized) -> None:
    documents = [
        p["Properties"]["PolicyDocument"] for p in synthesized.of_type("AWS::SQS::QueuePolicy").values()
    ]
    documents += [k["Properties"]["KeyPolicy"] for k in synthesized.of_type("AWS::KMS::Key").values()]
    statements = [s for d in documents for s in _service_statements(d)]
    services = {s["Principal"]["Service"] for s in statements}
    assert services == {"s3.amazonaws.com", "cloudwatch.amazonaws.com"}
    for statement in statements:
        condition = statement["Condition"]
        assert condition["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
        assert "aws:SourceArn" in condition["ArnLike"]


def test_the_api_key_command_keeps_the_key_off_the_command_line(synthesized: Synthesized) -> None:
    command = str(synthesized.template.to_json()["Outputs"]["PutApiKeyCommand"]["Value"])
    assert "--secret-string file://" in command
    assert "<KEY>" not in command


def test_forged_and_unconfirmed_callbacks_are_alarmed(synthesized: Synthesized) -> None:
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if "MetricName" in a["Properties"]
    }
    assert alarms["CallbacksForged"]["Threshold"] == 1
    assert alarms["CallbacksUnconfirmed"]["Threshold"] == UNCONFIRMED_ALARM_THRESHOLD
