"""API Gateway (REST API, Lambda proxy integration) in front of the callback function, locally.

One route, as the CDK stack deploys it: ``POST /{stage}/callbacks/{video_id}``. A request on it
becomes a proxy event (payload format 1.0: ``resource``, ``path`` without the stage,
``httpMethod``, ``headers`` / ``multiValueHeaders``, ``queryStringParameters`` /
``multiValueQueryStringParameters``, ``pathParameters``, ``body`` base64-encoded with
``isBase64Encoded`` when it is not UTF-8, ``requestContext`` with the stage, a request id and the
caller's ``identity.sourceIp``), the function's answer becomes the HTTP response. Like API Gateway:
any other method or path answers 403 ``Missing Authentication Token``, another stage 403
``Forbidden``, a body over 10 MB 413, and a function that fails or answers malformed 502.
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
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from aws_lambda_powertools.utilities.typing import LambdaContext

from devstack.http import LocalHttpServer, Request, Response
from devstack.lambda_context import LOCAL_ACCOUNT_ID, FakeLambdaContext
from functions.core.signing import CALLBACK_PATH_PREFIX

__all__ = ["MAX_PAYLOAD_BYTES", "CallbackGateway", "proxy_event"]

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], LambdaContext], Any]

# API Gateway's payload limit for REST APIs.
MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
RESOURCE: Final = CALLBACK_PATH_PREFIX + "{video_id}"
_ROUTE: Final = re.compile(
    rf"^/(?P<stage>[^/]+)(?P<path>{re.escape(CALLBACK_PATH_PREFIX)}(?P<video_id>[^/]+))$"
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
    parts = urlsplit(target)
    match = _ROUTE.match(parts.path)
    if match is None:
        raise ValueError(f"{parts.path!r} is not on the callback route")
    path = unquote(match["path"])
    header_values, multi_headers = _grouped(headers)
    query_values, multi_query = _grouped(parse_qsl(parts.query, keep_blank_values=True))
    try:
        text: str | None = body.decode("utf-8") if body else None
        encoded = False
    except UnicodeDecodeError:
        text = base64.b64encode(body).decode("ascii")
        encoded = True
    now = time.time()
    request_id = request_id or str(uuid.uuid4())
    user_agent = (header_values or {}).get("User-Agent") or next(
        (v for k, v in headers if k.lower() == "user-agent"), None
    )
    return {
        "resource": RESOURCE,
        "path": path,
        "httpMethod": method,
        "headers": header_values,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query_values,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": {"video_id": unquote(match["video_id"])},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": RESOURCE,
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
            "identity": {
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
            },
            "domainName": (header_values or {}).get("Host", "127.0.0.1"),
            "apiId": _API_ID,
        },
        "body": text,
        "isBase64Encoded": encoded,
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


def _gateway_error(status: int, message: str, error_type: str) -> Response:
    headers = (("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type))
    return Response(status, headers, json.dumps({"message": message}).encode())


def _unreadable_body(status: int) -> Response:
    if status == 413:
        return _gateway_error(413, "Request Too Long", "RequestTooLongException")
    return _gateway_error(400, "Bad Request", "BadRequestException")


class CallbackGateway:
    """The callback API on ``url`` (``http://host:port/{stage}``), invoking ``handler`` per request.

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
    ) -> None:
        self._handler = handler
        self.stage = stage
        self._function_name = function_name
        self._timeout = function_timeout_seconds
        self._lock = threading.Lock()
        self._http = LocalHttpServer(
            self._respond,
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self._http.started:
            raise RuntimeError("gateway not started")
        return self._http.base_url

    @property
    def url(self) -> str:
        """The stage's invoke URL: what ``CALLBACK_BASE_URL`` is on AWS."""
        return f"{self.base_url}/{self.stage}"

    def _respond(self, request: Request) -> Response:
        """What API Gateway answers to one request whose body has been read."""
        method, target, headers, body = request.method, request.target, request.headers, request.body
        route = _ROUTE.match(request.path)
        if route is not None and route["stage"] != self.stage:
            return _gateway_error(403, "Forbidden", "ForbiddenException")
        if route is None or method != "POST":
            return _gateway_error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        request_id = str(uuid.uuid4())
        event = proxy_event(
            method=method,
            target=target,
            headers=headers,
            body=body,
            stage=self.stage,
            source_ip=request.client_ip,
            request_id=request_id,
        )
        context = FakeLambdaContext(self._function_name, timeout_seconds=self._timeout)
        try:
            with self._lock:
                # Through JSON both ways, as the Lambda service serializes event and answer.
                answer = json.loads(json.dumps(self._handler(json.loads(json.dumps(event)), context)))
            status, response_headers, response_body = _http_response(answer)
        except Exception:
            logger.exception("the %s function failed; answering 502", self._function_name)
            error = _gateway_error(502, "Internal server error", "InternalServerErrorException")
            status, response_headers, response_body = error.status, list(error.headers), error.body
        return Response(status, [*response_headers, ("x-amzn-RequestId", request_id)], response_body)
