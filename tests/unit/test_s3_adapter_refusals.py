"""How the S3 adapter names S3's refusals (moto enforces neither IAM nor KMS, so S3's documented
error answers are played through botocore's Stubber on a real client)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from functions.adapters.s3 import S3Objects
from functions.core.errors import ObjectUnreadable


@pytest.mark.parametrize(
    ("code", "status", "message", "kms"),
    [
        (
            "AccessDenied",
            403,
            "User: arn:aws:sts::1:assumed-role/Ingest is not authorized to perform: kms:Decrypt",
            True,
        ),
        ("KMS.DisabledException", 400, "arn:aws:kms:us-east-1:1:key/k is disabled.", True),
        ("AccessDenied", 403, "Access Denied", False),
    ],
)
def test_a_refused_ranged_get_is_an_unreadable_object(
    code: str, status: int, message: str, kms: bool
) -> None:
    client = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1").client(
        "s3"
    )
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_object", service_error_code=code, service_message=message, http_status_code=status
        )
        with pytest.raises(ObjectUnreadable) as raised:
            S3Objects(client).peek("b", "k.mp4", None, 4096)
    assert (raised.value.code, raised.value.kms) == (code, kms)


def test_other_errors_still_propagate_for_a_retry() -> None:
    client = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1").client(
        "s3"
    )
    with Stubber(client) as stub:
        stub.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(Exception, match="SlowDown"):
            S3Objects(client).peek("b", "k.mp4", None, 4096)
