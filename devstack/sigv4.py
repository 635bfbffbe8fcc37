"""API Gateway's ``AWS_IAM`` authorization, locally: a request's Signature Version 4, checked the way
API Gateway checks it before a method with IAM auth runs.

The signature is recomputed with botocore's own ``SigV4Auth`` over the same canonical request (the
method, the path as sent, the query parameters re-encoded as SigV4 prescribes, exactly the headers
the caller signed, the body's SHA-256), with the secret of the access key the caller names. Each
refusal carries API Gateway's status, message and ``x-amzn-ErrorType``. Any principal the local
stack knows may invoke: its credentials are the stack's own, an administrator's.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import parse_qsl, quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = ["SERVICE", "Caller", "SigV4Verifier", "SignatureRefused"]

SERVICE: Final = "execute-api"
_ALGORITHM: Final = "AWS4-HMAC-SHA256"
_AMZ_DATE: Final = "%Y%m%dT%H%M%SZ"
# API Gateway refuses a signature more than five minutes away from its clock.
_MAX_SKEW: Final = timedelta(minutes=5)
_PAIR: Final = re.compile(r"\s*([A-Za-z]+)=([^,\s]*)\s*")
_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


class SignatureRefused(Exception):
    """What API Gateway answers instead of invoking the method: 403 with this message and type."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


@dataclass(frozen=True, slots=True)
class Caller:
    """The signer, as API Gateway puts it in ``requestContext.identity`` for an IAM-authorized call."""

    access_key: str
    account_id: str
    user_arn: str
    principal_id: str

    def identity(self) -> dict[str, str]:
        return {
            "accountId": self.account_id,
            "caller": self.principal_id,
            "accessKey": self.access_key,
            "userArn": self.user_arn,
            "user": self.principal_id,
        }


def _authorization_fields(header: str) -> dict[str, str]:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != _ALGORITHM:
        raise SignatureRefused(
            f"Authorization header requires '{_ALGORITHM}' signing: found {algorithm!r}",
            "IncompleteSignatureException",
        )
    fields = {m.group(1): m.group(2) for part in rest.split(",") if (m := _PAIR.fullmatch(part))}
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise SignatureRefused(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing),
            "IncompleteSignatureException",
        )
    return fields


class SigV4Verifier:
    """Checks requests signed for ``execute-api`` in ``region`` with one of ``secrets``' keys."""

    def __init__(self, secrets: Mapping[str, str], *, region: str, account_id: str) -> None:
        self._secrets = dict(secrets)
        self._region = region
        self._account_id = account_id

    def verify(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes, now: datetime
    ) -> Caller:
        """The caller of the request to ``url`` (scheme, Host and the target as sent), or SignatureRefused."""
        by_name: dict[str, list[str]] = {}
        for name, value in headers:
            by_name.setdefault(name.lower(), []).append(value)
        authorization = by_name.get("authorization")
        if not authorization:
            raise SignatureRefused("Missing Authentication Token", "MissingAuthenticationTokenException")
        fields = _authorization_fields(authorization[0])
        access_key, _, scope = fields["Credential"].partition("/")
        date, region, service, terminator = ([*scope.split("/"), "", "", "", ""])[:4]
        secret = self._scoped_secret(access_key, region, service, terminator)
        signed = fields["SignedHeaders"].split(";")
        if "host" not in signed:
            raise SignatureRefused(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
                "IncompleteSignatureException",
            )
        amz_date = (by_name.get("x-amz-date") or [""])[0]
        _check_time(amz_date, date, now)
        request = _signed_request(method, url, by_name, signed, body)
        expected = self._signature(request, access_key, secret, amz_date)
        if not hmac.compare_digest(expected, fields["Signature"]):
            raise SignatureRefused(_MISMATCH, "InvalidSignatureException")
        return Caller(
            access_key=access_key,
            account_id=self._account_id,
            user_arn=f"arn:aws:iam::{self._account_id}:user/{access_key}",
            principal_id=f"AIDA{access_key.upper()}",
        )

    def _scoped_secret(self, access_key: str, region: str, service: str, terminator: str) -> str:
        """The secret of a known access key whose credential scope is this API's."""
        secret = self._secrets.get(access_key)
        if secret is None:
            raise SignatureRefused(
                "The security token included in the request is invalid.", "UnrecognizedClientException"
            )
        if terminator != "aws4_request" or service != SERVICE:
            raise SignatureRefused(
                f"Credential should be scoped to correct service: '{SERVICE}'.", "InvalidSignatureException"
            )
        if region != self._region:
            raise SignatureRefused(
                "Credential should be scoped to a valid region.", "InvalidSignatureException"
            )
        return secret

    def _signature(self, request: AWSRequest, access_key: str, secret: str, amz_date: str) -> str:
        request.context["timestamp"] = amz_date
        auth = SigV4Auth(Credentials(access_key, secret), SERVICE, self._region)
        string_to_sign = auth.string_to_sign(request, auth.canonical_request(request))
        return str(auth.signature(string_to_sign, request))


def _check_time(amz_date: str, date: str, now: datetime) -> None:
    """X-Amz-Date present, matching the credential's date, and within five minutes of ``now``."""
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError as exc:
        raise SignatureRefused(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            "IncompleteSignatureException",
        ) from exc
    if date != amz_date[:8]:
        raise SignatureRefused(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            f"HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'.",
            "InvalidSignatureException",
        )
    if abs(now - signed_at) > _MAX_SKEW:
        earliest = (now - _MAX_SKEW).strftime(_AMZ_DATE)
        raise SignatureRefused(
            f"Signature expired: {amz_date} is now earlier than {earliest} "
            f"({now.strftime(_AMZ_DATE)} - 5 min.)",
            "InvalidSignatureException",
        )


def _signed_request(
    method: str, url: str, headers: Mapping[str, list[str]], signed: Sequence[str], body: bytes
) -> AWSRequest:
    """The request as the signer saw it: exactly the headers it signed."""
    parts = urlsplit(url)
    # SigV4's canonical query: each name and value decoded, then URI-encoded once (botocore sorts).
    query = "&".join(
        f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return AWSRequest(
        method=method,
        url=parts._replace(query=query).geturl(),
        headers={name: ",".join(headers.get(name, [])) for name in signed},
        data=body,
    )
