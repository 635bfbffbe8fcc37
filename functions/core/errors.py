"""The pipeline's errors, as types: callers decide retry / reject / pause from the class."""

from __future__ import annotations

__all__ = [
    "AmbiguousSubmit",
    "BadStatusRequest",
    "CallbackRefused",
    "ConflictingVideoNo",
    "InvalidCallback",
    "ObjectUnreadable",
    "ProviderAuthFailure",
    "ProviderBalanceExhausted",
    "ProviderDuplicate",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderTransient",
    "ProviderUnavailable",
    "RecordNotFound",
    "SettingsError",
    "StaleRecord",
    "StatusEventsNotPublished",
    "StatusRequestRefused",
    "TokenExpired",
    "TokenInvalid",
    "TokenMissing",
    "VideoNotFound",
]


class SettingsError(ValueError):
    """A setting is missing or malformed; raised at cold start, names the variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"setting {name} {problem}")
        self.name = name


# Provider failures. `code` is the business code (or HTTP status as "http-503"), `detail` the msg.
class ProviderError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"memories.ai {code}: {detail}")
        self.code = code
        self.detail = detail


class ProviderRejected(ProviderError):
    """The provider refused the parameters (0003, or 0001 past its retries): final, never retried."""


class ProviderTransient(ProviderError):
    """0001: documented as 'parameters incorrect' but retried a bounded number of times, as the
    provider's own example client does."""


class ProviderRateLimited(ProviderError):
    """0429: back off; never counts toward a dead-letter."""


class ProviderUnavailable(ProviderError):
    """HTTP 5xx, or the connection failed before the request could reach the provider: nothing billed."""


class ProviderAuthFailure(ProviderError):
    """0401 / 0403 / 9009: the key is wrong or the account disabled; retry later, alarm."""


class ProviderBalanceExhausted(ProviderError):
    """0402: out of credit; retry later, alarm; nothing may be lost while the account is empty."""


class ProviderDuplicate(ProviderError):
    """0409: the provider already holds this request: treat as done."""


class AmbiguousSubmit(ProviderError):
    """The request may have reached the provider, but no answer came (read timeout, connection
    dropped mid-exchange): it may have been accepted and billed. Never retried automatically."""


# Callback refusals, mapped to HTTP answers in one place (the callback handler).
class CallbackRefused(Exception):
    http_status = 400


class InvalidCallback(CallbackRefused):
    http_status = 400


class TokenMissing(CallbackRefused):
    http_status = 401


class TokenInvalid(CallbackRefused):
    http_status = 403


class TokenExpired(CallbackRefused):
    """A genuine token older than the callback token lifetime."""

    http_status = 403


class RecordNotFound(CallbackRefused):
    http_status = 404


class ConflictingVideoNo(CallbackRefused):
    http_status = 409


class StaleRecord(Exception):
    """An optimistic write lost a race; the caller re-reads and decides again."""


class ObjectUnreadable(Exception):
    """S3 refuses the ingest function the object (403, or KMS refused to decrypt it): only a change
    to the deployment or the bucket can fix it, so retrying it changes nothing. ``kms`` says KMS refused."""

    def __init__(self, code: str, detail: str, *, kms: bool) -> None:
        super().__init__(f"S3 {code}: {detail}")
        self.code = code
        self.detail = detail
        self.kms = kms


class StatusEventsNotPublished(Exception):
    """A status change whose events the bus did not all accept: its stream record goes back to be
    handed over again (the status itself is already written)."""


# Status API refusals (``functions.core.views``), mapped to HTTP answers in one place (its handler).
class StatusRequestRefused(Exception):
    http_status = 400
    code = "bad_request"


class BadStatusRequest(StatusRequestRefused):
    """A malformed video id, or a query that does not name one object (missing, repeated, unknown)."""


class VideoNotFound(StatusRequestRefused):
    http_status = 404
    code = "not_found"
