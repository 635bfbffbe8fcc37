"""The status read API in the template: IAM-authorized GET routes beside the unchanged callback route,
a read-only role, the by-object index, and the outputs a caller needs (URL and the ARN to grant)."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core import table as schema
from infra.constructs.functions import CALLBACK_HANDLER, STATUS_API_HANDLER
from tests.infra.synth import Synthesized
from tests.infra.test_infra_template import _as_list, _policy_statements_of_role, _ref_id

pytestmark = pytest.mark.infra


def _path_of(synthesized: Synthesized, resource_id: str) -> str:
    resources = synthesized.of_type("AWS::ApiGateway::Resource")
    parts: list[str] = []
    while resource_id in resources:
        properties = resources[resource_id]["Properties"]
        parts.insert(0, properties["PathPart"])
        parent = properties["ParentId"]
        resource_id = _ref_id(parent) if "Ref" in parent else ""
    return "/" + "/".join(parts)


def _methods(synthesized: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (_path_of(synthesized, _ref_id(m["Properties"]["ResourceId"])), m["Properties"]["HttpMethod"]): m[
            "Properties"
        ]
        for m in synthesized.of_type("AWS::ApiGateway::Method").values()
    }


def _integrated_function(method: dict[str, Any]) -> str:
    """The logical id of the function a proxy integration invokes."""
    uri = method["Integration"]["Uri"]["Fn::Join"][1]
    (target,) = [part for part in uri if isinstance(part, dict) and "Fn::GetAtt" in part]
    return str(target["Fn::GetAtt"][0])


def test_the_api_has_the_callback_route_unchanged_and_two_iam_authorized_get_routes(
    synthesized: Synthesized,
) -> None:
    methods = _methods(synthesized)
    authorization = {route: m["AuthorizationType"] for route, m in methods.items()}

    assert authorization == {
        ("/callbacks/{video_id}", "POST"): "NONE",
        ("/videos", "GET"): "AWS_IAM",
        ("/videos/{video_id}", "GET"): "AWS_IAM",
    }
    status_id, _ = synthesized.function_with_handler(STATUS_API_HANDLER)
    callback_id, _ = synthesized.function_with_handler(CALLBACK_HANDLER)
    assert _integrated_function(methods[("/videos", "GET")]) == status_id
    assert _integrated_function(methods[("/videos/{video_id}", "GET")]) == status_id
    assert _integrated_function(methods[("/callbacks/{video_id}", "POST")]) == callback_id
    for route in (("/videos", "GET"), ("/videos/{video_id}", "GET")):
        assert methods[route]["Integration"]["Type"] == "AWS_PROXY"
        assert "AuthorizerId" not in methods[route] and "ApiKeyRequired" not in methods[route]


def test_api_gateway_may_invoke_the_status_function_only_from_its_get_routes(
    synthesized: Synthesized,
) -> None:
    status_id, _ = synthesized.function_with_handler(STATUS_API_HANDLER)
    permissions = [
        p["Properties"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if _ref_id(p["Properties"]["FunctionName"]) == status_id
    ]
    assert permissions
    for permission in permissions:
        assert permission["Principal"] == "apigateway.amazonaws.com"
        source = "".join(
            p if isinstance(p, str) else "<token>" for p in permission["SourceArn"]["Fn::Join"][1]
        )
        assert source.endswith(("/GET/videos", "/GET/videos/*")), source


def test_the_status_role_only_reads_the_table(synthesized: Synthesized) -> None:
    _, function = synthesized.function_with_handler(STATUS_API_HANDLER)
    actions = {
        action
        for statement in _policy_statements_of_role(synthesized, _ref_id(function["Properties"]["Role"]))
        for action in _as_list(statement["Action"])
    }
    assert {a for a in actions if not a.startswith(("logs:", "xray:"))} == {
        "dynamodb:GetItem",
        "dynamodb:Query",
    }
    assert not {a for a in actions if a.startswith(("secretsmanager:", "kms:", "s3:", "sqs:"))}


def test_the_by_object_index_holds_keys_only(synthesized: Synthesized) -> None:
    (table,) = synthesized.of_type("AWS::DynamoDB::Table").values()
    (index,) = [
        i for i in table["Properties"]["GlobalSecondaryIndexes"] if i["IndexName"] == schema.OBJECT_INDEX
    ]
    assert index["KeySchema"] == [
        {"AttributeName": schema.OBJECT_INDEX_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": schema.OBJECT_INDEX_SORT_KEY, "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_the_stack_states_the_status_url_and_the_resource_to_grant(synthesized: Synthesized) -> None:
    outputs = synthesized.template.to_json()["Outputs"]

    url = outputs["StatusApiUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "https://" and url[-1].endswith("/videos")
    arn = outputs["StatusApiInvokeArn"]["Value"]["Fn::Join"][1]
    assert "execute-api" in "".join(p for p in arn if isinstance(p, str))
    assert arn[-1].endswith("/GET/videos*")
