"""A LambdaContext like the one Lambda hands a handler: what Powertools logs from it is all there,
and the remaining time counts down from the function's timeout."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Final

from aws_lambda_powertools.utilities.typing import LambdaContext
from aws_lambda_powertools.utilities.typing.lambda_cognito_identity import LambdaCognitoIdentity

__all__ = ["LOCAL_ACCOUNT_ID", "LOCAL_REGION", "FakeLambdaContext"]

# moto's default account, so that ARNs built here match the ones moto hands out.
LOCAL_ACCOUNT_ID: Final = "123456789012"
LOCAL_REGION: Final = "us-east-1"


class FakeLambdaContext(LambdaContext):
    """One invocation's context: a new request id each time, like Lambda."""

    def __init__(
        self,
        function_name: str,
        *,
        timeout_seconds: float,
        memory_limit_in_mb: int = 256,
        region: str = LOCAL_REGION,
        account_id: str = LOCAL_ACCOUNT_ID,
    ) -> None:
        self._function_name = function_name
        self._function_version = "$LATEST"
        self._invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self._memory_limit_in_mb = memory_limit_in_mb
        self._aws_request_id = str(uuid.uuid4())
        self._log_group_name = f"/aws/lambda/{function_name}"
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        self._log_stream_name = f"{today}/[$LATEST]{uuid.uuid4().hex}"
        self._identity = _no_cognito_identity()
        # Lambda passes None here unless a mobile SDK invoked the function.
        self._client_context = None  # type: ignore[assignment]
        self._tenant_id = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _no_cognito_identity() -> LambdaCognitoIdentity:
    """What Lambda gives a function not invoked through Cognito: an identity whose fields are unset."""
    identity = LambdaCognitoIdentity()
    identity._cognito_identity_id = None  # type: ignore[assignment]
    identity._cognito_identity_pool_id = None  # type: ignore[assignment]
    return identity
