"""The HLS staging bucket in the template: private, encrypted, SSL-only, expiring after any presigned
URL to it has, never notifying ingest; and the ingest role may write and read only its hls/ prefix."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core import env
from functions.core.settings import SIGV4_MAX_PRESIGN_SECONDS
from infra.constructs.functions import INGEST_HANDLER
from tests.infra.synth import Synthesized
from tests.infra.test_infra_template import _as_list, _policy_statements_of_role, _ref_id

pytestmark = pytest.mark.infra


def _staging(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    logical_id = synthesized.stack.resolve(synthesized.stack.hls_staging.bucket.bucket_name)["Ref"]  # type: ignore[attr-defined]
    return logical_id, synthesized.resources[logical_id]


def test_the_staging_bucket_is_private_encrypted_and_expires_after_any_presigned_url(
    synthesized: Synthesized,
) -> None:
    logical_id, bucket = _staging(synthesized)
    properties = bucket["Properties"]
    rules = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(properties["PublicAccessBlockConfiguration"].values())
    (expiry,) = [r for r in properties["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert expiry["Status"] == "Enabled"
    assert expiry["ExpirationInDays"] * 86400 > SIGV4_MAX_PRESIGN_SECONDS
    # Not versioned (a retry overwrites), and nothing in it reaches the ingest queue.
    assert "VersioningConfiguration" not in properties
    for notifications in synthesized.of_type("Custom::S3BucketNotifications").values():
        assert _ref_id(notifications["Properties"]["BucketName"]) != logical_id
    policies = [
        p["Properties"]["PolicyDocument"]
        for p in synthesized.of_type("AWS::S3::BucketPolicy").values()
        if _ref_id(p["Properties"]["Bucket"]) == logical_id
    ]
    (policy,) = policies
    (deny,) = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_ingest_may_write_and_read_only_the_staging_buckets_hls_prefix(synthesized: Synthesized) -> None:
    logical_id, _ = _staging(synthesized)
    _, ingest = synthesized.function_with_handler(INGEST_HANDLER)
    statements = _policy_statements_of_role(synthesized, _ref_id(ingest["Properties"]["Role"]))
    on_staging = [s for s in statements if logical_id in str(s["Resource"])]
    (statement,) = on_staging
    assert sorted(_as_list(statement["Action"])) == ["s3:GetObject", "s3:PutObject"]
    assert _as_list(statement["Resource"]) == [
        {"Fn::Join": ["", [{"Fn::GetAtt": [logical_id, "Arn"]}, "/hls/*"]]}
    ]
    # and nothing may write to the source bucket, where a new object is a new upload
    writes = [a for s in statements for a in _as_list(s["Action"]) if a in ("s3:PutObject", "s3:*")]
    assert writes == ["s3:PutObject"]
    assert ingest["Properties"]["Environment"]["Variables"][env.HLS_STAGING_BUCKET_NAME] == {
        "Ref": logical_id
    }
