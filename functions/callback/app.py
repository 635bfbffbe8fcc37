"""The callback function's app: one provider POST, read from API Gateway's event, handed to the
use case (``functions.core.callbacks``: authentication, validation, the transition rules).

``build`` composes it from settings (boto3 clients through ``functions.adapters.wiring``).
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from functions.adapters import tracing, wiring
from functions.adapters.aws import PowertoolsMetrics, SystemClock
from functions.core.callbacks import CallbackConfig, CallbackService
from functions.core.settings import CallbackSettings
from functions.core.signing import FOLDER_PARAMETER, TOKEN_PARAMETER

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics()


@dataclass(frozen=True, slots=True)
class CallbackApp:
    service: CallbackService

    def receive(self, video_id: str, event: APIGatewayProxyEvent) -> dict[str, str]:
        """``POST /callbacks/{video_id}?token=...[&folder=...]``: the body is read only once the token is valid."""
        headers = event.headers
        outcome = self.service.handle(
            video_id,
            event.get_query_string_value(TOKEN_PARAMETER),
            event.body or "",
            headers.get("content-type") or headers.get("Content-Type"),
            event.get_query_string_value(FOLDER_PARAMETER),
            base64_encoded=bool(event.is_base64_encoded),
            # Only now: before the token check the path is anyone's text (6,000 characters of it).
            authenticated=logger.set_correlation_id,
        )
        logger.info(f"callback {outcome.result}: {outcome.detail}", extra={"status": outcome.status})
        return {"result": outcome.result.value, "status": outcome.status}


def build(settings: CallbackSettings, session: boto3.Session | None = None) -> CallbackApp:
    session = session or boto3.Session()
    metrics.namespace = settings.metrics_namespace
    client = wiring.secrets_client(session)
    keys = wiring.signing_keys(session, settings.signing_secret_id, settings.secret_cache_seconds, client)
    next(keys.verifying(False))  # a missing or too short signing key stops the cold start, naming it
    service = CallbackService(
        CallbackConfig(unique_id=settings.unique_id, token_ttl_seconds=settings.token_ttl_seconds),
        store=wiring.status_store(session, settings.table_name),
        signing_keys=keys,
        provider=wiring.memories_client(wiring.secrets(session, client), settings),
        clock=SystemClock(),
        metrics=PowertoolsMetrics(metrics),
    )
    return CallbackApp(service)
