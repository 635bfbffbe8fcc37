"""Results Lambda: ``Video Status Changed`` events to PARSE (EventBridge rule -> SQS) become a results
document beside the video; one ``Video Results Written`` event each.

Wiring only: the app is ``functions.results.app``, the decisions are in ``functions.core.results``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.wiring import ColdStart
from functions.core.settings import ResultsSettings
from functions.results.app import ResultsApp, build, logger, metrics, tracer

cold_start = ColdStart(ResultsSettings.from_env, build)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext, app: ResultsApp | None = None) -> Any:
    return cold_start(app).handle(event, context)
