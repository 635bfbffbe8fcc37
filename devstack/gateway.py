"""API Gateway (REST API, Lambda proxy integration) in front of the callback function, locally.

One route, as the CDK stack deploys it: ``POST /{stage}/callbacks/{video_id}``. A request on it
becomes a proxy event (payload format 1.0: ``resource``, ``path`` without the stage,
``httpMethod``, ``headers`` / ``multiValueHeaders``, ``queryStringParameters`` /
``multiValueQueryStringParameters``, ``pathParameters``, ``body`` base64-encoded with
``isBase64Encoded`` when it is not UTF-8, ``requestContext`` with the stage, a request id and the
caller's ``identity.sourceIp``), the function's answer becomes the HTTP response. Like API Gateway:
any other method or path answers 403 ``Missing Authentication Token``, another stage 403
``Forbidden``, a body over 10 MB 413, and a function that fails or answers malformed 502.

With ``status`` (``StatusRoutes``), also the status read API: ``GET /{stage}/videos`` and
``GET /{stage}/videos/{video_id}``, AWS_IAM-authorized as deployed. The request's SigV4 signature
is checked first (``devstack.sigv4``; no or a bad signature: API Gateway's 403), then the status
function gets the proxy event with the signer in ``requestContext.identity``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from aws_lambda_powertools.utilities.typing import LambdaContext

from devstack.http import LocalHttpServer, Request, Response
from devstack.lambda_context import LOCAL_ACCOUNT_ID, FakeLambdaContext
from devstack.running import Running
from devstack.sigv4 import Caller, SignatureRefused, SigV4Verifier
from functions.core.signing import CALLBACK_PATH_PREFIX, CALLBACK_RESOURCE
from functions.core.views import STATUS_PATH

__all__ = ["MAX_PAYLOAD_BYTES", "CallbackGateway", "StatusRoutes", "proxy_event", "status_event"]

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], LambdaContext], Any]

# API Gateway's payload limit for REST APIs.
MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
RESOURCE: Final = CALLBACK_RESOURCE
_ROUTE: Final = re.compile(
    rf"^/(?P<stage>[^/]+)(?P<path>{re.escape(CALLBACK_PATH_PREFIX)}(?P<video_id>[^/]+))$"
)
# The status read API (AWS_IAM authorization): GET /{stage}/videos and /{stage}/videos/{video_id}.
STATUS_VIDEO_RESOURCE: Final = STATUS_PATH + "/{video_id}"
_STATUS_ROUTE: Final = re.compile(
    rf"^/(?P<stage>[^/]+)(?P<path>{re.escape(STATUS_PATH)}(?:/(?P<video_id>[^/]+))?)$"
)
_API_ID: Final = "local"


def _grouped(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """API Gateway's two views of repeated names: the last value, and all of them; None when empty."""
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def proxy_event(
    *,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    stage: str,
    source_ip: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The Lambda proxy event (payload 1.0) for a request on ``/{stage}/callbacks/{video_id}``."""
    match = _ROUTE.match(urlsplit(target).path)
    if match is None:
        raise ValueError(f"{urlsplit(target).path!r} is not on the callback route")
    return _event(
        RESOURCE,
        {"video_id": unquote(match["video_id"])},
        unquote(match["path"]),
        method=method,
        target=target,
        headers=headers,
        body=body,
        stage=stage,
        source_ip=source_ip,
        request_id=request_id,
    )


def status_event(
    *,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    stage: str,
    source_ip: str,
    caller: Caller,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The proxy event for an IAM-authorized request on ``/{stage}/videos[/{video_id}]``: as for a
    callback, with the signer in ``requestContext.identity`` as API Gateway fills it for AWS_IAM."""
    match = _STATUS_ROUTE.match(urlsplit(target).path)
    if match is None:
        raise ValueError(f"{urlsplit(target).path!r} is not on a status route")
    one = match["video_id"] is not None
    return _event(
        STATUS_VIDEO_RESOURCE if one else STATUS_PATH,
        {"video_id": unquote(match["video_id"])} if one else None,
        unquote(match["path"]),
        method=method,
        target=target,
        headers=headers,
        body=body,
        stage=stage,
        source_ip=source_ip,
        request_id=request_id,
        identity=caller.identity(),
    )


def _event(
    resource: str,
    path_parameters: dict[str, str] | None,
    path: str,
    *,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    stage: str,
    source_ip: str,
    request_id: str | None,
    identity: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    parts = urlsplit(target)
    header_values, multi_headers = _grouped(headers)
    query_values, multi_query = _grouped(parse_qsl(parts.query, keep_blank_values=True))
    try:
        text: str | None = body.decode("utf-8") if body else None
        encoded = False
    except UnicodeDecodeError:
        text = base64.b64encode(body).decode("ascii")
        encoded = True
    request_id = request_id or str(uuid.uuid4())
    user_agent = (header_values or {}).get("User-Agent") or next(
        (v for k, v in headers if k.lower() == "user-agent"), None
    )
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": header_values,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query_values,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": _request_context(
            resource,
            path,
            method=method,
            stage=stage,
            request_id=request_id,
            header_values=header_values,
            identity={**_identity(source_ip, user_agent), **(identity or {})},
        ),
        "body": text,
        "isBase64Encoded": encoded,
    }


def _identity(source_ip: str, user_agent: str | None) -> dict[str, str | None]:
    """requestContext.identity of an unauthenticated caller (IAM auth fills in the rest)."""
    return {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "sourceIp": source_ip,
        "principalOrgId": None,
        "accessKey": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": user_agent,
        "user": None,
    }


def _request_context(
    resource: str,
    path: str,
    *,
    method: str,
    stage: str,
    request_id: str,
    header_values: Mapping[str, str] | None,
    identity: Mapping[str, str | None],
) -> dict[str, Any]:
    now = time.time()
    return {
        "resourceId": "local",
        "resourcePath": resource,
        "httpMethod": method,
        "extendedRequestId": request_id,
        "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "path": f"/{stage}{path}",
        "accountId": LOCAL_ACCOUNT_ID,
        "protocol": "HTTP/1.1",
        "stage": stage,
        "domainPrefix": _API_ID,
        "requestTimeEpoch": int(now * 1000),
        "requestId": request_id,
        "identity": dict(identity),
        "domainName": (header_values or {}).get("Host", "127.0.0.1"),
        "apiId": _API_ID,
    }


def _http_response(answer: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """The function's proxy answer as status, headers and body; ValueError if it is malformed."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("statusCode"), int):
        raise ValueError("the function's answer has no integer statusCode")
    headers: list[tuple[str, str]] = []
    multi = answer.get("multiValueHeaders") or {}
    for name, values in multi.items():
        headers.extend((str(name), str(v)) for v in values)
    for name, value in (answer.get("headers") or {}).items():
        if name not in multi:
            headers.append((str(name), str(value)))
    body = answer.get("body") or ""
    if not isinstance(body, str):
        raise ValueError("the function's body is not a string")
    try:
        raw = base64.b64decode(body, validate=True) if answer.get("isBase64Encoded") else body.encode()
    except binascii.Error as exc:
        raise ValueError("isBase64Encoded but the body is not base64") from exc
    return int(answer["statusCode"]), headers, raw


def _gateway_error(status: int, message: str, error_type: str) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)]
    return status, headers, json.dumps({"message": message}).encode()


def _unreadable_body(status: int) -> Response:
    if status == 413:
        answer = _gateway_error(413, "Request Too Long", "RequestTooLongException")
    else:
        answer = _gateway_error(400, "Bad Request", "BadRequestException")
    return Response(*answer)


@dataclass
class StatusRoutes:
    """The status read API's function and the IAM check before it (``devstack.sigv4``)."""

    handler: Handler
    verifier: SigV4Verifier
    function_name: str = "status_api"
    function_timeout_seconds: float = 10.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class CallbackGateway(Running):
    """The callback API on ``url`` (``http://host:port/{stage}``), invoking ``handler`` per request,
    and with ``status`` the IAM-authorized status routes ``GET /videos[/{video_id}]``.

    Invocations are serialized: the handler's resolver is module state of one execution
    environment, as in Lambda, where one instance handles one request at a time.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stage: str = "local",
        function_name: str = "callback",
        function_timeout_seconds: float = 10.0,
        status: StatusRoutes | None = None,
    ) -> None:
        self._handler = handler
        self._status = status
        self.stage = stage
        self._function_name = function_name
        self._timeout = function_timeout_seconds
        self._lock = threading.Lock()
        self._http = LocalHttpServer(
            self._serve,
            name="api-gateway",
            host=host,
            port=port,
            max_body_bytes=MAX_PAYLOAD_BYTES,
            refuse=_unreadable_body,
            logger=logger,
        )

    def start(self) -> Self:
        if self._http.started:
            raise RuntimeError("gateway already started")
        self._http.start()
        logger.info("API Gateway (callbacks) listening on %s", self.url)
        return self

    def stop(self) -> None:
        self._http.stop()

    @property
    def base_url(self) -> str:
        if not self._http.started:
            raise RuntimeError("gateway not started")
        return self._http.base_url

    def _serve(self, request: Request) -> Response:
        return Response(
            *self.respond(request.method, request.target, request.headers, request.body, request.client_ip)
        )

    @property
    def url(self) -> str:
        """The stage's invoke URL: what ``CALLBACK_BASE_URL`` is on AWS."""
        return f"{self.base_url}/{self.stage}"

    def respond(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """What API Gateway answers to one request whose body has been read."""
        path = urlsplit(target).path
        route = _ROUTE.match(path) or _STATUS_ROUTE.match(path)
        if route is not None and route["stage"] != self.stage:
            return _gateway_error(403, "Forbidden", "ForbiddenException")
        if self._status is not None and method == "GET" and _STATUS_ROUTE.match(path):
            return self._respond_status(self._status, target, headers, body, source_ip)
        if _ROUTE.match(path) is None or method != "POST":
            return _gateway_error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        request_id = str(uuid.uuid4())
        event = proxy_event(
            method=method,
            target=target,
            headers=headers,
            body=body,
            stage=self.stage,
            source_ip=source_ip,
            request_id=request_id,
        )
        with self._lock:
            return _invoke(self._handler, event, self._function_name, self._timeout, request_id)

    def _respond_status(
        self,
        status: StatusRoutes,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """AWS_IAM authorization first (a callback token is no credential here), then the function."""
        host = next((v for k, v in headers if k.lower() == "host"), "")
        try:
            caller = status.verifier.verify("GET", f"http://{host}{target}", headers, body, datetime.now(UTC))
        except SignatureRefused as refused:
            return _gateway_error(403, refused.message, refused.error_type)
        request_id = str(uuid.uuid4())
        event = status_event(
            method="GET",
            target=target,
            headers=headers,
            body=body,
            stage=self.stage,
            source_ip=source_ip,
            caller=caller,
            request_id=request_id,
        )
        with status.lock:
            return _invoke(
                status.handler, event, status.function_name, status.function_timeout_seconds, request_id
            )


def _invoke(
    handler: Handler, event: dict[str, Any], function_name: str, timeout: float, request_id: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One Lambda proxy invocation, its answer as API Gateway returns it (502 when it fails)."""
    context = FakeLambdaContext(function_name, timeout_seconds=timeout)
    try:
        # Through JSON both ways, as the Lambda service serializes event and answer.
        answer = json.loads(json.dumps(handler(json.loads(json.dumps(event)), context)))
        status, response_headers, response_body = _http_response(answer)
    except Exception:
        logger.exception("the %s function failed; answering 502", function_name)
        status, response_headers, response_body = _gateway_error(
            502, "Internal server error", "InternalServerErrorException"
        )
    return status, [*response_headers, ("x-amzn-RequestId", request_id)], response_body
