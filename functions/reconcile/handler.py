"""Reconcile Lambda, on a schedule: videos whose callback never came still end in the right state.

Wiring only: the app is built in ``functions.reconcile.app``, the rules are in ``functions.core.reconcile``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.wiring import ColdStart
from functions.core.reconcile import Reconciler
from functions.core.settings import ReconcileSettings
from functions.reconcile.app import build, logger, metrics, tracer

cold_start = ColdStart(ReconcileSettings.from_env, build)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext, app: Reconciler | None = None) -> dict[str, int]:
    actions = dict(cold_start(app).run())
    logger.info("reconcile pass done", extra={"actions": actions})
    return actions
