"""Callback Lambda: memories.ai's status POSTs, through API Gateway, move a video's record forward.

Wiring only: the app is ``functions.callback.app``; authentication, validation and the transition
rules are in ``functions.core.callbacks``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.wiring import ColdStart
from functions.callback.app import CallbackApp, build, logger, metrics, tracer
from functions.core.errors import CallbackRefused
from functions.core.settings import CallbackSettings

api = APIGatewayRestResolver()
cold_start = ColdStart(CallbackSettings.from_env, build)


@api.post("/callbacks/<video_id>")
def receive(video_id: str) -> dict[str, str]:
    app: CallbackApp = api.context["app"]
    return app.receive(video_id, api.current_event)


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
def handler(event: dict[str, Any], context: LambdaContext, app: CallbackApp | None = None) -> dict[str, Any]:
    api.append_context(app=cold_start(app))  # type: ignore[no-untyped-call]
    return api.resolve(event, context)
