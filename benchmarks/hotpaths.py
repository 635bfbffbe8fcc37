"""The hot paths on the local stack's real parts (DynamoDB Local, moto server, the emulator over HTTP).

- ingest: the AWS calls one video that is not waiting makes before and around ``upload_url``
  (counted at botocore, with DynamoDB's consumed capacity asked for on every write);
- drop -> ``upload_url``: from S3's answer to the ``PutObject`` until the emulator receives the
  call, below the limit, against three baselines measured between the drops (interleaved): one SQS
  receive of a waiting message plus one emulator round trip (the goal's baseline); the same plus
  three conditional writes and one ranged GET (the least the other goals allow: the floor); and
  every request the path makes, made raw (the path without the code);
- callback: the real handler on an API Gateway event (token check, the provider's ``get_metadata``
  over HTTP to the emulator, one conditional ``UpdateItem``), UNPARSE -> PARSE, against one raw
  conditional ``UpdateItem`` plus one ``get_metadata`` round trip; and its DynamoDB part alone
  (``CallbackService`` with a provider stand-in that answers at once) against the raw write alone.
  A duplicate callback too.

    .venv/bin/python -m benchmarks.hotpaths [--quick]
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import botocore.client
import botocore.exceptions
import requests

from benchmarks._report import Row, ratio_row, run_alone
from devstack.gateway import proxy_event
from devstack.lambda_context import FakeLambdaContext
from devstack.stack import LocalStack, StackConfig
from functions.adapters.dynamo import DynamoStatusStore, record_to_item
from functions.core import env, table
from functions.core.callbacks import CallbackConfig, CallbackPayload, CallbackService
from functions.core.content import SNIFF_BYTES
from functions.core.signing import callback_url
from functions.core.status import PARSE, QUEUED, SUBMITTING, UNPARSE, VideoRecord
from tests.unit.fakes import FakeClock, FakeMetrics, FakeProvider, FixedKeys, created, record

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sample.mp4"
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
# As the ingest reads the line (functions.core.ingest._LINE_PEEK).
_LINE_PEEK = 25
_BENCH_LINE = "bench-line"
Call = tuple[str, str, float, float]  # (service, operation, WRU, seconds)


class CallCounter:
    """Every AWS call made through botocore in this process, in order, with the WRU DynamoDB
    reports for each write and its duration; ``upload_url`` calls to the provider are logged in
    the same order."""

    def __init__(self) -> None:
        self.log: list[Call] = []
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
            started = time.perf_counter()
            try:
                response = original(client, operation, params)
            except botocore.exceptions.ClientError as exc:
                response = exc.response
                raise
            finally:
                if counter.active:
                    consumed = response.get("ConsumedCapacity") if isinstance(response, dict) else None
                    wru = float(consumed.get("CapacityUnits", 0.0)) if consumed else 0.0
                    counter.log.append((service, operation, wru, time.perf_counter() - started))
            return response

        def requesting(session: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if counter.active and str(url).endswith("/upload_url"):
                counter.log.append(("memories", "upload_url", 0.0, 0.0))
            return original_request(session, method, url, *args, **kwargs)

        setattr(botocore.client.BaseClient, "_make_api_call", counting)  # noqa: B010
        requests.Session.request = requesting  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            setattr(botocore.client.BaseClient, "_make_api_call", original)  # noqa: B010
            requests.Session.request = original_request  # type: ignore[method-assign]

    def taken(self) -> list[Call]:
        log, self.log = self.log, []
        return log


def _split(log: list[Call]) -> tuple[list[Call], list[Call]]:
    """One video's calls: before its ``upload_url`` and after it (the benchmark's own calls excluded)."""
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
        time.sleep(0.002)
    raise SystemExit("no upload_url call within the timeout")


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


class DropBaselines:
    """The drop's baselines, made raw against the same services (a queue, items and a gate item of
    their own: the pipeline's line and gate are left alone)."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack
        self._sqs = stack.session.client("sqs")
        self._ddb = stack.session.client("dynamodb")
        self._s3 = stack.session.client("s3")
        self._queue = self._sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        self._http = requests.Session()
        self._url = stack.api_base_url.rstrip("/") + "/serve/api/v1/get_metadata"
        self._gate_id = f"bench-gate-{uuid.uuid4().hex[:8]}"
        # A bucket of its own: an object in the pipeline's bucket would be ingested.
        self._bucket = f"bench-floor-{uuid.uuid4().hex[:8]}"
        self._key = "floor.mp4"
        self._s3.create_bucket(Bucket=self._bucket)
        self._s3.put_object(Bucket=self._bucket, Key=self._key, Body=SAMPLE.read_bytes())
        self.stated: list[float] = []
        self.floor: list[float] = []
        self.raw_path: list[float] = []

    def _receive(self) -> None:
        message = self._sqs.receive_message(QueueUrl=self._queue, WaitTimeSeconds=1, MaxNumberOfMessages=1)
        self._sqs.delete_message(QueueUrl=self._queue, ReceiptHandle=message["Messages"][0]["ReceiptHandle"])

    def _stated(self) -> None:
        self._receive()
        self._round_trip()

    def _round_trip(self) -> None:
        self._http.post(self._url, json={}, timeout=10)

    @staticmethod
    def _item(rec: VideoRecord) -> dict[str, Any]:
        """The record's item, under a status and a line of the benchmark's own (the same indexes are
        written, but neither the pipeline's line nor the reconciler sees it)."""
        item = record_to_item(rec)
        item["status"] = {"S": f"BENCH-{rec.status}"}
        if table.LINE_INDEX_PARTITION_KEY in item:
            item[table.LINE_INDEX_PARTITION_KEY] = {"S": _BENCH_LINE}
        return item

    def _create(self, rec: VideoRecord) -> None:
        self._ddb.put_item(
            TableName=self._stack.table_name,
            Item=self._item(rec),
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": table.PARTITION_KEY},
        )

    def _reserve(self) -> None:
        now = time.time()
        self._ddb.update_item(
            TableName=self._stack.table_name,
            Key={table.PARTITION_KEY: {"S": self._gate_id}},
            UpdateExpression="SET #n = :n",
            ConditionExpression="attribute_not_exists(#n) OR #n <= :now",
            ExpressionAttributeNames={"#n": "next_free_at"},
            ExpressionAttributeValues={":n": {"N": repr(now)}, ":now": {"N": repr(now)}},
        )

    def _line(self) -> None:
        self._ddb.query(
            TableName=self._stack.table_name,
            IndexName=table.LINE_INDEX,
            KeyConditionExpression="#l = :l",
            ExpressionAttributeNames={"#l": table.LINE_INDEX_PARTITION_KEY},
            ExpressionAttributeValues={":l": {"S": _BENCH_LINE}},
            Limit=_LINE_PEEK,
        )

    def _claim(self, rec: VideoRecord) -> None:
        self._ddb.put_item(
            TableName=self._stack.table_name,
            Item=self._item(replace(rec, status=SUBMITTING, revision=2)),
            ConditionExpression="#rev = :expected",
            ExpressionAttributeNames={"#rev": "revision"},
            ExpressionAttributeValues={":expected": {"N": "1"}},
        )

    def _peek(self) -> None:
        self._s3.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes=0-{SNIFF_BYTES - 1}")[
            "Body"
        ].read()

    def measure(self, rounds: int) -> None:
        """``rounds`` of each baseline, interleaved; items are made before the timers start."""
        for _ in range(rounds):
            fresh = [
                replace(
                    record(QUEUED, ref=created(f"bench/{uuid.uuid4().hex}.mp4"), updated_at=time.time()),
                    revision=1,
                )
                for _ in range(2)
            ]
            for message in range(3):
                self._sqs.send_message(QueueUrl=self._queue, MessageBody=str(message))
            self.stated.append(_timed(self._stated))

            def floor(rec: VideoRecord = fresh[0]) -> None:
                self._receive()
                self._create(rec)
                self._reserve()
                self._claim(rec)
                self._peek()
                self._round_trip()

            def raw_path(rec: VideoRecord = fresh[1]) -> None:
                self._receive()
                self._create(rec)
                self._line()
                self._reserve()
                self._claim(rec)
                self._peek()
                self._round_trip()

            self.floor.append(_timed(floor))
            self.raw_path.append(_timed(raw_path))


