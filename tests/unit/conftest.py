"""Unit tests: the domain wired to in-memory fakes, and no network at all."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NoReturn

import pytest

from functions.core.callbacks import CallbackConfig, CallbackService
from functions.core.contract import OptionalFields
from functions.core.ingest import IngestConfig, Ingestor
from functions.core.reconcile import ReconcileConfig, Reconciler
from functions.core.settings import DEFAULT_CALLBACK_TOKEN_TTL_SECONDS
from tests.unit.fakes import (
    BUCKET,
    CALLBACK_BASE,
    RECONCILE_AFTER,
    SIGNING_KEY,
    STUCK_AFTER,
    UNIQUE_ID,
    FakeClock,
    FakeGate,
    FakeMetrics,
    FakeObjects,
    FakeProvider,
    FixedKeys,
    InMemoryStore,
    MakeIngestor,
)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never reach the network: any attempt to connect fails the test loudly."""

    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError(f"unit tests must not use the network (tried {args[1:]!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def objects() -> FakeObjects:
    return FakeObjects()


@pytest.fixture
def gate() -> FakeGate:
    return FakeGate()


@pytest.fixture
def metrics() -> FakeMetrics:
    return FakeMetrics()


@pytest.fixture
def ingest_config() -> IngestConfig:
    return IngestConfig(
        source_bucket=BUCKET,
        unique_id=UNIQUE_ID,
        callback_base_url=CALLBACK_BASE,
        presigned_url_ttl_seconds=6 * 3600,
        video_suffixes=(".mp4", ".mov"),
        max_object_bytes=1024**3,
        defaults=OptionalFields(camera_model="Default Cam", latitude="10.5", tags=("default-tag",)),
        lease_seconds=60.0,
    )


@pytest.fixture
def make_ingestor(
    ingest_config: IngestConfig,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    gate: FakeGate,
    clock: FakeClock,
    metrics: FakeMetrics,
) -> MakeIngestor:
    """An Ingestor on the shared fakes, with any IngestConfig field changed (and its ``ready``)."""

    def make(*, ready: Callable[[], None] | None = None, **config_changes: Any) -> Ingestor:
        return Ingestor(
            replace(ingest_config, **config_changes),
            store=store,
            objects=objects,
            provider=provider,
            gate=gate,
            signing_key=lambda: SIGNING_KEY,
            clock=clock,
            metrics=metrics,
            ready=ready,
        )

    return make


@pytest.fixture
def ingestor(make_ingestor: MakeIngestor) -> Ingestor:
    return make_ingestor()


@pytest.fixture
def signing_keys() -> FixedKeys:
    return FixedKeys(SIGNING_KEY)


@pytest.fixture
def callbacks(
    store: InMemoryStore,
    signing_keys: FixedKeys,
    provider: FakeProvider,
    clock: FakeClock,
    metrics: FakeMetrics,
) -> CallbackService:
    return CallbackService(
        CallbackConfig(unique_id=UNIQUE_ID, token_ttl_seconds=DEFAULT_CALLBACK_TOKEN_TTL_SECONDS),
        store=store,
        signing_keys=signing_keys,
        provider=provider,
        clock=clock,
        metrics=metrics,
    )


@pytest.fixture
def reconciler(
    store: InMemoryStore, provider: FakeProvider, clock: FakeClock, metrics: FakeMetrics
) -> Reconciler:
    return Reconciler(
        ReconcileConfig(
            unique_id=UNIQUE_ID, reconcile_after_seconds=RECONCILE_AFTER, stuck_after_seconds=STUCK_AFTER
        ),
        store=store,
        provider=provider,
        clock=clock,
        metrics=metrics,
    )
