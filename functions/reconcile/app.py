"""The reconcile function's app: the ``Reconciler`` of ``functions.core.reconcile``, built from
settings (boto3 clients through ``functions.adapters.wiring``); the operator command builds it too.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics

from functions.adapters import tracing, wiring
from functions.adapters.aws import PowertoolsMetrics, SystemClock
from functions.core.reconcile import ReconcileConfig, Reconciler
from functions.core.settings import ReconcileSettings

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics()


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
