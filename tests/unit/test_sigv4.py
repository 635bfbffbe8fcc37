"""The local gateway's AWS_IAM check (devstack.sigv4): what botocore signs verifies, anything changed
after signing does not, and each refusal is API Gateway's message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from devstack.sigv4 import SignatureRefused, SigV4Verifier

REGION = "us-east-1"
URL = "http://127.0.0.1:8788/local/videos"
QUERY = "bucket=my-bucket&key=holiday%2Fd%C3%ADa%201%2B2.mp4&version_id=3%2FL4kqtJl"
VERIFIER = SigV4Verifier({"AKIDREADER": "reader-secret"}, region=REGION, account_id="123456789012")


def signed(
    url: str = f"{URL}?{QUERY}",
    *,
    secret: str = "reader-secret",
    region: str = REGION,
    service: str = "execute-api",
) -> list[tuple[str, str]]:
    request = AWSRequest(method="GET", url=url, headers={"Host": "127.0.0.1:8788"})
    SigV4Auth(Credentials("AKIDREADER", secret), service, region).add_auth(request)
    return list(request.headers.items())


def verify(headers: list[tuple[str, str]], url: str = f"{URL}?{QUERY}", now: datetime | None = None) -> str:
    return VERIFIER.verify("GET", url, headers, b"", now or datetime.now(UTC)).user_arn


def refusal(headers: list[tuple[str, str]], url: str = f"{URL}?{QUERY}", now: datetime | None = None) -> str:
    with pytest.raises(SignatureRefused) as refused:
        verify(headers, url, now)
    return refused.value.message


def test_a_botocore_signed_request_verifies_and_names_its_signer() -> None:
    assert verify(signed()) == "arn:aws:iam::123456789012:user/AKIDREADER"


def test_query_parameters_in_another_order_are_the_same_request() -> None:
    reordered = "&".join(reversed(QUERY.split("&")))
    assert verify(signed(), url=f"{URL}?{reordered}")


@pytest.mark.parametrize(
    "tampered",
    [
        f"{URL}?{QUERY.replace('my-bucket', 'other-bucket')}",
        f"{URL}/0123456789abcdef0123456789abcdef?{QUERY}",
        f"{URL}?{QUERY}&extra=1",
    ],
)
def test_a_request_changed_after_signing_is_refused(tampered: str) -> None:
    assert refusal(signed(), url=tampered).startswith("The request signature we calculated does not match")


def test_a_changed_signed_header_is_refused() -> None:
    headers = [(k, "127.0.0.1:9999" if k == "Host" else v) for k, v in signed()]
    assert refusal(headers).startswith("The request signature we calculated does not match")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([("Host", "127.0.0.1:8788")], "Missing Authentication Token"),
        ([("Authorization", "Bearer abc")], "Authorization header requires 'AWS4-HMAC-SHA256' signing"),
        (
            [("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDREADER/x")],
            "requires 'SignedHeaders' parameter",
        ),
    ],
)
def test_missing_or_malformed_authorization_is_refused(headers: list[tuple[str, str]], message: str) -> None:
    assert message in refusal(headers)


def test_wrong_secret_region_service_key_and_clock_are_refused() -> None:
    assert refusal(signed(secret="guess")).startswith("The request signature we calculated does not match")
    assert refusal(signed(region="eu-west-1")) == "Credential should be scoped to a valid region."
    assert refusal(signed(service="s3")) == "Credential should be scoped to correct service: 'execute-api'."
    stranger = [(k, v.replace("AKIDREADER", "AKIDSTRANGER")) for k, v in signed()]
    assert refusal(stranger) == "The security token included in the request is invalid."
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert refusal(signed(), now=later).startswith("Signature expired")
