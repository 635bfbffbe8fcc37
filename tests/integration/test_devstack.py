"""The local stack's parts, each against the real thing it stands in for or talks to: the resources
on DynamoDB Local and moto, the SQS poller as Lambda's event source, the API Gateway stand-in, the
settings, and a whole stack pointed at another memories.ai server."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from devstack import services
from devstack.cli_local import problems_handler
from devstack.emulator import MemoriesEmulator
from devstack.gateway import MAX_PAYLOAD_BYTES, CallbackGateway
from devstack.lambda_context import FakeLambdaContext
from devstack.poller import BatchResult, PollerConfig, SqsPoller, failed_message_ids
from devstack.resources import MAX_RECEIVE_COUNT, ResourceNames, create_resources
from devstack.services import DynamoDBLocal, MotoServer, port_is_free, start_together
from devstack.stack import (
    DYNAMODB_PORT,
    GATEWAY_PORT,
    MEMORIES_API_KEY,
    MOTO_PORT,
    UP_PORTS,
    WRITE_RESULTS,
    LocalStack,
    StackConfig,
    _Environment,
    function_session,
    user_environ,
)
from functions.core import env, table
from functions.core.objects import ObjectRef, parse_notification
from functions.core.status import PARSE, VideoRecord
from tests.conftest import EMULATOR_API_KEY

pytestmark = pytest.mark.integration

SAMPLE = (Path(__file__).parents[1] / "fixtures" / "sample.mp4").read_bytes()
AWS_VARIABLES = (
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
)


def eventually(check: Callable[[], Any], timeout: float = 15.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch, dynamodb_local: DynamoDBLocal, moto_server: MotoServer
) -> boto3.Session:
    """A session whose clients reach the local services through boto3's own endpoint variables."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", dynamodb_local.endpoint_url)
    for service in ("S3", "SQS", "SECRETS_MANAGER", "EVENTBRIDGE"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_server.endpoint_url)
    return boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")


def unique_names() -> ResourceNames:
    suffix = uuid.uuid4().hex[:10]
    return ResourceNames(
        bucket=f"devstack-test-{suffix}",
        queue=f"queue-{suffix}",
        dead_letter_queue=f"dlq-{suffix}",
        table=f"status-{suffix}",
        api_key_secret=f"test/{suffix}/api-key",
        signing_secret=f"test/{suffix}/signing-key",
    )


# -- services and resources ------------------------------------------------------------------------


def test_boto3_reaches_the_local_services_through_the_endpoint_variables(aws: boto3.Session) -> None:
    assert aws.client("dynamodb").meta.endpoint_url == os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    for service in ("s3", "sqs", "secretsmanager"):
        assert aws.client(service).meta.endpoint_url == os.environ["AWS_ENDPOINT_URL_SQS"]


