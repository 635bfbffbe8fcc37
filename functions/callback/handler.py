"""Callback Lambda: memories.ai's status POSTs, through API Gateway, move a video's record forward.

Wiring only: the app is ``functions.callback.app``; authentication, validation and the transition
rules are in ``functions.core.callbacks``. API Gateway routes only ``POST /callbacks/{video_id}``
here and hands over the path parameter, so no resolver routes again: Powertools' event handler
package costs a cold start 13-16 ms of imports (benchmarks/coldstart.py) for one route.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.wiring import ColdStart
from functions.callback.app import CallbackApp, build, logger, metrics, tracer
from functions.core.errors import CallbackRefused
from functions.core.settings import CallbackSettings
from functions.core.signing import CALLBACK_RESOURCE, VIDEO_ID_PARAMETER

cold_start = ColdStart(CallbackSettings.from_env, build)


def answer(status: int, body: dict[str, str]) -> dict[str, Any]:
    """API Gateway's proxy response, JSON as Powertools' REST resolver writes it."""
    return {
        "statusCode": status,
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


# No correlation_id_path: the id is set after the token check; clear_state drops the previous one.
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext, app: CallbackApp | None = None) -> dict[str, Any]:
    request = APIGatewayProxyEvent(event)
    video_id = (request.path_parameters or {}).get(VIDEO_ID_PARAMETER)
    if request.http_method != "POST" or request.resource != CALLBACK_RESOURCE or not video_id:
        return answer(HTTPStatus.NOT_FOUND, {"error": "not found"})
    try:
        return answer(HTTPStatus.OK, cold_start(app).receive(video_id, request))
    except CallbackRefused as exc:
        logger.warning(f"callback refused ({exc.http_status}): {exc}")
        return answer(exc.http_status, {"error": str(exc)})
