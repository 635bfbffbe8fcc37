"""The synthesized template has the properties the pipeline's security and reliability rest on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from functions.core import table as schema
from functions.core.settings import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_READ_TIMEOUT_SECONDS,
    INGEST_SCHEDULE_SECONDS,
    SUBMISSION_OVERHEAD_SECONDS,
)
from functions.core.status import PROVIDER_STATUS_MAX_LENGTH
from infra.config import DEFAULTS, INGEST_TIMEOUT_SECONDS
from infra.constructs.callback_api import VIDEO_ID_PARAMETER
from infra.constructs.events import EVENTS_HANDLER
from infra.constructs.functions import CALLBACK_HANDLER, INGEST_HANDLER, RECONCILE_HANDLER, STATUS_API_HANDLER
from infra.constructs.monitoring import ALARMED_METRICS, UNCONFIRMED_METRIC
from infra.constructs.storage import MAX_RECEIVE_COUNT
from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra

OUR_HANDLERS = (INGEST_HANDLER, CALLBACK_HANDLER, RECONCILE_HANDLER, EVENTS_HANDLER, STATUS_API_HANDLER)


def _denies_insecure_transport(policy_document: dict[str, Any]) -> bool:
    return any(
        statement["Effect"] == "Deny"
        and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for statement in policy_document["Statement"]
    )


def _ref_id(value: Any) -> str:
    """The logical id a Ref or Fn::GetAtt points at."""
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


def _policy_statements_of_role(synthesized: Synthesized, role_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        if any(_ref_id(role) == role_id for role in policy["Properties"]["Roles"]):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert statements, f"no policy attached to {role_id}"
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# Given the default context, When the app is synthesized, Then ...


def test_buckets_are_encrypted_private_and_ssl_only(synthesized: Synthesized) -> None:
    buckets = synthesized.of_type("AWS::S3::Bucket")
    assert len(buckets) == 3  # the source bucket, its access-log bucket, the HLS staging bucket
    for bucket in buckets.values():
        properties = bucket["Properties"]
        rules = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    bucket_policies = synthesized.of_type("AWS::S3::BucketPolicy").values()
    ssl_only = {
        _ref_id(p["Properties"]["Bucket"])
        for p in bucket_policies
        if _denies_insecure_transport(p["Properties"]["PolicyDocument"])
    }
    assert ssl_only == set(buckets)


def test_source_bucket_logs_to_the_access_log_bucket(synthesized: Synthesized) -> None:
    logged = [
        b
        for b in synthesized.of_type("AWS::S3::Bucket").values()
        if "LoggingConfiguration" in b["Properties"]
    ]
    assert len(logged) == 2  # the source bucket and the HLS staging bucket
    assert all("DestinationBucketName" in b["Properties"]["LoggingConfiguration"] for b in logged)


def test_every_object_created_and_removed_event_reaches_the_queue(synthesized: Synthesized) -> None:
    (notifications,) = synthesized.of_type("Custom::S3BucketNotifications").values()
    configurations = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert sorted(c["Events"][0] for c in configurations) == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    for configuration in configurations:
        # no prefixes by default: the whole bucket; suffixes are ingest's job
        assert "Filter" not in configuration


def test_queues_are_encrypted_ssl_only_and_redrive_to_the_dlq(synthesized: Synthesized) -> None:
    queues = synthesized.of_type("AWS::SQS::Queue")
    assert len(queues) == 3  # ingest, its dead-letter queue, the status events' on-failure queue
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 86400
    queue_policies = synthesized.of_type("AWS::SQS::QueuePolicy").values()
    ssl_only = {
        _ref_id(queue)
        for p in queue_policies
        if _denies_insecure_transport(p["Properties"]["PolicyDocument"])
        for queue in p["Properties"]["Queues"]
    }
    assert ssl_only == set(queues)
    (source,) = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    redrive = source["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == MAX_RECEIVE_COUNT
    assert _ref_id(redrive["deadLetterTargetArn"]) in queues


def test_visibility_timeout_is_at_least_six_ingest_timeouts(synthesized: Synthesized) -> None:
    _, ingest = synthesized.function_with_handler(INGEST_HANDLER)
    (source,) = [
        q for q in synthesized.of_type("AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"]
    ]
    assert ingest["Properties"]["Timeout"] == INGEST_TIMEOUT_SECONDS
    assert source["Properties"]["VisibilityTimeout"] >= 6 * ingest["Properties"]["Timeout"]


def test_ingest_reads_the_queue_with_partial_failures_and_bounded_concurrency(
    synthesized: Synthesized,
) -> None:
    ingest_id, _ = synthesized.function_with_handler(INGEST_HANDLER)
    (mapping,) = [
        m
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if _ref_id(m["Properties"]["FunctionName"]) == ingest_id
    ]
    properties = mapping["Properties"]
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ScalingConfig"] == {"MaximumConcurrency": DEFAULTS["ingestMaxConcurrency"]}
    assert properties["BatchSize"] == DEFAULTS["ingestBatchSize"]


def test_functions_run_python_3_13_on_arm64_with_json_logs_and_tracing(synthesized: Synthesized) -> None:
    for handler in OUR_HANDLERS:
        _, function = synthesized.function_with_handler(handler)
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == ["arm64"]
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        assert properties["TracingConfig"] == {"Mode": "Active"}
    _, ingest = synthesized.function_with_handler(INGEST_HANDLER)
    assert ingest["Properties"]["MemorySize"] == 256


def _callback_method(synthesized: Synthesized) -> dict[str, Any]:
    (method,) = [
        m
        for m in synthesized.of_type("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
    ]
    return method


def test_api_has_only_post_on_the_callback_route(synthesized: Synthesized) -> None:
    # (the status API's GET routes beside it: tests/infra/test_infra_status_api.py)
    method = _callback_method(synthesized)
    properties = method["Properties"]
    assert properties["HttpMethod"] == "POST"
    assert properties["AuthorizationType"] == "NONE"
    assert properties["Integration"]["Type"] == "AWS_PROXY"
    resources = synthesized.of_type("AWS::ApiGateway::Resource")
    leaf = resources[_ref_id(properties["ResourceId"])]["Properties"]
    assert leaf["PathPart"] == f"{{{VIDEO_ID_PARAMETER}}}"
    parent = resources[_ref_id(leaf["ParentId"])]["Properties"]
    assert parent["PathPart"] == "callbacks"
    assert parent["ParentId"]["Fn::GetAtt"][1] == "RootResourceId"


def test_api_validates_a_bounded_callback_body(synthesized: Synthesized) -> None:
    method = _callback_method(synthesized)
    (validator,) = synthesized.of_type("AWS::ApiGateway::RequestValidator").values()
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert _ref_id(method["Properties"]["RequestValidatorId"]) in synthesized.of_type(
        "AWS::ApiGateway::RequestValidator"
    )
    (model,) = synthesized.of_type("AWS::ApiGateway::Model").values()
    schema_ = model["Properties"]["Schema"]
    assert schema_["required"] == ["videoNo", "status"]
    assert schema_["properties"]["videoNo"]["maxLength"] == 64
    assert (
        schema_["properties"]["status"]["maxLength"] == PROVIDER_STATUS_MAX_LENGTH == 32
    )  # the function refuses longer ones too
    assert schema_["properties"]["clientId"]["maxLength"] == 128


def test_stage_is_throttled_untraced_and_logs_no_query_string(synthesized: Synthesized) -> None:
    (stage,) = synthesized.of_type("AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    assert properties.get("TracingEnabled", False) is False  # its segments would record ?token=
    (settings,) = properties["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == DEFAULTS["apiThrottleRate"]
    assert settings["ThrottlingBurstLimit"] == DEFAULTS["apiThrottleBurst"]
    log_format = properties["AccessLogSetting"]["Format"]
    fields = json.loads(log_format)  # JSON lines
    assert fields["resourcePath"] == "$context.resourcePath"
    for leak in ("$context.path", "querystring", "$input", "$method.request", "requestOverride"):
        assert leak not in log_format


def test_status_table_is_retained_recoverable_encrypted_and_indexed(synthesized: Synthesized) -> None:
    (table_id, table), *others = synthesized.of_type("AWS::DynamoDB::Table").items()
    assert not others
    assert table["DeletionPolicy"] == "Retain"
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True}
    assert properties["KeySchema"] == [{"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"}]
    indexes = {index["IndexName"]: index["KeySchema"] for index in properties["GlobalSecondaryIndexes"]}
    assert indexes == {
        schema.STATUS_INDEX: [
            {"AttributeName": schema.STATUS_INDEX_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": schema.STATUS_INDEX_SORT_KEY, "KeyType": "RANGE"},
        ],
        schema.VIDEO_NO_INDEX: [{"AttributeName": schema.VIDEO_NO_INDEX_PARTITION_KEY, "KeyType": "HASH"}],
        schema.LINE_INDEX: [
            {"AttributeName": schema.LINE_INDEX_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": schema.LINE_INDEX_SORT_KEY, "KeyType": "RANGE"},
        ],
        schema.OBJECT_INDEX: [
            {"AttributeName": schema.OBJECT_INDEX_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": schema.OBJECT_INDEX_SORT_KEY, "KeyType": "RANGE"},
        ],
    }
    line = next(i for i in properties["GlobalSecondaryIndexes"] if i["IndexName"] == schema.LINE_INDEX)
    assert line["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": list(schema.LINE_INDEX_PROJECTED),
    }
    assert table_id


def test_the_ingest_function_runs_every_minute_and_can_wait_a_minute_for_its_slot(
    synthesized: Synthesized,
) -> None:
    ingest_id, ingest = synthesized.function_with_handler(INGEST_HANDLER)
    rules = [
        rule["Properties"]
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        if any(ingest_id in json.dumps(target["Arn"]) for target in rule["Properties"]["Targets"])
    ]
    assert [rule["ScheduleExpression"] for rule in rules] == [f"rate({INGEST_SCHEDULE_SECONDS // 60} minute)"]
    submission = DEFAULT_CONNECT_TIMEOUT_SECONDS + DEFAULT_READ_TIMEOUT_SECONDS + SUBMISSION_OVERHEAD_SECONDS
    assert ingest["Properties"]["Timeout"] >= INGEST_SCHEDULE_SECONDS + submission


def test_ingest_may_only_get_source_objects_and_nothing_is_wildcarded(synthesized: Synthesized) -> None:
    _, ingest = synthesized.function_with_handler(INGEST_HANDLER)
    statements = _policy_statements_of_role(synthesized, _ref_id(ingest["Properties"]["Role"]))
    source_bucket_id = next(
        k
        for k, v in synthesized.of_type("AWS::S3::Bucket").items()
        if "VersioningConfiguration" in v["Properties"]
    )
    s3_statements = [s for s in statements if any(a.startswith("s3:") for a in _as_list(s["Action"]))]
    # (the third, on the HLS staging bucket: tests/infra/test_infra_hls.py)
    get, listing, _ = s3_statements
    assert sorted(_as_list(get["Action"])) == ["s3:GetObject", "s3:GetObjectVersion"]
    (resource,) = _as_list(get["Resource"])
    assert resource == {"Fn::Join": ["", [{"Fn::GetAtt": [source_bucket_id, "Arn"]}, "/*"]]}
    # the versions of a key, to find what a delete marker hides (functions.core.deletes)
    assert _as_list(listing["Action"]) == ["s3:ListBucketVersions"]
    assert _as_list(listing["Resource"]) == [{"Fn::GetAtt": [source_bucket_id, "Arn"]}]
    for statement in statements:
        for action in _as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"wildcard action {action}"


def test_functions_may_only_get_the_values_of_the_two_secrets(synthesized: Synthesized) -> None:
    secret_ids = set(synthesized.of_type("AWS::SecretsManager::Secret"))
    assert len(secret_ids) == 2
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = _as_list(statement["Action"])
            if any(a.startswith("secretsmanager:") for a in actions):
                assert actions == ["secretsmanager:GetSecretValue"]
                assert {_ref_id(r) for r in _as_list(statement["Resource"])} <= secret_ids


def test_no_function_environment_holds_a_secret_value(synthesized: Synthesized) -> None:
    (api_key_id,) = [
        k
        for k, v in synthesized.of_type("AWS::SecretsManager::Secret").items()
        if "GenerateSecretString" not in v["Properties"]
    ]
    for handler in OUR_HANDLERS:
        _, function = synthesized.function_with_handler(handler)
        variables = function["Properties"]["Environment"]["Variables"]
        text = json.dumps(variables)
        assert "resolve:secretsmanager" not in text
        for name, value in variables.items():
            if "KEY" in name:
                assert name.endswith("_SECRET_ID"), f"{name} looks like a key value"
            if name.endswith("_SECRET_ID"):
                assert isinstance(value, dict), f"{name} must reference a secret, not carry a value"
        if "MEMORIES_API_KEY_SECRET_ID" in variables:
            assert variables["MEMORIES_API_KEY_SECRET_ID"] == {"Ref": api_key_id}


def test_api_key_secret_is_created_empty(synthesized: Synthesized) -> None:
    secrets = synthesized.of_type("AWS::SecretsManager::Secret").values()
    empty = [s for s in secrets if not ({"SecretString", "GenerateSecretString"} & set(s["Properties"]))]
    assert len(empty) == 1
    (signing,) = [s for s in secrets if "GenerateSecretString" in s["Properties"]]
    assert signing["Properties"]["GenerateSecretString"] == {"ExcludePunctuation": True, "PasswordLength": 64}


def test_reconcile_runs_on_the_schedule(synthesized: Synthesized) -> None:
    reconcile_id, _ = synthesized.function_with_handler(RECONCILE_HANDLER)
    synthesized.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": DEFAULTS["reconcileSchedule"],
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [reconcile_id, "Arn"]}})],
        },
    )


def test_alarms_notify_an_encrypted_ssl_only_topic(synthesized: Synthesized) -> None:
    (topic_id, topic), *others = synthesized.of_type("AWS::SNS::Topic").items()
    assert not others
    assert "KmsMasterKeyId" in topic["Properties"]
    (topic_policy,) = synthesized.of_type("AWS::SNS::TopicPolicy").values()
    assert _denies_insecure_transport(topic_policy["Properties"]["PolicyDocument"])
    alarms = synthesized.of_type("AWS::CloudWatch::Alarm").values()
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    custom = {
        a["Properties"]["MetricName"]
        for a in alarms
        if a["Properties"].get("Namespace") == DEFAULTS["metricsNamespace"]
    }
    assert custom == {*ALARMED_METRICS, UNCONFIRMED_METRIC}
    names = {a["Properties"].get("MetricName") for a in alarms}
    assert {"ApproximateNumberOfMessagesVisible", "Errors", "Throttles", "5XXError"} <= names
    # Errors and Throttles for each function.
    assert sum(a["Properties"].get("MetricName") == "Errors" for a in alarms) == len(OUR_HANDLERS)
    assert sum(a["Properties"].get("MetricName") == "Throttles" for a in alarms) == len(OUR_HANDLERS)


def test_outputs_name_what_an_operator_needs(synthesized: Synthesized) -> None:
    outputs = synthesized.template.to_json()["Outputs"]
    assert {
        "SourceBucketName",
        "CallbackApiUrl",
        "StatusTableName",
        "ApiKeySecretArn",
        "IngestQueueUrl",
        "DeadLetterQueueUrl",
        "PutApiKeyCommand",
    } <= set(outputs)
    command = json.dumps(outputs["PutApiKeyCommand"]["Value"])
    assert "aws secretsmanager put-secret-value --secret-id " in command