def test_resources_are_created_as_the_cdk_stack_defines_them(aws: boto3.Session) -> None:
    names = unique_names()

    created = create_resources(aws, api_key="key-under-test", visibility_timeout_seconds=7, names=names)

    described = aws.client("dynamodb").describe_table(TableName=names.table)["Table"]
    assert described["KeySchema"] == [{"AttributeName": table.PARTITION_KEY, "KeyType": "HASH"}]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {i["IndexName"]: i for i in described["GlobalSecondaryIndexes"]}
    assert indexes[table.STATUS_INDEX]["KeySchema"] == [
        {"AttributeName": table.STATUS_INDEX_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": table.STATUS_INDEX_SORT_KEY, "KeyType": "RANGE"},
    ]
    assert indexes[table.LINE_INDEX]["KeySchema"] == [
        {"AttributeName": table.LINE_INDEX_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": table.LINE_INDEX_SORT_KEY, "KeyType": "RANGE"},
    ]
    assert indexes[table.VIDEO_NO_INDEX]["KeySchema"] == [
        {"AttributeName": table.VIDEO_NO_INDEX_PARTITION_KEY, "KeyType": "HASH"}
    ]
    assert indexes[table.STATUS_INDEX]["Projection"]["ProjectionType"] == "ALL"
    assert indexes[table.VIDEO_NO_INDEX]["Projection"]["ProjectionType"] == "ALL"
    assert indexes[table.LINE_INDEX]["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": list(table.LINE_INDEX_PROJECTED),
    }
    assert indexes[table.OBJECT_INDEX]["KeySchema"] == [
        {"AttributeName": table.OBJECT_INDEX_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": table.OBJECT_INDEX_SORT_KEY, "KeyType": "RANGE"},
    ]
    assert indexes[table.OBJECT_INDEX]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    ttl = aws.client("dynamodb").describe_time_to_live(TableName=names.table)["TimeToLiveDescription"]
    assert ttl.get("AttributeName") == table.TTL_ATTRIBUTE
    assert ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")

    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=created.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "7"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": created.dlq_arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }
    notifications = aws.client("s3").get_bucket_notification_configuration(Bucket=names.bucket)
    (queue_config,) = notifications["QueueConfigurations"]
    assert queue_config["QueueArn"] == created.queue_arn
    assert queue_config["Events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]

    secrets = aws.client("secretsmanager")
    assert secrets.get_secret_value(SecretId=created.api_key_secret_id)["SecretString"] == "key-under-test"
    signing = secrets.get_secret_value(SecretId=created.signing_secret_id)["SecretString"]
    assert len(signing) >= 43
    other = create_resources(aws, api_key="k", visibility_timeout_seconds=7, names=unique_names())
    assert secrets.get_secret_value(SecretId=other.signing_secret_id)["SecretString"] != signing


def test_redrive_count_matches_the_cdk_stack() -> None:
    storage = pytest.importorskip("infra.constructs.storage")
    assert storage.MAX_RECEIVE_COUNT == MAX_RECEIVE_COUNT


def test_created_objects_reach_the_queue_under_their_own_key(aws: boto3.Session) -> None:
    created = create_resources(aws, api_key="k", visibility_timeout_seconds=5, names=unique_names())
    key = "incoming/Family trip + beach 2026 – día 1.mp4"

    aws.client("s3").put_object(Bucket=created.bucket, Key=key, Body=SAMPLE)

    sqs = aws.client("sqs")
    refs: list[ObjectRef] = []
    while not refs:
        messages = sqs.receive_message(QueueUrl=created.queue_url, WaitTimeSeconds=2, MaxNumberOfMessages=10)
        assert messages.get("Messages"), "no notification arrived"
        for message in messages["Messages"]:
            refs.extend(parse_notification(message["Body"]))  # the s3:TestEvent names nothing
    (ref,) = refs
    assert (ref.bucket, ref.key, ref.size) == (created.bucket, key, len(SAMPLE))
    assert ref.event_name.startswith("ObjectCreated")


def test_a_service_whose_free_port_is_taken_meanwhile_starts_on_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        # The first "free" port handed out is one another process has just bound
        handed_out = iter([busy])
        real_free_port = services.free_port
        monkeypatch.setattr(
            services, "free_port", lambda host: next(handed_out, None) or real_free_port(host)
        )
        moto = MotoServer()
        try:
            start_together(moto)
            assert moto.port != busy
            assert not port_is_free("127.0.0.1", moto.port)
        finally:
            moto.stop()


# -- the SQS poller --------------------------------------------------------------------------------


@dataclass
class Queue:
    url: str
    arn: str
    dlq_url: str


@pytest.fixture
def queue(aws: boto3.Session) -> Queue:
    """A queue with a 1 s visibility timeout and a dead-letter queue after 2 receives: fast redelivery."""
    sqs = aws.client("sqs")
    suffix = uuid.uuid4().hex[:10]
    dlq_url = sqs.create_queue(QueueName=f"poller-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=f"poller-{suffix}",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Queue(url, arn, dlq_url)


@dataclass
class Recorder:
    """A handler that keeps every event and answers what ``answer`` says."""

    answer: Callable[[dict[str, Any]], Any] = lambda event: None
    events: list[dict[str, Any]] = field(default_factory=list)
    contexts: list[LambdaContext] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        return self.answer(event)


def poll_until(poller: SqsPoller, done: Callable[[BatchResult], bool], timeout: float = 15.0) -> BatchResult:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = poller.poll_once(wait_seconds=1)
        if done(result):
            return result
    raise AssertionError(f"no matching batch within {timeout} s")


def test_poller_hands_lambda_shaped_records_to_the_handler(aws: boto3.Session, queue: Queue) -> None:
    sqs = aws.client("sqs")
    body = '{"Records": []}'
    sent = sqs.send_message(
        QueueUrl=queue.url,
        MessageBody=body,
        MessageAttributes={
            "origin": {"DataType": "String", "StringValue": "camera-7"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    handler = Recorder()
    poller = SqsPoller(sqs, queue.url, handler, PollerConfig(wait_seconds=1))

    result = poll_until(poller, lambda r: bool(r.received))

    (record,) = handler.events[0]["Records"]
    assert record["messageId"] == sent["MessageId"]
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"]["origin"] == {
        "stringValue": "camera-7",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == base64.b64encode(b"\x00\x01").decode()
    # Read through Powertools' own data class, as a function would
    origin = SQSRecord(record).message_attributes["origin"]
    assert origin is not None
    assert origin.string_value == "camera-7"
    assert handler.contexts[0].function_name == "ingest"
    assert 0 < handler.contexts[0].get_remaining_time_in_millis() <= 60_000
    assert result.deleted == (sent["MessageId"],)
    assert poller.poll_once(wait_seconds=2) == BatchResult()  # deleted, not merely invisible


def test_batch_item_failures_come_back_and_the_rest_are_deleted(aws: boto3.Session, queue: Queue) -> None:
    sqs = aws.client("sqs")
    ids = {sqs.send_message(QueueUrl=queue.url, MessageBody=body)["MessageId"]: body for body in "abc"}
    failing = next(i for i, body in ids.items() if body == "b")

    def fail_b(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "b"
            ]
        }

    handler = Recorder(fail_b)
    poller = SqsPoller(sqs, queue.url, handler, PollerConfig(batch_size=10, wait_seconds=1))
    seen: set[str] = set()

    def all_seen(result: BatchResult) -> bool:
        seen.update(result.received)
        return seen == set(ids)

    poll_until(poller, all_seen)

    # After the visibility timeout, only the failed one is back, received for the second time
    again = poll_until(poller, lambda r: bool(r.received))
    assert again.received == (failing,)
    assert handler.events[-1]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_a_handler_error_fails_the_batch_until_the_dead_letter_queue_takes_it(
    aws: boto3.Session, queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    sqs = aws.client("sqs")
    sent = sqs.send_message(QueueUrl=queue.url, MessageBody="poison")["MessageId"]

    def explode(event: dict[str, Any]) -> Any:
        raise RuntimeError("handler bug")

    handler = Recorder(explode)
    poller = SqsPoller(sqs, queue.url, handler, PollerConfig(wait_seconds=1))

    first = poll_until(poller, lambda r: bool(r.received))
    assert first.retried == (sent,)
    assert first.error == "RuntimeError: handler bug"
    assert "the whole batch of 1 will be retried" in caplog.text

    def in_dlq() -> list[Any]:
        return sqs.receive_message(QueueUrl=queue.dlq_url, WaitTimeSeconds=1).get("Messages", [])

    # moto moves it after maxReceiveCount (2) receives; keep polling as Lambda would
    moved = eventually(lambda: poller.poll_once(wait_seconds=1) and in_dlq(), what="the dead-letter queue")
    assert moved[0]["Body"] == "poison"
    assert [e["Records"][0]["attributes"]["ApproximateReceiveCount"] for e in handler.events] == ["1", "2"]


def test_the_background_poller_delivers_and_stops(aws: boto3.Session, queue: Queue) -> None:
    sqs = aws.client("sqs")
    handler = Recorder()
    with SqsPoller(sqs, queue.url, handler, PollerConfig(wait_seconds=1)):
        sqs.send_message(QueueUrl=queue.url, MessageBody="hello")
        eventually(lambda: handler.events, what="the handler to be invoked")
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5
    assert handler.events[0]["Records"][0]["body"] == "hello"


@pytest.mark.parametrize(
    ("answer", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, {"a", "b"}),
        ({"batchItemFailures": [{"id": "b"}]}, {"a", "b"}),
        ("not an object", {"a", "b"}),
    ],
)
def test_partial_batch_responses_are_read_as_lambda_reads_them(answer: Any, failed: set[str]) -> None:
    assert failed_message_ids(answer, ("a", "b")) == failed


# -- the API Gateway stand-in ----------------------------------------------------------------------


@pytest.fixture
def gateway() -> Iterator[tuple[CallbackGateway, Recorder]]:
    handler = Recorder(
        lambda event: {"statusCode": 200, "headers": {"X-Echo": "yes"}, "body": '{"ok": true}'}
    )
    with CallbackGateway(handler, stage="local") as running:
        yield running, handler


def _direct() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def test_callback_requests_become_rest_proxy_events(gateway: tuple[CallbackGateway, Recorder]) -> None:
    running, handler = gateway
    with _direct() as http:
        response = http.post(
            f"{running.url}/callbacks/abc123?token=first&token=second&empty=",
            data=b'{"videoNo": "VI1", "status": "PARSE"}',
            headers={"Content-Type": "application/json", "User-Agent": "provider/1.0"},
        )

    assert response.status_code == 200
    assert response.headers["X-Echo"] == "yes"
    assert response.json() == {"ok": True}
    assert response.headers["x-amzn-RequestId"]
    (event,) = handler.events
    assert event["resource"] == "/callbacks/{video_id}"
    assert event["path"] == "/callbacks/abc123"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"video_id": "abc123"}
    assert event["queryStringParameters"] == {"token": "second", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"token": ["first", "second"], "empty": [""]}
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueHeaders"]["User-Agent"] == ["provider/1.0"]
    assert event["body"] == '{"videoNo": "VI1", "status": "PARSE"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "local"
    assert context["path"] == "/local/callbacks/abc123"
    assert context["resourcePath"] == "/callbacks/{video_id}"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["requestId"] == response.headers["x-amzn-RequestId"]
    assert handler.contexts[0].function_name == "callback"


def test_a_body_that_is_not_utf8_arrives_base64_encoded(gateway: tuple[CallbackGateway, Recorder]) -> None:
    running, handler = gateway
    with _direct() as http:
        http.post(f"{running.url}/callbacks/abc", data=b"\xff\xfe\x00binary")
    (event,) = handler.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe\x00binary"


def test_a_chunked_body_is_read_whole(gateway: tuple[CallbackGateway, Recorder]) -> None:
    running, handler = gateway
    with _direct() as http:
        http.post(f"{running.url}/callbacks/abc", data=iter([b'{"videoNo": ', b'"VI1"}']))
    assert handler.events[0]["body"] == '{"videoNo": "VI1"}'


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/local/callbacks/abc", "Missing Authentication Token"),
        ("PUT", "/local/callbacks/abc", "Missing Authentication Token"),
        ("POST", "/local/callbacks/", "Missing Authentication Token"),
        ("POST", "/local/callbacks/abc/extra", "Missing Authentication Token"),
        ("POST", "/local/other", "Missing Authentication Token"),
        ("POST", "/", "Missing Authentication Token"),
        ("POST", "/prod/callbacks/abc", "Forbidden"),
    ],
)
def test_anything_but_the_callback_route_is_refused_like_api_gateway(
    gateway: tuple[CallbackGateway, Recorder], method: str, path: str, message: str
) -> None:
    running, handler = gateway
    with _direct() as http:
        response = http.request(method, f"{running.base_url}{path}", data=b"{}")
    assert response.status_code == 403
    assert response.json() == {"message": message}
    assert handler.events == []


def test_a_payload_over_10_mb_is_refused(gateway: tuple[CallbackGateway, Recorder]) -> None:
    running, handler = gateway
    host, port = running.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(
            f"POST /local/callbacks/abc HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Length: {MAX_PAYLOAD_BYTES + 1}\r\n\r\n".encode()
        )
        status_line = connection.makefile("rb").readline()
    assert status_line.split()[1] == b"413"
    assert handler.events == []


@pytest.mark.parametrize(
    "answer",
    [
        lambda event: (_ for _ in ()).throw(RuntimeError("function crashed")),
        lambda event: {"body": "no status code"},
        lambda event: "not a proxy answer",
    ],
)
def test_a_failing_or_malformed_function_is_a_502(answer: Callable[[dict[str, Any]], Any]) -> None:
    with CallbackGateway(Recorder(answer)) as running, _direct() as http:
        response = http.post(f"{running.url}/callbacks/abc", data=b"{}")
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}


def test_base64_and_multi_value_answers_are_decoded() -> None:
    def answer(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "statusCode": 201,
            "multiValueHeaders": {"X-Many": ["one", "two"]},
            "body": base64.b64encode(b"\x00raw").decode(),
            "isBase64Encoded": True,
        }

    with CallbackGateway(Recorder(answer)) as running, _direct() as http:
        response = http.post(f"{running.url}/callbacks/abc", data=b"{}")
    assert response.status_code == 201
    assert response.content == b"\x00raw"
    assert response.headers["X-Many"] == "one, two"


def test_the_gateway_never_logs_the_token(
    gateway: tuple[CallbackGateway, Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    running, _ = gateway
    caplog.set_level(logging.DEBUG, logger="devstack.gateway")
    with _direct() as http:
        http.post(f"{running.url}/callbacks/abc?token=very-secret-token", data=b"{}")
        http.get(f"{running.url}/callbacks/abc?token=very-secret-token")
        # A request line the server cannot parse is logged as an error, quoting it
        host, port = running.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(b"BOGUS /local/callbacks/abc?token=very-secret-token HTTP/9\r\n\r\n")
            connection.makefile("rb").readline()
    gateway_lines = "\n".join(r.getMessage() for r in caplog.records if r.name == "devstack.gateway")
    assert "/local/callbacks/abc" in gateway_lines
    assert "very-secret-token" not in gateway_lines


# -- the context, the settings, a whole stack ------------------------------------------------------


def test_each_invocation_gets_its_own_context() -> None:
    first = FakeLambdaContext("ingest", timeout_seconds=60)
    second = FakeLambdaContext("ingest", timeout_seconds=60)

    assert first.aws_request_id != second.aws_request_id
    assert first.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:ingest"
    assert first.identity.cognito_identity_id is None
    assert 59_000 < first.get_remaining_time_in_millis() <= 60_000


def test_stack_settings_come_from_the_documented_variables() -> None:
    environ = {
        DYNAMODB_PORT: "18000",
        MOTO_PORT: "",
        env.MEMORIES_API_BASE_URL: "http://127.0.0.1:9999",
        MEMORIES_API_KEY: "their-key",
    }

    config = StackConfig.from_env(environ, default_ports=UP_PORTS)

    assert config.dynamodb_port == 18000
    assert config.moto_port == UP_PORTS[MOTO_PORT]
    assert config.gateway_port == UP_PORTS[GATEWAY_PORT]
    assert config.memories_api_base_url == "http://127.0.0.1:9999"
    assert StackConfig.from_env({}).gateway_port == 0
    with pytest.raises(ValueError, match=GATEWAY_PORT):
        StackConfig.from_env({GATEWAY_PORT: "http"})
    with pytest.raises(ValueError, match=MEMORIES_API_KEY):
        StackConfig.from_env({env.MEMORIES_API_BASE_URL: "http://127.0.0.1:9999"})
    assert not StackConfig.from_env({}).write_results
    assert StackConfig.from_env({WRITE_RESULTS: "true"}).write_results
    with pytest.raises(ValueError, match=WRITE_RESULTS):
        StackConfig.from_env({WRITE_RESULTS: "yes"})


def test_settings_come_from_the_user_not_from_a_stack_already_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the user's environment, then a running stack's changes on top of it
    monkeypatch.setenv(env.VIDEO_SUFFIXES, ".mp4")
    users_server = user_environ().get(env.MEMORIES_API_BASE_URL)  # normally none
    running = _Environment()
    running.set(env.MEMORIES_API_BASE_URL, "http://127.0.0.1:1")
    running.set(env.VIDEO_SUFFIXES, ".mov")
    try:
        # Then a new stack reads the user's values
        assert StackConfig.from_env(os.environ, memories_api_key="k").memories_api_base_url == users_server
        assert user_environ()[env.VIDEO_SUFFIXES] == ".mp4"
    finally:
        running.restore()
    assert os.environ[env.VIDEO_SUFFIXES] == ".mp4"


def test_a_stack_pointed_at_another_server_uses_it_and_cleans_up(emulator: MemoriesEmulator) -> None:
    # Given MEMORIES_API_BASE_URL names a server that is already running
    before = {name: os.environ.get(name) for name in (*AWS_VARIABLES, env.MEMORIES_API_BASE_URL)}
    config = StackConfig(
        memories_api_base_url=emulator.base_url,
        memories_api_key=EMULATOR_API_KEY,
        poll_wait_seconds=1,
        function_env={env.UPLOADS_PER_MINUTE: "600"},
    )

    with LocalStack(config) as stack:
        # Then no emulator of its own starts, and the functions call that server
        assert stack.emulator is None
        assert os.environ[env.MEMORIES_API_BASE_URL] == emulator.base_url
        upload = stack.upload("elsewhere/clip.mp4", SAMPLE)

        def parsed() -> VideoRecord | None:
            record = stack.record(upload.video_id)
            return record if record is not None and record.status == PARSE else None

        record = stack.wait_for(parsed, 20)
        assert record.video_no in {v["videoNo"] for v in emulator.videos()}
        ports = [
            int(url.rsplit(":", 1)[1]) for url in (stack.endpoints()["dynamodb"], stack.endpoints()["s3"])
        ]
        gateway_port = int(stack.gateway_url.split(":")[2].split("/")[0])

    # And on the way out everything stops and the environment is as it was
    assert {name: os.environ.get(name) for name in before} == before
    assert all(port_is_free("127.0.0.1", port) for port in (*ports, gateway_port))


def test_a_message_that_is_not_an_s3_notification_is_one_line_on_the_terminal(
    aws: boto3.Session, queue: Queue
) -> None:
    """As the ingest handler meets it (Powertools' batch processor over the real parser): the
    terminal of ``scripts/demo up`` gets one line saying why; the traceback goes to the log file."""
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=queue.url, MessageBody="not json")
    processor = BatchProcessor(event_type=EventType.SQS)

    def ingest_like(event: dict[str, Any], context: Any) -> Any:
        return process_partial_response(
            event, lambda record: parse_notification(record.body), processor, context
        )

    screen, log_file = io.StringIO(), io.StringIO()
    handlers = [problems_handler(screen), logging.StreamHandler(log_file)]
    poller_logger = logging.getLogger("devstack.poller")
    for handler in handlers:
        poller_logger.addHandler(handler)
    try:
        poll_until(
            SqsPoller(sqs, queue.url, ingest_like, PollerConfig(wait_seconds=1)), lambda r: bool(r.received)
        )
    finally:
        for handler in handlers:
            poller_logger.removeHandler(handler)
    (line,) = screen.getvalue().splitlines()
    assert "the whole batch of 1 will be retried: InvalidEvent: message body is not JSON" in line
    assert "trace in" in line and "functions.log" in line
    assert "Traceback" in log_file.getvalue()


def test_the_functions_clients_are_made_from_the_trimmed_models_the_asset_ships() -> None:
    """The local stack builds each function with ``function_session()``: a call the trimmed models
    (infra/botocore_models.py) lack fails in every end-to-end test, as it would in Lambda."""
    dynamodb = function_session().client("dynamodb", region_name="us-east-1")
    assert hasattr(dynamodb, "update_item")
    assert not hasattr(dynamodb, "create_table")
    assert hasattr(boto3.Session().client("dynamodb", region_name="us-east-1"), "create_table")
