"""Lambda's DynamoDB Streams event source mapping, locally: the table's stream becomes invocations of
the events handler, as infra/constructs/events.py configures it on AWS.

What it does as Lambda does (``ReportBatchItemFailures``, ``BisectBatchOnFunctionError``, a
bounded ``retry_attempts``, parallelization factor 1):
- reads every shard of the stream from its start (``TRIM_HORIZON``), a parent shard before its
  children, one batch of at most ``batch_size`` records at a time per shard, in sequence order;
- hands the records over in the Lambda event's shape (``eventID``, ``eventName``,
  ``eventVersion``, ``eventSource`` ``aws:dynamodb``, ``awsRegion``, ``dynamodb`` with
  ``ApproximateCreationDateTime`` in epoch seconds, ``Keys``, ``NewImage``, ``OldImage``,
  ``SequenceNumber``, ``SizeBytes``, ``StreamViewType``, ``userIdentity`` for TTL removals, and
  ``eventSourceARN``, the stream's ARN), through a JSON round trip;
- on ``batchItemFailures``, resumes from the lowest failed sequence number (everything after it is
  handed over again); on an exception or a malformed answer the whole batch fails, and is retried
  split in halves (bisect);
- after ``retry_attempts`` failed tries of the same first record, gives up on the batch: it sends
  Lambda's on-failure record (``DDBStreamBatchInfo``) to ``on_failure`` and moves past it.

What differs: DynamoDB Local's region and account are not the stack's (``awsRegion`` is the stack's
region here, as in Lambda), there is no maximum record age (the local stream keeps everything), and
the event source's filter (no removals, no upload-gate item) is not applied: the handler ignores
those itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from aws_lambda_powertools.utilities.typing import LambdaContext

from devstack.background import PollingWorker
from devstack.lambda_context import LOCAL_ACCOUNT_ID, LOCAL_REGION, FakeLambdaContext
from devstack.poller import failed_message_ids
from functions.core.publish import STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS

__all__ = ["StreamBatch", "StreamPoller", "StreamPollerConfig", "lambda_stream_record"]

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], LambdaContext], Any]
OnFailure = Callable[[dict[str, Any]], object]

# GetRecords returns at most 1,000 records; Lambda's batch size for streams is 1..10,000.
MAX_GET_RECORDS: Final = 1000


@dataclass(frozen=True, slots=True)
class StreamPollerConfig:
    """batch_size: records per invocation. retry_attempts: failed tries of a batch before it is
    given up. Both default to what the deployed event source uses. poll_seconds: pause when a shard has nothing new
    (Lambda polls each shard four times a second)."""

    batch_size: int = STREAM_BATCH_SIZE
    retry_attempts: int = STREAM_RETRY_ATTEMPTS
    poll_seconds: float = 0.25
    function_name: str = "events"
    function_timeout_seconds: float = 60.0
    region: str = LOCAL_REGION

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_GET_RECORDS:
            raise ValueError(f"batch_size must be between 1 and {MAX_GET_RECORDS}, got {self.batch_size}")


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """One invocation: the sequence numbers handed over, and those that go back to the stream."""

    shard_id: str
    sequence_numbers: tuple[str, ...] = ()
    retried: tuple[str, ...] = ()
    error: str | None = None
    response: Any = field(default=None, compare=False)


def _epoch_seconds(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(float(value))


def lambda_stream_record(
    record: Mapping[str, Any], stream_arn: str, region: str = LOCAL_REGION
) -> dict[str, Any]:
    """One GetRecords record as Lambda's DynamoDB event source hands it to the function."""
    stream = record["dynamodb"]
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": _epoch_seconds(stream["ApproximateCreationDateTime"])
    }
    for name in ("Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes", "StreamViewType"):
        if name in stream:
            dynamodb[name] = stream[name]
    converted: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record["eventVersion"],
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # a TTL removal
        converted["userIdentity"] = dict(record["userIdentity"])
    return converted


@dataclass(slots=True)
class _Shard:
    shard_id: str
    parent: str | None
    iterator: str | None = None
    started: bool = False
    done: bool = False
    # The records read but not yet handed over successfully, oldest first.
    pending: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0
    # After a function error: hand over half as many until a batch succeeds (bisect).
    limit: int | None = None