@dataclass
class IngestFigures:
    latencies: list[float] = field(default_factory=list)
    before: Counter[tuple[str, str]] = field(default_factory=Counter)
    after: Counter[tuple[str, str]] = field(default_factory=Counter)
    wru_before: float = 0.0
    wru_after: float = 0.0
    dynamodb_seconds: list[float] = field(default_factory=list)


def _drops(stack: LocalStack, counter: CallCounter, videos: int, baselines: DropBaselines) -> IngestFigures:
    data = SAMPLE.read_bytes()
    figures = IngestFigures()
    # Callbacks come 10 minutes later (after the run): only ingest is counted. The first video warms
    # the functions (clients, secrets); the rest are counted, one at a time, 1.5 s apart (the slots
    # are 1.05 s apart at 60/min: nothing waits), the baselines measured in between.
    for i in range(videos + 1):
        counter.active = i > 0
        dropped_at = time.monotonic()
        stack.upload(f"bench/clip-{uuid.uuid4().hex[:8]}.mp4", data)
        started = time.time()  # S3 has answered: the object is in the bucket
        accepted_at = _wait_accepted(stack, i + 1)
        time.sleep(0.3)  # its last writes (UNPARSE) land
        counter.active = False
        log = counter.taken()
        if i > 0:
            figures.latencies.append(accepted_at - started)
            pre, post = _split(log)
            figures.before.update((s, op) for s, op, *_ in pre)
            figures.after.update((s, op) for s, op, *_ in post)
            figures.wru_before += sum(c[2] for c in pre)
            figures.wru_after += sum(c[2] for c in post)
            figures.dynamodb_seconds.append(sum(c[3] for c in pre if c[0] == "dynamodb"))
        baselines.measure(2)
        time.sleep(max(0.0, 1.5 - (time.monotonic() - dropped_at)))
    return figures


