"""Reconcile Lambda, on a schedule: videos whose callback never came still end in the right state.

Wiring only: the rules are in ``functions.core.reconcile``.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import tracing, wiring
from functions.adapters.aws import PowertoolsMetrics, SystemClock
from functions.core.reconcile import ReconcileConfig, Reconciler
from functions.core.settings import ReconcileSettings

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics()

_app: Reconciler | None = None


def build(settings: ReconcileSettings, session: boto3.Session | None = None) -> Reconciler:
    session = session or boto3.Session()
    metrics.namespace = settings.metrics_namespace
    return Reconciler(
        ReconcileConfig(
            unique_id=settings.unique_id,
            reconcile_after_seconds=settings.reconcile_after_seconds,
            stuck_after_seconds=settings.stuck_after_seconds,
        ),
        store=wiring.status_store(session, settings.table_name),
        # Secrets Manager only for a pass that has something to ask memories.ai about.
        provider=wiring.memories_client(wiring.deferred(lambda: wiring.secrets(session)), settings),
        clock=SystemClock(),
        metrics=PowertoolsMetrics(metrics),
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext, app: Reconciler | None = None) -> dict[str, int]:
    global _app  # noqa: PLW0603 - built once per execution environment
    if app is None:
        _app = app = _app or build(ReconcileSettings.from_env(os.environ))
    actions = app.run()
    logger.info("reconcile pass done", extra={"actions": dict(actions)})
    return dict(actions)
