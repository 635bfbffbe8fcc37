"""The hot paths on the local stack's real parts (DynamoDB Local, moto server, the emulator over HTTP).

- ingest: the AWS calls one video that is not waiting makes before and around ``upload_url``
  (counted at botocore, with DynamoDB's consumed capacity asked for on every write);
- callback: ``CallbackService.apply`` with the real DynamoDB store and a provider stand-in that
  answers at once (the DynamoDB part), UNPARSE -> PARSE, against one raw conditional ``UpdateItem``
  of the same record; a duplicate callback too. The provider's ``get_metadata`` round trip comes on
  top of it and is measured alone against the emulator;
- drop -> ``upload_url``: an object put in the bucket until the emulator receives the call, below
  the limit, against one SQS receive of a waiting message plus one emulator round trip.

    .venv/bin/python -m benchmarks.hotpaths [--quick]
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.client
import botocore.exceptions
import requests

from benchmarks._report import Row, ratio_row, run_alone
from devstack.stack import LocalStack, StackConfig
from functions.adapters.dynamo import DynamoStatusStore
from functions.core import env
from functions.core.callbacks import CallbackConfig, CallbackPayload, CallbackService
from functions.core.status import PARSE, UNPARSE
from tests.unit.fakes import FakeClock, FakeMetrics, FakeProvider, FixedKeys, record

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sample.mp4"
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


class CallCounter:
    """Every AWS call made through botocore in this process, in order, with the WRU DynamoDB
    reports for each write; ``upload_url`` calls to the provider are logged in the same order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, float]] = []  # (service, operation, WRU)
        self.active = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[CallCounter]:
        original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)
        original_request = requests.Session.request
        counter = self

        def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            if counter.active and service == "dynamodb" and operation in _WRITES:
                params = {**params, "ReturnConsumedCapacity": "INDEXES"}
            try:
                response = original(client, operation, params)
            except botocore.exceptions.ClientError as exc:
                response = exc.response
                raise
            finally:
                if counter.active:
                    consumed = response.get("ConsumedCapacity") if isinstance(response, dict) else None
                    wru = float(consumed.get("CapacityUnits", 0.0)) if consumed else 0.0
                    counter.log.append((service, operation, wru))
            return response

        def requesting(session: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if counter.active and str(url).endswith("/upload_url"):
                counter.log.append(("memories", "upload_url", 0.0))
            return original_request(session, method, url, *args, **kwargs)

        setattr(botocore.client.BaseClient, "_make_api_call", counting)  # noqa: B010
        requests.Session.request = requesting  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            setattr(botocore.client.BaseClient, "_make_api_call", original)  # noqa: B010
            requests.Session.request = original_request  # type: ignore[method-assign]

    def taken(self) -> list[tuple[str, str, float]]:
        log, self.log = self.log, []
        return log


def _split(
    log: list[tuple[str, str, float]],
) -> tuple[list[tuple[str, str, float]], list[tuple[str, str, float]]]:
    """One video's calls: before its ``upload_url`` and after it (the benchmark's PutObject excluded)."""
    calls = [c for c in log if (c[0], c[1]) != ("s3", "PutObject")]
    marker = next(i for i, c in enumerate(calls) if c[0] == "memories")
    return calls[:marker], calls[marker + 1 :]


def _wait_accepted(stack: LocalStack, count: int, timeout: float = 60) -> float:
    assert stack.emulator is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        accepted = sorted(c["at"] for c in stack.emulator.calls() if c["outcome"] == "accepted")
        if len(accepted) >= count:
            return float(accepted[count - 1])
        time.sleep(0.005)
    raise SystemExit("no upload_url call within the timeout")


def _ingest_rows(stack: LocalStack, counter: CallCounter, videos: int) -> tuple[list[Row], list[float]]:
    data = SAMPLE.read_bytes()
    latencies: list[float] = []
    before: Counter[tuple[str, str]] = Counter()
    after: Counter[tuple[str, str]] = Counter()
    wru_before = wru_after = 0.0
    # Callbacks come 10 minutes later (after the run): only ingest is counted. The first video warms
    # the functions (clients, secrets); the rest are counted, one at a time.
    for i in range(videos + 1):
        counter.active = i > 0
        started = time.time()
        stack.upload(f"bench/clip-{uuid.uuid4().hex[:8]}.mp4", data)
        latencies.append(_wait_accepted(stack, i + 1) - started)
        time.sleep(1.5)  # its last write (UNPARSE) lands and the next slot is free: nothing waits
        counter.active = False
        if i > 0:
            pre, post = _split(counter.taken())
            before.update((s, op) for s, op, _ in pre)
            after.update((s, op) for s, op, _ in post)
            wru_before += sum(w for *_, w in pre)
            wru_after += sum(w for *_, w in post)
        counter.taken()

    def per(calls: Counter[tuple[str, str]], service: str, ops: tuple[str, ...] = ()) -> float:
        return sum(v for (s, op), v in calls.items() if s == service and (not ops or op in ops)) / videos

    def detail(calls: Counter[tuple[str, str]]) -> str:
        return ", ".join(f"{op} {v / videos:g}" for (s, op), v in sorted(calls.items()) if s == "dynamodb")

    writes = per(before, "dynamodb", _WRITES)
    s3 = per(before, "s3") + per(after, "s3")
    secrets = per(before, "secretsmanager") + per(after, "secretsmanager")
    rows = [
        Row(
            "hotpaths",
            f"ingest, video not waiting: DynamoDB writes before upload_url ({detail(before)})",
            f"{writes:g}",
            goal="<= 3",
            met=writes <= 3,
        ),
        Row(
            "hotpaths",
            f"ingest: DynamoDB calls after upload_url ({detail(after)})",
            f"{per(after, 'dynamodb', _WRITES):g} writes",
        ),
        Row(
            "hotpaths",
            "ingest: DynamoDB WRU per video, indexes incl. (before + after upload_url)",
            f"{(wru_before + wru_after) / videos:g} ({wru_before / videos:g} + {wru_after / videos:g})",
        ),
        Row(
            "hotpaths",
            f"ingest: S3 requests per video (before upload_url: {per(before, 's3'):g})",
            f"{s3:g}",
            goal="<= 1",
            met=s3 <= 1,
        ),
        Row(
            "hotpaths",
            "ingest: Secrets Manager calls per video once warm",
            f"{secrets:g}",
            goal="0",
            met=secrets == 0,
        ),
    ]
    return rows, latencies[1:]


def _callback_rows(stack: LocalStack, counter: CallCounter, rounds: int) -> list[Row]:
    client = stack.session.client("dynamodb")
    store = DynamoStatusStore(client, stack.table_name)
    provider = FakeProvider()
    service = CallbackService(
        CallbackConfig(unique_id="bench", token_ttl_seconds=3600),
        store=store,
        signing_keys=FixedKeys(),
        provider=provider,
        clock=FakeClock(),
        metrics=FakeMetrics(),
    )
    applied: list[float] = []
    duplicate: list[float] = []
    raw: list[float] = []
    for i in range(rounds):
        video_no = f"VIB{i:05d}"
        provider.statuses[video_no] = PARSE
        ids = []
        for _ in range(2):
            rec = replace(record(UNPARSE, video_no=video_no), video_id=uuid.uuid4().hex)
            store.create(rec)
            ids.append(rec.video_id)
        # interleaved: raw conditional UpdateItem on one record, the callback on the other
        start = time.perf_counter()
        client.update_item(
            TableName=stack.table_name,
            Key={"video_id": {"S": ids[0]}},
            UpdateExpression="SET #s = :to",
            ConditionExpression="#s = :from",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":to": {"S": PARSE}, ":from": {"S": UNPARSE}},
        )
        raw.append(time.perf_counter() - start)
        start = time.perf_counter()
        service.apply(ids[1], CallbackPayload(video_no=video_no, status=PARSE))
        applied.append(time.perf_counter() - start)
        start = time.perf_counter()
        service.apply(ids[1], CallbackPayload(video_no=video_no, status=PARSE))
        duplicate.append(time.perf_counter() - start)
        if i == 0:  # a third record, counted (consumed capacity asked for: not timed)
            counted = replace(record(UNPARSE, video_no=video_no), video_id=uuid.uuid4().hex)
            store.create(counted)
            counter.active = True
            service.apply(counted.video_id, CallbackPayload(video_no=video_no, status=PARSE))
            applied_calls = counter.taken()
            service.apply(counted.video_id, CallbackPayload(video_no=video_no, status=PARSE))
            duplicate_calls = counter.taken()
            counter.active = False
    base = statistics.median(raw)
    provider_rt = _provider_round_trip(stack, rounds)
    return [
        Row(
            "hotpaths",
            "callback: DynamoDB requests / WRU, applied; duplicate (a refused conditional write)",
            f"{len(applied_calls)} / {sum(w for *_, w in applied_calls):g};"
            f" {len(duplicate_calls)} / {sum(w for *_, w in duplicate_calls):g}",
        ),
        ratio_row(
            "hotpaths",
            "callback UNPARSE->PARSE, DynamoDB part (vs 1 raw conditional UpdateItem)",
            statistics.median(applied),
            base,
            1.2,
        ),
        ratio_row(
            "hotpaths",
            "duplicate callback PARSE, DynamoDB part (vs 1 raw conditional UpdateItem)",
            statistics.median(duplicate),
            base,
            1.2,
        ),
        Row(
            "hotpaths",
            "the provider confirmation on top (get_metadata round trip, emulator over HTTP)",
            f"{provider_rt * 1000:.1f} ms",
        ),
    ]


