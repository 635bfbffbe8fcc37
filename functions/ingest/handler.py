"""Ingest Lambda: S3 ObjectCreated notifications (through SQS) join the line; the line is submitted to
memories.ai at the account's rate, after each batch and on a schedule (every minute).

Wiring only: the app is ``functions.ingest.app``, the decisions are in ``functions.core.ingest``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.wiring import ColdStart
from functions.core.settings import IngestSettings
from functions.ingest.app import IngestApp, build, logger, metrics, tracer

cold_start = ColdStart(IngestSettings.from_env, build)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext, app: IngestApp | None = None) -> Any:
    return cold_start(app).handle(event, context)
