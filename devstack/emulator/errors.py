"""The ways a request to the emulator can fail, as types."""

from __future__ import annotations

PARAMETER_INVALID = "0003"
AUTHORIZATION_INVALID = "0401"
RATE_LIMITED = "0429"


class ApiError(Exception):
    """A refusal the provider reports as HTTP 200 with a business code other than 0000."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


class InvalidParameterError(ApiError):
    """The request breaks the documented contract (code 0003)."""

    def __init__(self, msg: str) -> None:
        super().__init__(PARAMETER_INVALID, msg)


class SourceRefusedError(InvalidParameterError):
    """The fetched url is unreachable or not a video (0003), found after the call was billed."""


class UnauthorizedError(ApiError):
    """The Authorization header is missing or is not the api key (code 0401)."""

    def __init__(self) -> None:
        super().__init__(AUTHORIZATION_INVALID, "authorization invalid")


class RateLimitedError(ApiError):
    """The account's upload rate limit is used up (code 0429); such a call is not billed."""

    def __init__(self) -> None:
        super().__init__(RATE_LIMITED, "Request has exceeded the limit.")


class InvalidFaultRuleError(ValueError):
    """A fault rule given to the control API is malformed."""


class UnknownVideoError(LookupError):
    """The control API was asked about a videoNo the emulator never issued (or has forgotten)."""
