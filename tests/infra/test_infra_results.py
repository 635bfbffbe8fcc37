"""writeResults in the template: nothing of it by default; with it, the rule for the status events
to PARSE, the results queue, the results bucket and its policy, the function's exact grants, and
cdk-nag clean (``synthesize`` fails on any unacknowledged finding)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# cfn-lint ships no type information (no py.typed).
from cfnlint.api import lint  # type: ignore[import-untyped]
from cfnlint.config import ManualArgs  # type: ignore[import-untyped]

from functions.core import env, events
from functions.core.results import RESULTS_MAX_CONCURRENCY, ResultsConfig, max_receives
from functions.core.settings import ResultsSettings
from infra.config import RESULTS_TIMEOUT_SECONDS, PipelineConfig
from infra.constructs.results import RESULTS_HANDLER
from tests.infra.synth import Synthesized, cdk_json_context, synthesize
from tests.infra.test_infra_cfn_lint import IGNORED_RULES
from tests.infra.test_infra_environment import _variables_read_by
from tests.infra.test_infra_template import (
    _as_list,
    _denies_insecure_transport,
    _policy_statements_of_role,
    _ref_id,
)

pytestmark = pytest.mark.infra

KMS_KEY = "arn:aws:kms:eu-central-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


@pytest.fixture(scope="module")
def with_results(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("results"), writeResults=True)


@pytest.fixture(scope="module")
def into_existing(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(
        tmp_path_factory.mktemp("results-existing"),
        writeResults=True,
        resultsBucketName="media-archive",
        resultsBucketKmsKeyArn=KMS_KEY,
        resultsPrefix="memories/",
        eventBusName="media-events",
    )


def _violations(outdir: Path) -> list[Any]:
    report = json.loads((outdir / "validation-report.json").read_text())
    return [v for plugin in report["pluginReports"] for v in plugin["violations"]]


def _rules(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in synthesized.of_type("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == [events.SOURCE]
    ]


def _results_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    _, function = synthesized.function_with_handler(RESULTS_HANDLER)
    return _policy_statements_of_role(synthesized, _ref_id(function["Properties"]["Role"]))


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in _as_list(s["Action"])}


def test_nothing_of_it_is_created_by_default(synthesized: Synthesized) -> None:
    handlers = [f["Properties"].get("Handler") for f in synthesized.of_type("AWS::Lambda::Function").values()]
    assert RESULTS_HANDLER not in handlers
    assert _rules(synthesized) == []
    assert (
        len(synthesized.of_type("AWS::SQS::Queue")) == 3
    )  # the ingest queue, its DLQ, the status events' on-failure queue
    assert not PipelineConfig.from_context(cdk_json_context().get).write_results


def test_with_results_synth_is_cdk_nag_clean(with_results: Synthesized, into_existing: Synthesized) -> None:
    assert _violations(with_results.outdir) == []
    assert _violations(into_existing.outdir) == []


def test_the_rule_sends_only_status_changes_to_parse_to_the_results_queue(with_results: Synthesized) -> None:
    (rule,) = _rules(with_results)
    assert rule["EventPattern"] == {
        "source": [events.SOURCE],
        "detail-type": [events.STATUS_CHANGED],
        "detail": {"to_status": ["PARSE"]},
    }
    assert rule["EventBusName"] == "default"
    (target,) = rule["Targets"]
    queues = with_results.of_type("AWS::SQS::Queue")
    queue_id = target["Arn"]["Fn::GetAtt"][0]
    assert "RedrivePolicy" in queues[queue_id]["Properties"]
    # what EventBridge cannot deliver lands in the dead-letter queue too
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] == _ref_id(
        queues[queue_id]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
    )


def test_the_results_queue_is_encrypted_ssl_only_open_to_the_rule_only_and_redrives(
    with_results: Synthesized,
) -> None:
    queues = with_results.of_type("AWS::SQS::Queue")
    assert (
        len(queues) == 5
    )  # ingest queue and DLQ, the status events' on-failure queue, results queue and DLQ
    ((queue_id, queue),) = [
        (k, q) for k, q in queues.items() if k.startswith("Results") and "RedrivePolicy" in q["Properties"]
    ]
    properties = queue["Properties"]
    assert properties["SqsManagedSseEnabled"] is True
    assert properties["VisibilityTimeout"] >= 6 * RESULTS_TIMEOUT_SECONDS
    # SQS never cuts the retry schedule short: the function gives up itself
    assert properties["RedrivePolicy"]["maxReceiveCount"] == max_receives(ResultsConfig(results_bucket=""))
    policies = [
        p["Properties"]["PolicyDocument"]
        for p in with_results.of_type("AWS::SQS::QueuePolicy").values()
        if queue_id in {_ref_id(q) for q in p["Properties"]["Queues"]}
    ]
    (document,) = policies
    assert _denies_insecure_transport(document)
    (send,) = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    assert send["Principal"] == {"Service": "events.amazonaws.com"}
    (rule_id,) = [k for k, r in with_results.of_type("AWS::Events::Rule").items() if k.startswith("Results")]
    assert send["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_the_function_reads_the_queue_two_at_a_time_with_partial_failures(with_results: Synthesized) -> None:
    function_id, function = with_results.function_with_handler(RESULTS_HANDLER)
    (mapping,) = [
        m["Properties"]
        for m in with_results.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": RESULTS_MAX_CONCURRENCY}
    assert function["Properties"]["Timeout"] == RESULTS_TIMEOUT_SECONDS


def test_the_function_environment_is_exactly_what_its_settings_read(with_results: Synthesized) -> None:
    _, function = with_results.function_with_handler(RESULTS_HANDLER)
    variables = function["Properties"]["Environment"]["Variables"]
    read = _variables_read_by(ResultsSettings.from_env) | set(env.RUNTIME_VARIABLES)
    assert set(variables) == read
    assert variables[env.RESULTS_PREFIX] == "" and variables[env.EVENT_BUS_NAME] == "default"


def test_the_created_results_bucket_is_private_encrypted_ssl_only_versioned_and_logged(
    with_results: Synthesized,
) -> None:
    buckets = with_results.of_type("AWS::S3::Bucket")
    ((bucket_id, bucket),) = [(k, b) for k, b in buckets.items() if k.startswith("ResultsResultsBucket")]
    properties = bucket["Properties"]
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    logging = properties["LoggingConfiguration"]
    # into the stack's own access-log bucket, beside the source bucket's logs
    assert logging["LogFilePrefix"] == "results-bucket/"
    assert _ref_id(logging["DestinationBucketName"]).startswith("StorageAccessLogBucket")
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in with_results.of_type("AWS::S3::BucketPolicy").values()
        if _ref_id(p["Properties"]["Bucket"]) == bucket_id
    ]
    assert _denies_insecure_transport(policy)
    assert all(s["Effect"] == "Deny" for s in policy["Statement"])


def test_the_function_may_put_documents_its_event_read_its_record_and_nothing_more(
    with_results: Synthesized,
) -> None:
    statements = _results_statements(with_results)
    assert _actions(statements) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        # the event source, and putting a job off
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        # a job that failed for good, to the dead-letter queue
        "sqs:SendMessage",
        "s3:PutObject",
        "events:PutEvents",
        "dynamodb:GetItem",
        "secretsmanager:GetSecretValue",
    }
    (put,) = [s for s in statements if "events:PutEvents" in _as_list(s["Action"])]
    assert put["Condition"] == {
        "StringEquals": {"events:source": [events.SOURCE], "events:detail-type": [events.RESULTS_WRITTEN]}
    }
    assert put["Resource"]["Fn::Join"][1][-1] == ":event-bus/default"
    (objects,) = [s for s in statements if "s3:PutObject" in _as_list(s["Action"])]
    parts = objects["Resource"]["Fn::Join"][1]
    assert parts[0]["Fn::GetAtt"][0].startswith("ResultsResultsBucket") and parts[1] == "/*"


def test_an_existing_bucket_gets_puts_under_the_prefix_only_with_its_key_through_s3(
    into_existing: Synthesized,
) -> None:
    assert not [k for k in into_existing.of_type("AWS::S3::Bucket") if k.startswith("Results")]
    statements = _results_statements(into_existing)
    (objects,) = [s for s in statements if "s3:PutObject" in _as_list(s["Action"])]
    assert objects["Resource"]["Fn::Join"][1][-1] == ":s3:::media-archive/memories/*"
    (kms,) = [s for s in statements if any(a.startswith("kms:") for a in _as_list(s["Action"]))]
    assert kms["Action"] == "kms:GenerateDataKey" and kms["Resource"] == KMS_KEY
    assert "kms:ViaService" in kms["Condition"]["StringEquals"]
    (rule,) = _rules(into_existing)
    assert rule["EventBusName"] == "media-events"
    (put,) = [s for s in statements if "events:PutEvents" in _as_list(s["Action"])]
    assert put["Resource"]["Fn::Join"][1][-1] == ":event-bus/media-events"


def test_the_dead_letter_queue_and_given_up_jobs_are_alarmed(with_results: Synthesized) -> None:
    alarms = {k: a["Properties"] for k, a in with_results.of_type("AWS::CloudWatch::Alarm").items()}
    names = [k for k in alarms if k.startswith("Results")]
    assert any("DeadLetterQueueNotEmpty" in k for k in names)
    assert any(alarms[k].get("MetricName") == "ResultsFailed" for k in names)
    assert any(k.startswith("MonitoringResultsErrors") for k in alarms)
    for name in names:
        assert alarms[name]["AlarmActions"] and alarms[name]["OKActions"]


def test_cfn_lint_passes_with_results(with_results: Synthesized, into_existing: Synthesized) -> None:
    for synthesized in (with_results, into_existing):
        matches = lint(
            synthesized.template_path.read_text(),
            config=ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=IGNORED_RULES),
        )
        assert [str(match) for match in matches] == []
