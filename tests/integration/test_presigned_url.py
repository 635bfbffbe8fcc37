"""The presigned GET URL the provider receives is a valid SigV4 URL for exactly that object.

moto's S3 does not check signatures, so this test checks them itself: it recomputes the signature
from the URL with an independent implementation of AWS's SigV4 query-string algorithm and the
credentials that signed it, and compares.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest
from botocore.config import Config

from functions.adapters.s3 import S3Objects

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "eu-central-1"


def _client() -> S3Objects:
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    # The signing configuration the ingest function builds (functions.adapters.wiring.s3), aimed at AWS
    # itself even while a local stack in this process has set AWS_ENDPOINT_URL_S3.
    config = Config(signature_version="s3v4", ignore_configured_endpoint_urls=True)
    return S3Objects(session.client("s3", config=config))


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def expected_signature(url: str) -> str:
    """SigV4 for a presigned GET, from the spec: canonical request, string to sign, derived key."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "X-Amz-Signature"]
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query))
    canonical_request = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    params = dict(query)
    date = params["X-Amz-Date"]
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    day, region, service, terminal = scope.split("/")
    key = _sign(("AWS4" + SECRET_KEY).encode("utf-8"), day)
    for part in (region, service, terminal):
        key = _sign(key, part)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("key", "version_id"),
    [
        ("incoming/sample.mp4", None),
        ("incoming/Family trip + beach 2026 – día 1.mp4", None),
        ("a/b/c/with%percent&amp=and?query#hash.mov", None),
        ("versioned/clip.mp4", "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"),
    ],
)
def test_the_presigned_url_is_a_valid_sigv4_url_for_that_object(key: str, version_id: str | None) -> None:
    url = _client().presign_get("memories-ingest-source", key, version_id, ttl_seconds=21600)
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))

    assert parts.scheme == "https"
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Expires"] == "21600"
    assert params["X-Amz-SignedHeaders"] == "host"
    assert (
        params["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/")
        and f"/{REGION}/s3/aws4_request" in params["X-Amz-Credential"]
    )
    assert params.get("versionId") == version_id
    assert params["X-Amz-Signature"] == expected_signature(url)
    # The path names exactly the object: bucket host (virtual-hosted) or path, and the encoded key.
    named = parts.path if parts.netloc.startswith("s3.") else f"/memories-ingest-source{parts.path}"
    assert named.endswith("/" + quote(key, safe="/~"))


def test_a_tampered_url_does_not_verify() -> None:
    url = _client().presign_get("memories-ingest-source", "incoming/sample.mp4", None, ttl_seconds=3600)
    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"] == expected_signature(url)
    tampered = url.replace("X-Amz-Expires=3600", "X-Amz-Expires=604800")
    assert dict(parse_qsl(urlsplit(tampered).query))["X-Amz-Signature"] != expected_signature(tampered)