def _provider_round_trip(stack: LocalStack, rounds: int) -> float:
    session = requests.Session()
    url = stack.api_base_url.rstrip("/") + "/serve/api/v1/get_metadata"
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        session.post(
            url,
            json={"videoNo": f"VIB{i:05d}", "uniqueId": "bench"},
            headers={"Authorization": stack.api_key},
            timeout=10,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _drop_baseline(stack: LocalStack, rounds: int) -> float:
    """One SQS receive of a message already waiting, plus one HTTP round trip to the emulator."""
    sqs = stack.session.client("sqs")
    queue = sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    http = requests.Session()
    times = []
    for _ in range(rounds):
        sqs.send_message(QueueUrl=queue, MessageBody="{}")
        start = time.perf_counter()
        message = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MaxNumberOfMessages=1)["Messages"][0]
        http.post(stack.api_base_url.rstrip("/") + "/serve/api/v1/get_metadata", json={}, timeout=10)
        times.append(time.perf_counter() - start)
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return statistics.median(times)


def rows(quick: bool = False) -> list[Row]:
    videos = 3 if quick else 8
    # 60/min, drops 1.5 s apart: below the limit, no video waits for a slot.
    config = StackConfig.from_env(
        os.environ,
        callback_delays=(600.0, 601.0),
        poll_wait_seconds=1,
        function_env={env.UPLOADS_PER_MINUTE: "60"},
    )
    with CallCounter().installed() as counter, LocalStack(config) as stack:
        ingest, latencies = _ingest_rows(stack, counter, videos)
        drop = ratio_row(
            "hotpaths",
            "drop -> upload_url below the limit (vs 1 SQS receive + 1 emulator round trip)",
            statistics.median(latencies),
            _drop_baseline(stack, 10 if quick else 30),
            1.5,
        )
        callback = _callback_rows(stack, counter, 20 if quick else 100)
    return [*ingest, drop, *callback]


def main(argv: list[str] | None = None) -> int:
    return run_alone(__doc__, rows, argv)


if __name__ == "__main__":
    raise SystemExit(main())
