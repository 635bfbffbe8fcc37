"""cdk-nag (AwsSolutions) gates synth: no unacknowledged finding, and every acknowledgement explains itself."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import pytest
from aws_cdk import Stack, Validations
from aws_cdk import aws_sqs as sqs

from infra.app import STACK_ID, build_app
from tests.infra.synth import SKIP_BUNDLING, Synthesized, cdk_json_context, synthesize

pytestmark = pytest.mark.infra

# Construct ids that say nothing about which resource an acknowledgement is for.
GENERIC_IDS = {"Resource", "Default", "DefaultPolicy", "ServiceRole", "Role"}


def _violations(outdir: Path) -> list[dict[str, Any]]:
    report = json.loads((outdir / "validation-report.json").read_text())
    return [violation for plugin in report["pluginReports"] for violation in plugin["violations"]]


def _acknowledgements(stack: Stack) -> list[tuple[str, str, str]]:
    """(construct path, rule id, reason) for every acknowledgement in the stack."""
    found = []
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in cast(dict[str, str], entry.data).items():
                    found.append((construct.node.path, rule, reason))
    return found


def _names_the_resource(path: str, reason: str) -> bool:
    segments = [s for s in path.split("/")[1:] if s not in GENERIC_IDS]
    words = re.findall(r"[A-Za-z][A-Za-z0-9]{5,}", reason)
    return any(segment in reason or any(segment.startswith(w) for w in words) for segment in segments)


def test_synth_leaves_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    assert _violations(synthesized.outdir) == []


def test_every_acknowledgement_has_a_specific_reason_naming_its_resource(synthesized: Synthesized) -> None:
    acknowledgements = _acknowledgements(synthesized.stack)
    assert acknowledgements
    for path, rule, reason in acknowledgements:
        assert rule.startswith("AwsSolutions::AwsSolutions-"), rule
        assert len(reason) >= 40, f"{path} {rule}: reason too short"
        assert _names_the_resource(path, reason), f"{path} {rule}: the reason does not name the resource"


def test_an_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    # Given the app with a queue that has neither encryption nor a DLQ nor an SSL-only policy
    app = build_app({**cdk_json_context(), **SKIP_BUNDLING}, outdir=str(tmp_path))
    stack = cast(Stack, app.node.find_child(STACK_ID))
    sqs.CfnQueue(stack, "CarelessQueue")
    # When it is synthesized, Then synth fails and the report names the resource
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    paths = {c["constructPath"] for v in _violations(tmp_path) for c in v["violatingConstructs"]}
    assert paths == {f"{STACK_ID}/CarelessQueue"}


@pytest.mark.parametrize(
    "context",
    [
        {
            "prefixes": ["videos/", "uploads/raw/"],
            "apiKeySecretName": "memories/api-key",
            "alarmEmail": "ops@example.com",
        },
        {
            "existingBucketName": "my-existing-videos",
            "apiKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:memories-AbCdEf",
            "destroyTableOnDelete": True,
        },
    ],
    ids=["prefixes-and-secret-by-name", "existing-bucket-and-secret-by-arn"],
)
def test_other_configurations_pass_the_checks_too(tmp_path: Path, context: dict[str, object]) -> None:
    synthesized = synthesize(tmp_path, **context)
    assert _violations(tmp_path) == []
    (notifications,) = synthesized.of_type("Custom::S3BucketNotifications").values()
    configurations = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    prefixes = cast(list[str], context.get("prefixes", []))
    assert len(configurations) == 2 * max(1, len(prefixes))  # created and removed
    secrets = synthesized.of_type("AWS::SecretsManager::Secret")
    assert len(secrets) == 1  # only the signing key: the API key secret is imported
    if "existingBucketName" in context:
        # No source or access-log bucket: only the stack's own staging bucket for derived HLS playlists.
        assert [name for name in synthesized.of_type("AWS::S3::Bucket")] == [
            synthesized.stack.resolve(synthesized.stack.hls_staging.bucket.bucket_name)["Ref"]  # type: ignore[attr-defined]
        ]
        assert notifications["Properties"]["Managed"] is False  # the bucket's other notifications are kept
        (table,) = synthesized.of_type("AWS::DynamoDB::Table").values()
        assert table["DeletionPolicy"] == "Delete"
