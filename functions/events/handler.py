"""Events Lambda: the status table's stream (DynamoDB Streams, new and old images) becomes status
events on EventBridge.

Wiring only: the app is ``functions.events.app``; which write makes which events, their order and
what a failure sends back are in ``functions.core.publish``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.wiring import ColdStart
from functions.core.settings import EventsSettings
from functions.events.app import EventsApp, build, logger, metrics, tracer

cold_start = ColdStart(EventsSettings.from_env, build)


# clear_state: the correlation id a batch's records carry is not the next batch's.
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext, app: EventsApp | None = None) -> Any:
    return cold_start(app).handle(event, context)
