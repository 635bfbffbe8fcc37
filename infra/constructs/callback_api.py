"""The REST API memories.ai calls back, ``POST /callbacks/{video_id}?token=...``, and the status
read API on the same stage, ``GET /videos/{video_id}`` and ``GET /videos?bucket=&key=``, which only
IAM-signed (SigV4) requests of principals allowed ``execute-api:Invoke`` on them reach."""

from __future__ import annotations

import json
from typing import Final

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.core.callbacks import CLIENT_ID_MAX_LENGTH, VIDEO_NO_MAX_LENGTH
from functions.core.signing import CALLBACK_PATH_PREFIX, VIDEO_ID_PARAMETER
from functions.core.status import PROVIDER_STATUS_MAX_LENGTH
from functions.core.views import STATUS_PATH

__all__ = ["ACCESS_LOG_FIELDS", "VIDEO_ID_PARAMETER", "CallbackApi"]

STAGE_NAME: Final = "prod"
LOG_RETENTION: Final = logs.RetentionDays.ONE_MONTH

# JSON access log. `$context.resourcePath` is the route template (/callbacks/{video_id}): the
# token travels in the query string and must never reach a log, so neither the full request path
# nor any query-string variable appears here.
ACCESS_LOG_FIELDS: Final = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "errorMessage": "$context.error.message",
    "validationError": "$context.error.validationErrorString",
    "xrayTraceId": "$context.xrayTraceId",
}

# The provider's callback body. REST APIs have no byte limit of their own (10 MB), so the handler
# enforces 4096 bytes; these lengths bound each documented field. Unknown fields are allowed: the
# payload is barely documented (older docs add clientId), there is no retry policy, and a callback
# refused for a new field would be lost, while reconcile would only find it minutes later.
CALLBACK_BODY_SCHEMA: Final = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="MemoriesCallback",
    type=apigw.JsonSchemaType.OBJECT,
    required=["videoNo", "status"],
    properties={
        "videoNo": apigw.JsonSchema(
            type=apigw.JsonSchemaType.STRING, min_length=1, max_length=VIDEO_NO_MAX_LENGTH
        ),
        "status": apigw.JsonSchema(
            type=apigw.JsonSchemaType.STRING, min_length=1, max_length=PROVIDER_STATUS_MAX_LENGTH
        ),
        "clientId": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, max_length=CLIENT_ID_MAX_LENGTH),
    },
    additional_properties=True,
)


class CallbackApi(Construct):
    """A regional REST API with one route, stage throttling and JSON access logs; no stage tracing.

    Built before the functions (ingest needs ``url``); ``route_to`` attaches the handler. There is
    no authorizer or API key: the provider sends no credentials. The per-video HMAC token in the
    query string, checked by the handler, is the authentication. ``route_status_to`` adds the status
    read routes, IAM-authorized: a callback token is no credential there (API Gateway answers 403
    before any function runs).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, throttle_rate: float, throttle_burst: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            description="memories.ai status callbacks of the ingest pipeline",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The CloudWatch role is an account-wide API Gateway setting; execution logging is not
            # used (see the stack's AwsSolutions-APIG6 acknowledgement), so the stack leaves it alone.
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=throttle_rate,
                throttling_burst_limit=throttle_burst,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                # Off: API Gateway's trace segment records the request URL with its query string,
                # i.e. the callback token. The functions trace themselves (active tracing) and
                # Powertools records no query string.
                tracing_enabled=False,
            ),
        )
        # RestApi adds an unnamed "Endpoint" output; the stack states the URL once, as CallbackApiUrl.
        self.api.node.try_remove_child("Endpoint")
        self._body_model = self.api.add_model(
            "CallbackBody", content_type="application/json", schema=CALLBACK_BODY_SCHEMA
        )
        self._validator = self.api.add_request_validator(
            "CallbackValidator", validate_request_body=True, validate_request_parameters=True
        )
        self.methods: list[apigw.Method] = []
        self.status_methods: list[apigw.Method] = []
        self.resource = self.api.root.add_resource(CALLBACK_PATH_PREFIX.strip("/")).add_resource(
            f"{{{VIDEO_ID_PARAMETER}}}"
        )

    @property
    def url(self) -> str:
        """The stage URL, ending in ``/``: the base the functions build callback URLs on."""
        return self.api.url

    def route_to(self, handler: lambda_.IFunction) -> apigw.Method:
        method = self.resource.add_method(
            "POST",
            apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False),
            authorization_type=apigw.AuthorizationType.NONE,
            request_validator=self._validator,
            request_models={"application/json": self._body_model},
            # The token is not declared required here: the handler answers a missing token with 401
            # (and counts it), in one place with every other token decision.
            request_parameters={f"method.request.path.{VIDEO_ID_PARAMETER}": True},
        )
        self.methods.append(method)
        return method

    def route_status_to(self, handler: lambda_.IFunction) -> list[apigw.Method]:
        """``GET /videos`` and ``GET /videos/{video_id}`` to ``handler``, AWS_IAM authorization."""
        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False)
        videos = self.api.root.add_resource(STATUS_PATH.strip("/"))
        one = videos.add_resource(f"{{{VIDEO_ID_PARAMETER}}}")
        for resource, parameters in (
            (videos, {}),
            (one, {f"method.request.path.{VIDEO_ID_PARAMETER}": True}),
        ):
            # Query parameters are checked by the handler, which answers a clear JSON 400.
            self.status_methods.append(
                resource.add_method(
                    "GET",
                    integration,
                    authorization_type=apigw.AuthorizationType.IAM,
                    request_validator=self._validator,
                    request_parameters=parameters,
                )
            )
        return self.status_methods

    @property
    def status_url(self) -> str:
        """Where the status routes start: ``<stage URL>videos``."""
        return self.api.url_for_path(STATUS_PATH)

    @property
    def status_invoke_arn(self) -> str:
        """The ``execute-api:Invoke`` resource of both status routes, for a caller's IAM policy."""
        return self.api.arn_for_execute_api("GET", f"{STATUS_PATH}*", STAGE_NAME)
