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

import argparse
import contextlib
import logging
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
import requests

from benchmarks._report import Row, ratio_row, render
from devstack.stack import LocalStack, StackConfig
from functions.adapters.dynamo import DynamoStatusStore
from functions.core import env
from functions.core.callbacks import CallbackConfig, CallbackPayload, CallbackService
from functions.core.status import PARSE, UNPARSE
from tests.unit.fakes import FakeClock, FakeMetrics, FakeProvider, FixedKeys, record

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sample.mp4"
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


class CallCounter:
    """Every AWS call made through botocore in this process, by (service, operation), plus WRU."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.wru = 0.0
        self.active = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[CallCounter]:
        original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)
        counter = self

        def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            if counter.active and service == "dynamodb" and operation in _WRITES:
                params = {**params, "ReturnConsumedCapacity": "INDEXES"}
            response = original(client, operation, params)
            if counter.active:
                counter.calls[(service, operation)] += 1
                consumed = response.get("ConsumedCapacity") if isinstance(response, dict) else None
                if consumed:
                    counter.wru += float(consumed.get("CapacityUnits", 0.0))
            return response

        setattr(botocore.client.BaseClient, "_make_api_call", counting)  # noqa: B010
        try:
            yield self
        finally:
            setattr(botocore.client.BaseClient, "_make_api_call", original)  # noqa: B010


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
    # Callbacks come 10 minutes later (after the run): only ingest is counted. The first video warms the functions (clients, secrets); the rest are counted.
    for i in range(videos + 1):
        if i == 1:
            counter.calls.clear()
            counter.wru = 0.0
            counter.active = True
        started = time.time()
        stack.upload(f"bench/clip-{uuid.uuid4().hex[:8]}.mp4", data)
        latencies.append(_wait_accepted(stack, i + 1) - started)
        time.sleep(1.5)  # its last write (UNPARSE) lands and the next slot is free: nothing waits
    counter.active = False
    per = {k: v / videos for k, v in counter.calls.items()}
    ddb_writes = sum(v for (s, op), v in per.items() if s == "dynamodb" and op in _WRITES)
    s3 = sum(v for (s, _), v in per.items() if s == "s3") - 1  # the benchmark's own PutObject
    secrets = sum(v for (s, _), v in per.items() if s == "secretsmanager")
    detail = ", ".join(f"{op} {v:g}" for (s, op), v in sorted(per.items()) if s == "dynamodb")
    rows = [
        Row(
            "hotpaths",
            f"ingest: DynamoDB writes per video not waiting ({detail})",
            f"{ddb_writes:g}",
            goal="<= 3",
            met=ddb_writes <= 3,
        ),
        Row("hotpaths", "ingest: DynamoDB WRU per video (indexes incl.)", f"{counter.wru / videos:g}"),
        Row(
            "hotpaths",
            "ingest: S3 requests per video (before upload_url)",
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


def _callback_rows(stack: LocalStack, rounds: int) -> list[Row]:
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
    base = statistics.median(raw)
    provider_rt = _provider_round_trip(stack, rounds)
    return [
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
        callback = _callback_rows(stack, 20 if quick else 100)
    return [*ingest, drop, *callback]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        result = rows(args.quick)
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
