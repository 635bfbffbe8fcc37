"""A client of the status read API: GET requests signed with SigV4 (service ``execute-api``) by the
caller's AWS credentials, as API Gateway's AWS_IAM authorization requires. Used by
``memories-ingest status``; any SigV4 client works the same (``curl --aws-sigv4``, awscurl)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote, urlsplit

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = ["SERVICE", "region_of", "signed_get"]

SERVICE: Final = "execute-api"
TIMEOUT_SECONDS: Final = 15
# https://<api id>.execute-api.<region>.amazonaws.com[.cn]/<stage>/...
_EXECUTE_API_HOST: Final = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


def region_of(url: str, default: str | None) -> str | None:
    """The region an API Gateway URL names in its host; ``default`` for any other host."""
    match = _EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    return match.group(1) if match else default


def _query(params: Mapping[str, str]) -> str:
    # Encoded exactly as SigV4's canonical query (RFC 3986 unreserved characters kept), so what is
    # sent is what was signed.
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params.items())


def signed_get(
    url: str,
    credentials: Credentials,
    region: str,
    params: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
) -> requests.Response:
    """GET ``url`` (with ``params``), signed for ``execute-api`` in ``region``."""
    target = f"{url}?{_query(params)}" if params else url
    request = AWSRequest(method="GET", url=target)
    # Frozen: a refreshing credential (an assumed role's) cannot change halfway through signing.
    frozen = credentials.get_frozen_credentials()
    SigV4Auth(
        Credentials(frozen.access_key or "", frozen.secret_key or "", frozen.token), SERVICE, region
    ).add_auth(request)
    http = session or requests.Session()
    return http.get(target, headers=dict(request.headers.items()), timeout=TIMEOUT_SECONDS)
