"""The results function's AWS side: the results bucket, the status events bus, and its own queue
(a job put off with ChangeMessageVisibility, or moved to the dead-letter queue with its reason)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

from functions.core import events
from functions.core.events import ResultsWrittenDetail

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

__all__ = ["EventBridgeResults", "S3Results", "SqsJobs"]

# The message attribute that says why a job was moved to the dead-letter queue.
FAILURE_ATTRIBUTE: Final = "failure"


class S3Results:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put_json(self, key: str, body: bytes) -> None:
        # The bucket's default encryption applies (SSE-S3, or the owner's SSE-KMS key).
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")


class EventBridgeResults:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def results_written(self, detail: ResultsWrittenDetail) -> None:
        answer = self._client.put_events(
            Entries=[
                {
                    "Source": events.SOURCE,
                    "DetailType": events.RESULTS_WRITTEN,
                    "Detail": json.dumps(detail),
                    "EventBusName": self._bus,
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            entry = answer["Entries"][0]
            raise RuntimeError(
                f"EventBridge refused the results event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
            )


class SqsJobs:
    """The results queue, for what the batch response cannot say: "not before" and "give up now"."""

    def __init__(self, client: SQSClient, queue_url: str, dead_letter_queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._dead_letter_queue_url = dead_letter_queue_url

    def defer(self, receipt_handle: str, seconds: int) -> None:
        """The message comes back in ``seconds`` (once the batch reports it failed)."""
        self._client.change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )

    def dead_letter(self, body: str, reason: str) -> None:
        """A copy of the job on the dead-letter queue, saying why (the original is then deleted)."""
        self._client.send_message(
            QueueUrl=self._dead_letter_queue_url,
            MessageBody=body,
            MessageAttributes={FAILURE_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000]}},
        )
