"""Status events in the template: the table's stream, the events function's event source (ordered,
partial failures, bisect, bounded retries, an alarmed on-failure queue), PutEvents on the one bus,
and none of it with ``publishStatusEvents=false``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.adapters.dynamo import RATE_SLOT_ID
from functions.core import table as schema
from functions.core.publish import STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS
from infra.config import ContextError, PipelineConfig
from infra.constructs.events import EVENTS_HANDLER, MAX_RECORD_AGE
from tests.infra.synth import Synthesized, synthesize
from tests.infra.test_infra_template import _as_list, _policy_statements_of_role, _ref_id

pytestmark = pytest.mark.infra


def _stream_mapping(synthesized: Synthesized) -> dict[str, Any]:
    (table_id,) = synthesized.of_type("AWS::DynamoDB::Table")
    (mapping,) = [
        m["Properties"]
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    ]
    return mapping


def _put_events_resources(synthesized: Synthesized) -> dict[str, list[Any]]:
    """role id -> the resources it may events:PutEvents on."""
    found: dict[str, list[Any]] = {}
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "events:PutEvents" in _as_list(statement["Action"]):
                for role in policy["Properties"]["Roles"]:
                    found.setdefault(_ref_id(role), []).extend(_as_list(statement["Resource"]))
    return found


def _bus_arn(name: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":events:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":event-bus/{name}",
            ],
        ]
    }


def test_the_table_streams_new_and_old_images(synthesized: Synthesized) -> None:
    (table,) = synthesized.of_type("AWS::DynamoDB::Table").values()
    assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_events_function_reads_the_stream_in_order_with_partial_failures_and_bounded_retries(
    synthesized: Synthesized,
) -> None:
    function_id, _ = synthesized.function_with_handler(EVENTS_HANDLER)
    mapping = _stream_mapping(synthesized)
    assert _ref_id(mapping["FunctionName"]) == function_id
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["ParallelizationFactor"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["BatchSize"] == STREAM_BATCH_SIZE
    assert mapping["MaximumRetryAttempts"] == STREAM_RETRY_ATTEMPTS
    assert mapping["MaximumRecordAgeInSeconds"] == MAX_RECORD_AGE.to_seconds() == 86400


def test_removals_and_the_upload_gate_never_reach_the_function(synthesized: Synthesized) -> None:
    (only,) = _stream_mapping(synthesized)["FilterCriteria"]["Filters"]
    pattern = json.loads(only["Pattern"])
    assert pattern["eventName"] == ["INSERT", "MODIFY"]
    assert pattern["dynamodb"]["Keys"][schema.PARTITION_KEY] == {"S": [{"anything-but": [RATE_SLOT_ID]}]}


def test_what_is_not_published_after_every_retry_goes_to_an_alarmed_encrypted_queue(
    synthesized: Synthesized,
) -> None:
    destination = _stream_mapping(synthesized)["DestinationConfig"]["OnFailure"]["Destination"]
    queue_id = destination["Fn::GetAtt"][0]
    queue = synthesized.resources[queue_id]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    (topic_id,) = synthesized.of_type("AWS::SNS::Topic")
    alarms = [
        a["Properties"]
        for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    ]
    (alarm,) = alarms
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 1
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    # The function may send its on-failure records there; the ESM uses the function's role.
    _, function = synthesized.function_with_handler(EVENTS_HANDLER)
    statements = _policy_statements_of_role(synthesized, _ref_id(function["Properties"]["Role"]))
    assert any(
        "sqs:SendMessage" in _as_list(s["Action"]) and s["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        for s in statements
    )


def test_lagging_events_are_alarmed(synthesized: Synthesized) -> None:
    function_id, _ = synthesized.function_with_handler(EVENTS_HANDLER)
    (alarm,) = [
        a["Properties"]
        for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "IteratorAge"
    ]
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]


def test_only_the_events_function_may_put_events_and_only_on_the_default_bus(
    synthesized: Synthesized,
) -> None:
    _, function = synthesized.function_with_handler(EVENTS_HANDLER)
    assert _put_events_resources(synthesized) == {
        _ref_id(function["Properties"]["Role"]): [_bus_arn("default")]
    }
    assert function["Properties"]["Environment"]["Variables"]["EVENT_BUS_NAME"] == "default"


def test_the_stream_is_read_on_its_own_arn(synthesized: Synthesized) -> None:
    (table_id,) = synthesized.of_type("AWS::DynamoDB::Table")
    _, function = synthesized.function_with_handler(EVENTS_HANDLER)
    statements = _policy_statements_of_role(synthesized, _ref_id(function["Properties"]["Role"]))
    reads = [s for s in statements if "dynamodb:GetRecords" in _as_list(s["Action"])]
    assert [s["Resource"] for s in reads] == [{"Fn::GetAtt": [table_id, "StreamArn"]}]
    # No table access: the function only ever sees the stream's images.
    table_actions = {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    }
    assert not any(table_actions & set(_as_list(s["Action"])) for s in statements)


def test_a_named_bus_is_the_only_one_granted(tmp_path: Path) -> None:
    synthesized = synthesize(tmp_path, eventBusName="video-events")
    _, function = synthesized.function_with_handler(EVENTS_HANDLER)
    assert _put_events_resources(synthesized) == {
        _ref_id(function["Properties"]["Role"]): [_bus_arn("video-events")]
    }
    assert function["Properties"]["Environment"]["Variables"]["EVENT_BUS_NAME"] == "video-events"


def test_publish_status_events_false_removes_the_stream_the_function_and_the_grant(tmp_path: Path) -> None:
    synthesized = synthesize(tmp_path, publishStatusEvents=False)
    (table,) = synthesized.of_type("AWS::DynamoDB::Table").values()
    assert "StreamSpecification" not in table["Properties"]
    handlers = {f["Properties"].get("Handler") for f in synthesized.of_type("AWS::Lambda::Function").values()}
    assert EVENTS_HANDLER not in handlers
    assert _put_events_resources(synthesized) == {}
    assert len(synthesized.of_type("AWS::Lambda::EventSourceMapping")) == 1  # the ingest queue's
    assert "StatusEventFailuresQueueUrl" not in synthesized.template.to_json()["Outputs"]


@pytest.mark.parametrize("bad", ["arn:aws:events:us-east-1:123456789012:event-bus/x", "my bus", "x" * 257])
def test_a_bad_bus_name_fails_synth_naming_the_key(bad: str) -> None:
    context = {"eventBusName": bad}
    with pytest.raises(ContextError, match="'eventBusName'"):
        PipelineConfig.from_context(context.get)
