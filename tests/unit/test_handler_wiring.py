"""The handlers only wire: one cold-start idiom, and the app's log lines and metrics are the handler's
(Powertools' Lambda context keys and correlation id on every line the app writes; what the app counts
flushed by the handler's ``log_metrics`` under the function's namespace)."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.lambda_context import FakeLambdaContext
from functions.adapters.aws import PowertoolsMetrics
from functions.adapters.wiring import ColdStart
from functions.core.ingest import Ingestor
from functions.core.metrics import Metric
from functions.core.objects import notification_body
from functions.core.status import PARSE, UNPARSE
from functions.core.views import StatusReader
from functions.ingest import app as ingest_app
from functions.ingest import handler as ingest_handler
from functions.status_api import app as status_app
from functions.status_api import handler as status_handler
from tests.logs import logged_lines
from tests.unit.fakes import FakeClock, FakeObjects, InMemoryStore, created, id_of, record
from tests.unit.test_ingest_handler import received, sqs_event
from tests.unit.test_status_api_handler import get

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
HANDLERS = sorted(FUNCTIONS.glob("*/handler.py"))
NAMESPACE = "WiringTests"


def test_every_function_has_a_handler_that_only_wires() -> None:
    assert {h.parent.name for h in HANDLERS} >= {
        "ingest", "callback", "reconcile", "events", "results", "status_api",
    }  # fmt: skip
    for handler in HANDLERS:
        source = handler.read_text(encoding="utf-8")
        tree = ast.parse(source)
        cold_starts = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ColdStart"
        ]
        assert len(source.splitlines()) <= 60, handler
        assert len(cold_starts) == 1, f"{handler}: one ColdStart"
        assert not any(isinstance(node, ast.Global) for node in ast.walk(tree)), handler


def test_the_app_is_built_once_from_the_environment_and_a_handed_in_one_is_used_as_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WIRING_TEST_SETTING", "from the environment")
    built: list[str] = []

    def build(setting: str) -> object:
        built.append(setting)
        return object()

    cold_start = ColdStart(lambda environ: environ["WIRING_TEST_SETTING"], build)
    handed_in = object()

    assert cold_start(handed_in) is handed_in
    assert built == []
    first = cold_start()
    assert cold_start() is first and cold_start(None) is first
    assert built == ["from the environment"]


def _flushed(stdout: str) -> dict[str, str]:
    """Metric name -> namespace of every EMF document written to stdout."""
    names: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.startswith('{"_aws"'):
            for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                names.update(dict.fromkeys((m["Name"] for m in directive["Metrics"]), directive["Namespace"]))
    return names


@pytest.fixture
def metrics() -> Iterator[PowertoolsMetrics]:
    """What the ingestor counts goes to the ingest function's Powertools Metrics (as ``build`` wires it)."""
    original = ingest_app.metrics.namespace
    ingest_app.metrics.namespace = NAMESPACE
    yield PowertoolsMetrics(ingest_app.metrics)
    ingest_app.metrics.namespace = original


def test_the_ingest_apps_lines_and_counts_are_the_handlers(
    ingestor: Ingestor,
    clock: FakeClock,
    objects: FakeObjects,
    store: InMemoryStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an ingest app whose ingestor counts through the function's Powertools Metrics
    objects.add("clips/holiday.mp4")
    app = ingest_app.IngestApp(ingestor=ingestor, clock=clock)
    event = sqs_event(received(notification_body(created("clips/holiday.mp4")), receive_count=1))
    capsys.readouterr()

    # When Lambda invokes the handler with a batch
    lines = logged_lines(
        ingest_handler.logger,
        lambda: ingest_handler.handler(event, FakeLambdaContext("ingest", timeout_seconds=120), app=app),
    )

    # Then the app's line for the video carries the Lambda context and the video's id
    video_id = id_of(created("clips/holiday.mp4"))
    queued = [line for line in lines if line.get("video_id") == video_id and line.get("correlation_id")]
    assert queued, lines
    for line in queued:
        assert line["correlation_id"] == video_id
        assert line["function_name"] == "ingest" and "function_request_id" in line and "cold_start" in line
    # And the submission the app counted is flushed by the handler, in the function's namespace
    assert store.only().status == UNPARSE
    assert _flushed(capsys.readouterr().out).get(Metric.VIDEOS_SUBMITTED) == NAMESPACE


def test_the_status_apps_lines_and_counts_are_the_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    store = InMemoryStore()
    stored = record(PARSE, ref=created("clips/a.mp4"))
    store.create(stored)
    app = status_app.StatusApp(StatusReader(store), PowertoolsMetrics(status_app.metrics))
    capsys.readouterr()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(status_app.metrics, "namespace", NAMESPACE)
        lines = logged_lines(
            status_handler.logger,
            lambda: status_handler.handler(
                get(f"/videos/{stored.video_id}"),
                FakeLambdaContext("status_api", timeout_seconds=10),
                app=app,
            ),
        )

    (read,) = [line for line in lines if line["message"] == "status read"]
    assert read["function_name"] == "status_api" and "function_request_id" in read
    assert read["video_id"] == stored.video_id and read["caller"].endswith(":user/uploader")
    assert _flushed(capsys.readouterr().out) == {Metric.STATUS_READS: NAMESPACE}
