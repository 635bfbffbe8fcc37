"""Lambda's SQS event source mapping, locally: batches from the queue become handler invocations.

What it does as Lambda does (with ``ReportBatchItemFailures`` on, as the CDK stack sets it):
- long-polls up to ``batch_size`` messages, asking for every system and message attribute;
- hands them over as Lambda-shaped records (``messageId``, ``receiptHandle``, ``body``,
  ``attributes`` with ``ApproximateReceiveCount``, ``messageAttributes`` with ``stringValue`` /
  ``binaryValue`` / ``dataType``, ``md5OfBody``, ``eventSource``, ``eventSourceARN``, ``awsRegion``),
  through a JSON round trip so the handler gets plain JSON like a real invocation;
- deletes the messages that succeeded and leaves the ones named in ``batchItemFailures``;
- treats an exception, a malformed response, or a failure naming no message of the batch as the
  whole batch failing: nothing is deleted.
A message left on the queue comes back after the queue's visibility timeout, and moves to the
dead-letter queue after the redrive policy's ``maxReceiveCount``; moto does both itself (and honours
``DelaySeconds`` and ``ChangeMessageVisibility``), so this poller does not.

What differs: one invocation at a time (Lambda runs several pollers and instances; the handler's
module-level batch processor belongs to one execution environment), no batching window, and the
function timeout is only reported through the context, not enforced.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.utilities.typing import LambdaContext

from devstack.background import PollingWorker
from devstack.lambda_context import LOCAL_REGION, FakeLambdaContext

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

__all__ = ["BatchResult", "PollerConfig", "SqsPoller", "lambda_sqs_record"]

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], LambdaContext], Any]

# SQS's own ceiling for one receive, and for one delete batch.
MAX_BATCH: Final = 10


@dataclass(frozen=True, slots=True)
class PollerConfig:
    """batch_size: messages per invocation (1-10; the CDK stack's default is 5).
    wait_seconds: long-poll time per receive (Lambda uses 20; shorter stops faster locally).
    function_timeout_seconds: what the context's remaining time counts down from."""

    batch_size: int = 5
    wait_seconds: int = 2
    function_name: str = "ingest"
    function_timeout_seconds: float = 60.0
    region: str = LOCAL_REGION

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}, got {self.batch_size}")
        if not 0 <= self.wait_seconds <= 20:
            raise ValueError(f"wait_seconds must be between 0 and 20, got {self.wait_seconds}")


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One invocation: the message ids received, deleted, and left for redelivery."""

    received: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    retried: tuple[str, ...] = ()
    error: str | None = None
    response: Any = field(default=None, compare=False)


def _lambda_attribute(value: MessageAttributeValueOutputTypeDef) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return converted


def lambda_sqs_record(message: MessageTypeDef, queue_arn: str, region: str = LOCAL_REGION) -> dict[str, Any]:
    """One received message as Lambda's SQS event source hands it to the function."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_message_ids(response: Any, batch: Sequence[str]) -> frozenset[str]:
    """The ids to leave on the queue, read as Lambda reads a partial batch response.

    Success for all: None, an empty object, no ``batchItemFailures`` or an empty/null list.
    Failure for all: anything that is not an object, or an entry whose ``itemIdentifier`` is
    missing, empty, or not a message of this batch.
    """
    if response is None:
        return frozenset()
    if not isinstance(response, Mapping):
        return frozenset(batch)
    failures = response.get("batchItemFailures")
    if not failures:
        return frozenset()
    if not isinstance(failures, list):
        return frozenset(batch)
    ids = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in batch:
            return frozenset(batch)
        ids.add(identifier)
    return frozenset(ids)


class SqsPoller(PollingWorker):
    """Feeds ``handler`` from ``queue_url`` on a background thread; ``poll_once()`` runs one step."""

    def __init__(
        self, client: SQSClient, queue_url: str, handler: Handler, config: PollerConfig | None = None
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._handler = handler
        self._config = config or PollerConfig()
        self._queue_arn: str | None = None
        # No idle wait: each receive long-polls.
        super().__init__(f"sqs-poller-{self._config.function_name}", queue_url)

    @property
    def queue_arn(self) -> str:
        if self._queue_arn is None:
            attributes = self._client.get_queue_attributes(
                QueueUrl=self._queue_url, AttributeNames=["QueueArn"]
            )
            self._queue_arn = attributes["Attributes"]["QueueArn"]
        return self._queue_arn

    def poll_once(self, wait_seconds: int | None = None) -> BatchResult:
        """Receive one batch (long polling) and invoke the handler with it, if anything came."""
        response = self._client.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._config.batch_size,
            WaitTimeSeconds=self._config.wait_seconds if wait_seconds is None else wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return BatchResult()
        return self._invoke(messages)

    def _invoke(self, messages: Sequence[MessageTypeDef]) -> BatchResult:
        ids = tuple(m["MessageId"] for m in messages)
        # Through JSON and back, as the Lambda service serializes the event and the function's answer.
        event = json.loads(
            json.dumps(
                {"Records": [lambda_sqs_record(m, self.queue_arn, self._config.region) for m in messages]}
            )
        )
        context = FakeLambdaContext(
            self._config.function_name, timeout_seconds=self._config.function_timeout_seconds
        )
        try:
            answer = json.loads(json.dumps(self._handler(event, context)))
        except Exception as exc:
            # Lambda: a function error fails the whole batch; every message comes back later.
            logger.exception(
                "%s failed; the whole batch of %d will be retried", self._config.function_name, len(ids)
            )
            return BatchResult(received=ids, retried=ids, error=f"{type(exc).__name__}: {exc}")
        failed = failed_message_ids(answer, ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        self._delete(done)
        if failed:
            logger.info("%d of %d messages left for redelivery", len(failed), len(ids))
        return BatchResult(
            received=ids,
            deleted=tuple(m["MessageId"] for m in done),
            retried=tuple(i for i in ids if i in failed),
            response=answer,
        )

    def _delete(self, messages: Sequence[MessageTypeDef]) -> None:
        for start in range(0, len(messages), MAX_BATCH):
            chunk = messages[start : start + MAX_BATCH]
            result = self._client.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in result.get("Failed", []):
                logger.warning("could not delete a processed message: %s", failure.get("Message"))

    def _poll(self) -> bool:
        return bool(self.poll_once().received)
