"""Clients only some invocations need are made on their first use, not at cold start."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from functions.adapters import wiring
from functions.core.settings import IngestSettings, ReconcileSettings
from tests.unit.test_settings import INGEST_ENV, RECONCILE_ENV


class Made:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> Any:
        self.count += 1
        return {"made": self.count}


def test_a_deferred_object_is_made_on_its_first_use_once() -> None:
    made = Made()
    value = wiring.deferred(made)
    assert made.count == 0
    assert value.get("made") == 1
    assert value.get("made") == 1
    assert made.count == 1


def test_threads_using_it_at_once_share_one() -> None:
    made = Made()
    value = wiring.deferred(made)
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        value.get("made")

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made.count == 1


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> tuple[boto3.Session, list[str]]:
    """A session that records the clients it makes."""
    real = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    made: list[str] = []
    client = real.client

    def recording(name: str, *args: Any, **kwargs: Any) -> Any:
        made.append(name)
        return client(name, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(real, "client", recording)
    return real, made


def test_the_ingest_cold_start_makes_only_the_dynamodb_client(
    session: tuple[boto3.Session, list[str]],
) -> None:
    """A tick with nothing due never loads S3's model (the largest) nor Secrets Manager's: a turn
    makes them before its slot is reserved (tests/unit/test_ingest.py, ``ready``)."""
    from functions.ingest import handler  # noqa: PLC0415 (its Logger reads the environment)

    real, made = session
    handler.build(IngestSettings.from_env(INGEST_ENV), real)
    assert made == ["dynamodb"]


def test_the_reconcile_cold_start_makes_only_the_dynamodb_client(
    session: tuple[boto3.Session, list[str]],
) -> None:
    """A pass with nothing to ask memories.ai about (the usual one) never reads a secret."""
    from functions.reconcile import handler  # noqa: PLC0415

    real, made = session
    handler.build(ReconcileSettings.from_env(RECONCILE_ENV), real)
    assert made == ["dynamodb"]


def test_ready_makes_the_client_and_reads_the_secrets_until_each_has_succeeded_once() -> None:
    """Before the first slot: the deferred client made, both secrets read. A read that fails (an
    outage) is tried again at the next slot, not reported here; once all succeeded, nothing more
    (a paused line does not read the API key every tick)."""
    clients: list[SimpleNamespace] = []

    def make_client() -> SimpleNamespace:
        clients.append(SimpleNamespace(meta="a client's meta"))
        return clients[-1]

    client = wiring.deferred(make_client)
    reads: list[str] = []
    outage = [True]

    def signing_key() -> str:
        reads.append("signing")
        return "k"

    def api_key() -> str:
        reads.append("api")
        if outage[0]:
            raise ConnectionError("Secrets Manager unreachable")
        return "key"

    make_ready = wiring.ready(client, signing_key, api_key)  # type: ignore[arg-type]
    assert clients == [] and reads == []
    make_ready()
    assert len(clients) == 1 and reads == ["signing", "api"]
    outage[0] = False
    make_ready()
    assert reads == ["signing", "api", "api"]  # only the one that failed
    make_ready()
    assert len(clients) == 1 and reads == ["signing", "api", "api"]
