"""The status API function's app: the two reads, the caller logged and each read counted; the
answer's shape and the lookups are in ``functions.core.views``.

``build`` composes it from settings (boto3 clients through ``functions.adapters.wiring``).
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from functions.adapters import tracing, wiring
from functions.adapters.aws import PowertoolsMetrics
from functions.core import ports
from functions.core.errors import StatusRequestRefused
from functions.core.metrics import Metric
from functions.core.settings import StatusApiSettings
from functions.core.views import StatusReader, object_lookup

logger = Logger()
tracer = tracing.tracer()
metrics = Metrics()


def _caller(event: APIGatewayProxyEvent) -> str | None:
    """The signer's ARN: API Gateway has checked its SigV4 signature and IAM permission."""
    return event.request_context.identity.user_arn


@dataclass(frozen=True, slots=True)
class StatusApp:
    reader: StatusReader
    metrics: ports.Metrics

    def video(self, video_id: str, event: APIGatewayProxyEvent) -> dict[str, object]:
        """``GET /videos/{video_id}``."""
        if event.multi_value_query_string_parameters:
            raise StatusRequestRefused("GET /videos/{video_id} takes no query parameters")
        answer = self.reader.video(video_id)
        logger.info("status read", extra={"video_id": video_id, "caller": _caller(event)})
        self.metrics.count(Metric.STATUS_READS)
        return answer

    def versions(self, event: APIGatewayProxyEvent) -> dict[str, object]:
        """``GET /videos?bucket=&key=``."""
        lookup = object_lookup(event.multi_value_query_string_parameters)
        answer = self.reader.versions(lookup)
        logger.info("status read by object", extra={"bucket": lookup.bucket, "caller": _caller(event)})
        self.metrics.count(Metric.STATUS_READS)
        return answer

    def refused(self, exc: StatusRequestRefused, event: APIGatewayProxyEvent) -> Response[dict[str, str]]:
        logger.info(f"status request refused ({exc.http_status}): {exc}", extra={"caller": _caller(event)})
        self.metrics.count(Metric.STATUS_READS_REFUSED)
        return Response(
            status_code=exc.http_status,
            content_type=content_types.APPLICATION_JSON,
            body={"error": exc.code, "message": str(exc)},
        )


def build(settings: StatusApiSettings, session: boto3.Session | None = None) -> StatusApp:
    metrics.namespace = settings.metrics_namespace
    store = wiring.status_store(session or boto3.Session(), settings.table_name)
    return StatusApp(StatusReader(store), PowertoolsMetrics(metrics))