def _per_video(
    calls: Counter[tuple[str, str]], videos: int, service: str, ops: tuple[str, ...] = ()
) -> float:
    return sum(v for (s, op), v in calls.items() if s == service and (not ops or op in ops)) / videos


def _dynamodb_detail(calls: Counter[tuple[str, str]], videos: int) -> str:
    return ", ".join(f"{op} {v / videos:g}" for (s, op), v in sorted(calls.items()) if s == "dynamodb")


def _ingest_count_rows(figures: IngestFigures, videos: int) -> list[Row]:
    """The AWS requests (and DynamoDB's WRU) per video, before and after ``upload_url``."""
    before, after = figures.before, figures.after
    writes = _per_video(before, videos, "dynamodb", _WRITES)
    s3 = _per_video(before, videos, "s3") + _per_video(after, videos, "s3")
    secrets = _per_video(before, videos, "secretsmanager") + _per_video(after, videos, "secretsmanager")
    return [
        Row(
            "hotpaths",
            f"ingest, video not waiting: DynamoDB writes before upload_url ({_dynamodb_detail(before, videos)})",
            f"{writes:g}",
            goal="<= 3",
            met=writes <= 3,
        ),
        Row(
            "hotpaths",
            f"ingest: DynamoDB calls after upload_url ({_dynamodb_detail(after, videos)})",
            f"{_per_video(after, videos, 'dynamodb', _WRITES):g} writes",
        ),
        Row(
            "hotpaths",
            "ingest: DynamoDB WRU per video, indexes incl. (before + after upload_url)",
            f"{(figures.wru_before + figures.wru_after) / videos:g}"
            f" ({figures.wru_before / videos:g} + {figures.wru_after / videos:g})",
        ),
        Row(
            "hotpaths",
            f"ingest: S3 requests per video (before upload_url: {_per_video(before, videos, 's3'):g})",
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


def _drop_latency_rows(figures: IngestFigures, baselines: DropBaselines) -> list[Row]:
    """Drop -> ``upload_url`` against the goal's baseline, the floor and the path's requests made raw."""
    latency = statistics.median(figures.latencies)
    stated = statistics.median(baselines.stated)
    floor = statistics.median(baselines.floor)
    return [
        ratio_row(
            "hotpaths",
            "drop -> upload_url below the limit (vs 1 SQS receive + 1 emulator round trip)",
            latency,
            stated,
            1.5,
        ),
        Row(
            "hotpaths",
            "drop -> upload_url: of which in DynamoDB requests (botocore, from the call to its answer)",
            f"{statistics.median(figures.dynamodb_seconds) * 1000:.1f} ms",
        ),
        ratio_row(
            "hotpaths",
            "the floor the other goals allow (1 receive + 3 conditional writes + 1 ranged GET"
            " + 1 round trip, raw) vs the goal's baseline: 1.5 x is out of reach",
            floor,
            stated,
            1.5,
        ),
        Row(
            "hotpaths",
            "drop -> upload_url vs that floor",
            f"{latency * 1000:.1f} ms",
            f"{floor * 1000:.1f} ms",
            latency / floor,
        ),
        Row(
            "hotpaths",
            "drop -> upload_url vs its own requests made raw (receive, PutItem, Query, UpdateItem,"
            " PutItem, ranged GET, round trip)",
            f"{latency * 1000:.1f} ms",
            f"{statistics.median(baselines.raw_path) * 1000:.1f} ms",
            latency / statistics.median(baselines.raw_path),
        ),
    ]


def _ingest_rows(figures: IngestFigures, videos: int, baselines: DropBaselines) -> list[Row]:
    return [*_ingest_count_rows(figures, videos), *_drop_latency_rows(figures, baselines)]


def _signing_key(stack: LocalStack) -> bytes:
    secrets = stack.session.client("secretsmanager")
    value = secrets.get_secret_value(SecretId=stack.resources.signing_secret_id)["SecretString"]
    return str(value).strip().encode("utf-8")


def _callback_event(stack: LocalStack, key: bytes, video_id: str, body: dict[str, str]) -> dict[str, Any]:
    url = callback_url(stack.gateway_url, key, video_id)
    target = url.split("/" + stack.config.stage, 1)[1]
    return proxy_event(
        method="POST",
        target=f"/{stack.config.stage}{target}",
        headers=[("Content-Type", "application/json")],
        body=json.dumps(body).encode(),
        stage=stack.config.stage,
        source_ip="203.0.113.9",
    )


def _write_part(store: DynamoStatusStore, video_no: str) -> CallbackService:
    """The callback's DynamoDB part alone: ``CallbackService`` with a provider stand-in that answers
    at once that ``video_no`` is PARSE."""
    stand_in = FakeProvider()
    stand_in.statuses[video_no] = PARSE
    return CallbackService(
        CallbackConfig(unique_id="bench", token_ttl_seconds=3600),
        store=store,
        signing_keys=FixedKeys(),
        provider=stand_in,
        clock=FakeClock(),
        metrics=FakeMetrics(),
    )


class _Recording:
    """A DynamoDB client that keeps the parameters of its last UpdateItem."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.last: dict[str, Any] = {}

    def update_item(self, **params: Any) -> Any:
        self.last = params
        return self._client.update_item(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class CallbackRig:
    """The callback benchmark's parts and its timed operations: the real handler, its write part, and
    the raw requests they are measured against. ``video_no``: a video the emulator holds (uploaded by
    the drops), set to PARSE there, so that ``get_metadata`` confirms the callbacks' claim."""

    def __init__(self, stack: LocalStack, video_no: str) -> None:
        import functions.callback.handler as callback  # noqa: PLC0415 (after the stack set the environment)
        from functions.core.settings import CallbackSettings  # noqa: PLC0415

        assert stack.emulator is not None
        stack.emulator.set_status(video_no, PARSE)
        self._stack = stack
        self._video_no = video_no
        self._client = stack.session.client("dynamodb")
        self._store = DynamoStatusStore(self._client, stack.table_name)
        self._write_part = _write_part(self._store, video_no)
        self._handler = callback.handler
        self._full = callback.build(CallbackSettings.from_env(os.environ))
        self._key = _signing_key(stack)
        self._context = FakeLambdaContext("callback", timeout_seconds=20)
        self._http = requests.Session()
        self._metadata_url = stack.api_base_url.rstrip("/") + "/serve/api/v1/get_metadata"
        self._unique_id = os.environ.get(env.MEMORIES_UNIQUE_ID) or "default"
        self._payload = {"videoNo": video_no, "status": PARSE}
        self._claim = CallbackPayload(video_no=video_no, status=PARSE)
        # The write part's own UpdateItem (its expression: history, counters, conditions), made raw.
        recording = _Recording(self._client)
        _write_part(DynamoStatusStore(recording, stack.table_name), video_no).apply(self.fresh(), self._claim)
        self._same_update = recording.last

    def fresh(self) -> str:
        """A new UNPARSE record of the video; its id."""
        rec = replace(
            record(UNPARSE, video_no=self._video_no, updated_at=time.time()), video_id=uuid.uuid4().hex
        )
        self._store.create(rec)
        return rec.video_id

    def event(self, video_id: str) -> dict[str, Any]:
        return _callback_event(self._stack, self._key, video_id, self._payload)

    def raw_update(self, video_id: str) -> None:
        self._client.update_item(
            TableName=self._stack.table_name,
            Key={"video_id": {"S": video_id}},
            UpdateExpression="SET #s = :to",
            ConditionExpression="#s = :from",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":to": {"S": PARSE}, ":from": {"S": UNPARSE}},
        )

    def raw_same_update(self, video_id: str) -> None:
        self._client.update_item(**{**self._same_update, "Key": {"video_id": {"S": video_id}}})

    def round_trip(self) -> None:
        self._http.get(
            self._metadata_url,
            params={"video_no": self._video_no, "unique_id": self._unique_id},
            headers={"Authorization": self._stack.api_key},
            timeout=10,
        )

    def raw_update_and_round_trip(self, video_id: str) -> None:
        self.raw_update(video_id)
        self.round_trip()

    def invoke(self, event: dict[str, Any]) -> None:
        """The real handler on ``event``; anything but an applied or duplicate answer ends the run."""
        answer = self._handler(event, self._context, app=self._full)
        if answer["statusCode"] != 200 or json.loads(answer["body"])["result"] not in (
            "applied",
            "duplicate",
        ):
            raise SystemExit(f"callback benchmark: unexpected answer {answer}")

    def timed_round(self) -> dict[str, float]:
        """Each operation once, in turn, on records made before the timers start."""
        ids = [self.fresh() for _ in range(5)]
        events = [self.event(ids[3]) for _ in range(2)]
        return {
            "raw": _timed(partial(self.raw_update, ids[0])),
            "raw same": _timed(partial(self.raw_same_update, ids[4])),
            "raw+rt": _timed(partial(self.raw_update_and_round_trip, ids[1])),
            "part": _timed(partial(self._write_part.apply, ids[2], self._claim)),
            "part dup": _timed(partial(self._write_part.apply, ids[2], self._claim)),
            "full": _timed(partial(self.invoke, events[0])),
            "full dup": _timed(partial(self.invoke, events[1])),
        }

    def counted(self, counter: CallCounter) -> dict[str, list[Call]]:
        """The AWS requests of one applied callback and of its duplicate (not timed)."""
        last = self.fresh()
        counter.active = True
        self.invoke(self.event(last))
        applied = _callbacks_own(counter.taken())
        self.invoke(self.event(last))
        duplicate = _callbacks_own(counter.taken())
        counter.active = False
        return {"applied": applied, "duplicate": duplicate}


def _callbacks_own(calls: list[Call]) -> list[Call]:
    """The callback's requests: the local stream poller (the events function's event source, a
    thread of this process) reads the table's stream meanwhile, which a callback never does."""
    return [call for call in calls if call[0] != "dynamodbstreams"]


def _shown(calls: list[Call]) -> str:
    ops = Counter(f"{s}.{op}" for s, op, *_ in calls)
    return ", ".join(f"{op} {n}" for op, n in sorted(ops.items())) or "none"


def _write_part_rows(med: dict[str, float]) -> list[Row]:
    """The callback's write part (a provider stand-in) against the raw UpdateItems."""
    return [
        ratio_row(
            "hotpaths",
            "callback UNPARSE->PARSE, the write part (provider stand-in) vs 1 raw conditional UpdateItem",
            med["part"],
            med["raw"],
            1.2,
        ),
        ratio_row(
            "hotpaths",
            "the write part vs its own UpdateItem made raw (history, counters, conditions)",
            med["part"],
            med["raw same"],
            1.2,
        ),
        Row(
            "hotpaths",
            "its own UpdateItem made raw vs 1 raw conditional UpdateItem (DynamoDB Local's work)",
            f"{med['raw same'] * 1000:.1f} ms",
            f"{med['raw'] * 1000:.1f} ms",
            med["raw same"] / med["raw"],
        ),
        ratio_row(
            "hotpaths",
            "duplicate callback PARSE, the write part (a refused conditional write) vs 1 raw conditional UpdateItem",
            med["part dup"],
            med["raw"],
            1.2,
        ),
    ]


def _callback_report(med: dict[str, float], counted: dict[str, list[Call]]) -> list[Row]:
    """The callback's rows: its AWS requests, and the medians of its timed operations against the raw
    ones."""
    return [
        Row(
            "hotpaths",
            "callback, AWS requests: applied ("
            + _shown(counted["applied"])
            + "); duplicate ("
            + _shown(counted["duplicate"])
            + ")",
            f"{sum(c[2] for c in counted['applied']):g} WRU; {sum(c[2] for c in counted['duplicate']):g} WRU",
        ),
        ratio_row(
            "hotpaths",
            "callback UNPARSE->PARSE through the handler (token, get_metadata, 1 conditional write)"
            " vs 1 raw conditional UpdateItem + 1 get_metadata round trip",
            med["full"],
            med["raw+rt"],
            1.2,
        ),
        ratio_row(
            "hotpaths",
            "duplicate callback PARSE through the handler (the same baseline)",
            med["full dup"],
            med["raw+rt"],
            1.2,
        ),
        *_write_part_rows(med),
        Row(
            "hotpaths",
            "the get_metadata round trip alone (emulator over HTTP)",
            f"{(med['raw+rt'] - med['raw']) * 1000:.1f} ms",
        ),
    ]


def _callback_rows(stack: LocalStack, counter: CallCounter, rounds: int, video_no: str) -> list[Row]:
    """``video_no``: a video the emulator holds (uploaded by the drops); see ``CallbackRig``."""
    rig = CallbackRig(stack, video_no)
    rig.timed_round()  # warm-up round (clients, secrets, connections), then counted once (not timed)
    counted = rig.counted(counter)
    timed = [rig.timed_round() for _ in range(rounds)]
    med = {name: statistics.median(t[name] for t in timed) for name in timed[0]}
    return _callback_report(med, counted)


def rows(quick: bool = False) -> list[Row]:
    videos = 5 if quick else 12
    # 60/min, drops 1.5 s apart: below the limit, no video waits for a slot.
    config = StackConfig.from_env(
        os.environ,
        callback_delays=(600.0, 601.0),
        poll_wait_seconds=1,
        function_env={env.UPLOADS_PER_MINUTE: "60"},
    )
    with CallCounter().installed() as counter, LocalStack(config) as stack:
        baselines = DropBaselines(stack)
        figures = _drops(stack, counter, videos, baselines)
        ingest = _ingest_rows(figures, videos, baselines)
        assert stack.emulator is not None
        video_no = next(str(v["videoNo"]) for v in stack.emulator.videos() if v.get("videoNo"))
        callback = _callback_rows(stack, counter, 20 if quick else 100, video_no)
    return [*ingest, *callback]


def main(argv: list[str] | None = None) -> int:
    return run_alone(__doc__, rows, argv)


if __name__ == "__main__":
    raise SystemExit(main())
