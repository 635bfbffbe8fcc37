"""Callback Lambda: memories.ai's status POSTs, through API Gateway, move a video's record forward.

Wiring only: authentication, validation and the transition rules are in ``functions.core.callbacks``.
"""

from __future__ import annotations

import base64
import binascii
import os
from http import HTTPStatus
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import tracing, wiring
from functions.adapters.aws import PowertoolsMetrics, SystemClock
from functions.core.callbacks import CallbackConfig, CallbackService, parse_callback
from functions.core.errors import CallbackRefused, InvalidCallback
from functions.core.settings import CallbackSettings
from functions.core.signing import FOLDER_PARAMETER, TOKEN_PARAMETER

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics()
api = APIGatewayRestResolver()

_service: CallbackService | None = None


def build(settings: CallbackSettings, session: boto3.Session | None = None) -> CallbackService:
    session = session or boto3.Session()
    metrics.namespace = settings.metrics_namespace
    client = wiring.secrets_client(session)
    keys = wiring.signing_keys(session, settings.signing_secret_id, settings.secret_cache_seconds, client)
    keys.verifying(False)  # a missing or too short signing key stops the cold start, naming it
    return CallbackService(
        CallbackConfig(unique_id=settings.unique_id, token_ttl_seconds=settings.token_ttl_seconds),
        store=wiring.status_store(session, settings.table_name),
        signing_keys=keys,
        provider=wiring.memories_client(wiring.secrets(session, client), settings),
        clock=SystemClock(),
        metrics=PowertoolsMetrics(metrics),
    )


def _raw_body() -> bytes:
    event = api.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCallback("body is not valid base64") from exc
    return body.encode("utf-8")


@api.post("/callbacks/<video_id>")
def receive(video_id: str) -> dict[str, str]:
    assert _service is not None
    _service.authenticate(video_id, api.current_event.get_query_string_value(TOKEN_PARAMETER))
    # Only now: before the token check the path is anyone's text (6,000 characters of it).
    logger.set_correlation_id(video_id)
    content_type = api.current_event.headers.get("content-type") or api.current_event.headers.get(
        "Content-Type"
    )
    payload = parse_callback(_raw_body(), content_type)
    _service.count_received(payload)
    # The folder hint is not part of the token: the service writes only to a record in that folder.
    outcome = _service.apply(video_id, payload, api.current_event.get_query_string_value(FOLDER_PARAMETER))
    logger.info(f"callback {outcome.result}: {outcome.detail}", extra={"status": outcome.status})
    return {"result": outcome.result.value, "status": outcome.status}


@api.exception_handler(CallbackRefused)  # type: ignore[untyped-decorator]
def refused(exc: CallbackRefused) -> Response[dict[str, str]]:
    logger.warning(f"callback refused ({exc.http_status}): {exc}")
    return Response(
        status_code=exc.http_status, content_type=content_types.APPLICATION_JSON, body={"error": str(exc)}
    )


@api.not_found
def not_found(_: Exception) -> Response[dict[str, str]]:
    return Response(
        status_code=HTTPStatus.NOT_FOUND,
        content_type=content_types.APPLICATION_JSON,
        body={"error": "not found"},
    )


# No correlation_id_path: the id is set after the token check; clear_state drops the previous one.
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, service: CallbackService | None = None
) -> dict[str, Any]:
    global _service  # noqa: PLW0603 - built once per execution environment
    if service is not None:
        _service = service
    elif _service is None:
        _service = build(CallbackSettings.from_env(os.environ))
    return api.resolve(event, context)