class StreamPoller(PollingWorker):
    """Feeds ``handler`` from the stream ``stream_arn`` on a background thread; ``poll_once()`` runs
    one step over every shard."""

    def __init__(
        self,
        client: Any,
        stream_arn: str,
        handler: Handler,
        config: StreamPollerConfig | None = None,
        on_failure: OnFailure | None = None,
    ) -> None:
        # ``client``: a boto3 ``dynamodbstreams`` client (no type stubs for it here).
        self._client = client
        self._stream_arn = stream_arn
        self._handler = handler
        self._config = config or StreamPollerConfig()
        self._on_failure = on_failure
        self._shards: dict[str, _Shard] = {}
        super().__init__(
            f"stream-poller-{self._config.function_name}", stream_arn, idle_seconds=self._config.poll_seconds
        )

    def poll_once(self) -> list[StreamBatch]:
        """One batch from every shard that has records (a parent shard's before its children's)."""
        self._discover()
        batches = []
        for shard in list(self._shards.values()):
            if shard.done or (shard.parent in self._shards and not self._shards[shard.parent].done):
                continue
            batch = self._step(shard)
            if batch is not None:
                batches.append(batch)
        return batches

    def _discover(self) -> None:
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self._stream_arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            description = self._client.describe_stream(**kwargs)["StreamDescription"]
            for shard in description.get("Shards", []):
                if shard["ShardId"] not in self._shards:
                    self._shards[shard["ShardId"]] = _Shard(shard["ShardId"], shard.get("ParentShardId"))
            start = description.get("LastEvaluatedShardId")
            if not start:
                return

    def _read(self, shard: _Shard) -> None:
        """Fill ``pending`` up to the batch size from the shard (nothing new: it stays short)."""
        if not shard.started:
            shard.iterator = self._client.get_shard_iterator(
                StreamArn=self._stream_arn, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            shard.started = True
        while shard.iterator is not None and len(shard.pending) < self._config.batch_size:
            response = self._client.get_records(
                ShardIterator=shard.iterator, Limit=min(MAX_GET_RECORDS, self._config.batch_size)
            )
            records = response.get("Records", [])
            shard.pending.extend(records)
            shard.iterator = response.get("NextShardIterator")
            if not records:
                break

    def _step(self, shard: _Shard) -> StreamBatch | None:
        self._read(shard)
        if not shard.pending:
            shard.done = shard.iterator is None  # a closed shard read to its end
            return None
        size = min(self._config.batch_size, shard.limit or self._config.batch_size)
        batch = shard.pending[:size]
        numbers = tuple(r["dynamodb"]["SequenceNumber"] for r in batch)
        event = json.loads(
            json.dumps(
                {"Records": [lambda_stream_record(r, self._stream_arn, self._config.region) for r in batch]},
                default=str,
            )
        )
        context = FakeLambdaContext(
            self._config.function_name, timeout_seconds=self._config.function_timeout_seconds
        )
        try:
            answer = json.loads(json.dumps(self._handler(event, context)))
        except Exception as exc:
            logger.exception(
                "%s failed; the batch of %d records is retried, split", self._config.function_name, len(batch)
            )
            shard.limit = max(1, len(batch) // 2)
            return self._failed(shard, batch, 0, f"{type(exc).__name__}: {exc}")
        failed = failed_message_ids(answer, numbers)
        if not failed:
            del shard.pending[:size]
            shard.failures, shard.limit = 0, None
            return StreamBatch(shard.shard_id, numbers, response=answer)
        # Lambda's checkpoint: the lowest failed sequence number; everything from it comes again.
        first = min(numbers.index(n) for n in failed)
        del shard.pending[:first]
        return self._failed(shard, batch[first:], first, None, answer)

    def _failed(
        self,
        shard: _Shard,
        again: Sequence[dict[str, Any]],
        done: int,
        error: str | None,
        answer: Any = None,
    ) -> StreamBatch:
        shard.failures = shard.failures + 1 if done == 0 else 1
        numbers = tuple(r["dynamodb"]["SequenceNumber"] for r in again)
        if shard.failures > self._config.retry_attempts:
            self._give_up(shard, again)
        return StreamBatch(shard.shard_id, numbers, retried=numbers, error=error, response=answer)

    def _give_up(self, shard: _Shard, batch: Sequence[dict[str, Any]]) -> None:
        """Lambda's on-failure destination: a pointer to the records, which are then skipped."""
        logger.error(
            "%s: retries exhausted for %d records of %s; sent to the on-failure destination",
            self._config.function_name,
            len(batch),
            shard.shard_id,
        )
        info = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": shard.failures,
                "functionArn": (
                    f"arn:aws:lambda:{self._config.region}:{LOCAL_ACCOUNT_ID}:function:{self._config.function_name}"
                ),
            },
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(batch),
                "streamArn": self._stream_arn,
            },
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if self._on_failure is not None:
            self._on_failure(info)
        del shard.pending[: len(batch)]
        shard.failures, shard.limit = 0, None

    def _poll(self) -> bool:
        # Nothing new, or only failures, is idle (Lambda backs off before a retry too).
        return any(b.sequence_numbers and not b.retried for b in self.poll_once())
