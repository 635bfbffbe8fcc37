"""Status API Lambda: ``GET /videos/{video_id}`` and ``GET /videos?bucket=&key=``, behind IAM auth.

Wiring only: the app is ``functions.status_api.app``, the answer's shape and the lookups are in
``functions.core.views``. API Gateway has checked the caller's SigV4 signature and IAM permission
before this runs.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.wiring import ColdStart
from functions.core.errors import StatusRequestRefused
from functions.core.settings import StatusApiSettings
from functions.status_api.app import StatusApp, build, logger, metrics, tracer

api = APIGatewayRestResolver()
cold_start = ColdStart(StatusApiSettings.from_env, build)


def _app() -> StatusApp:
    app: StatusApp = api.context["app"]
    return app


@api.get("/videos/<video_id>")
def video(video_id: str) -> dict[str, object]:
    return _app().video(video_id, api.current_event)


@api.get("/videos")
def versions() -> dict[str, object]:
    return _app().versions(api.current_event)


@api.exception_handler(StatusRequestRefused)  # type: ignore[untyped-decorator]
def refused(exc: StatusRequestRefused) -> Response[dict[str, str]]:
    return _app().refused(exc, api.current_event)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext, app: StatusApp | None = None) -> dict[str, Any]:
    api.append_context(app=cold_start(app))  # type: ignore[no-untyped-call]
    return api.resolve(event, context)
