"""Status API Lambda: ``GET /videos/{video_id}`` and ``GET /videos?bucket=&key=``, behind IAM auth.

Wiring only: the answer's shape and the lookups are in ``functions.core.views``. API Gateway has
checked the caller's SigV4 signature and IAM permission before this runs; the caller's ARN is logged.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import tracing, wiring
from functions.adapters.aws import PowertoolsMetrics
from functions.core.errors import StatusRequestRefused
from functions.core.metrics import Metric
from functions.core.settings import StatusApiSettings
from functions.core.views import StatusReader, object_lookup

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics()
api = APIGatewayRestResolver()

_reader: StatusReader | None = None


def build(settings: StatusApiSettings, session: boto3.Session | None = None) -> StatusReader:
    metrics.namespace = settings.metrics_namespace
    return StatusReader(wiring.status_store(session or boto3.Session(), settings.table_name))


def _caller() -> str | None:
    return api.current_event.request_context.identity.user_arn


@api.get("/videos/<video_id>")
def video(video_id: str) -> dict[str, object]:
    assert _reader is not None
    if api.current_event.multi_value_query_string_parameters:
        raise StatusRequestRefused("GET /videos/{video_id} takes no query parameters")
    answer = _reader.video(video_id)
    logger.info("status read", extra={"video_id": video_id, "caller": _caller()})
    PowertoolsMetrics(metrics).count(Metric.STATUS_READS)
    return answer


@api.get("/videos")
def versions() -> dict[str, object]:
    assert _reader is not None
    lookup = object_lookup(api.current_event.multi_value_query_string_parameters)
    answer = _reader.versions(lookup)
    logger.info("status read by object", extra={"bucket": lookup.bucket, "caller": _caller()})
    PowertoolsMetrics(metrics).count(Metric.STATUS_READS)
    return answer


@api.exception_handler(StatusRequestRefused)  # type: ignore[untyped-decorator]
def refused(exc: StatusRequestRefused) -> Response[dict[str, str]]:
    logger.info(f"status request refused ({exc.http_status}): {exc}", extra={"caller": _caller()})
    PowertoolsMetrics(metrics).count(Metric.STATUS_READS_REFUSED)
    return Response(
        status_code=exc.http_status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": exc.code, "message": str(exc)},
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, reader: StatusReader | None = None
) -> dict[str, Any]:
    global _reader  # noqa: PLW0603 - built once per execution environment
    if reader is not None:
        _reader = reader
    elif _reader is None:
        _reader = build(StatusApiSettings.from_env(os.environ))
    return api.resolve(event, context)
