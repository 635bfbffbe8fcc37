"""Builds the adapters from settings: the one place that creates boto3 clients and sessions.

Clients are created on the first invocation (cold start), never at import time (``ColdStart``), and
every builder takes a boto3 session so tests and the local stack can point it anywhere.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.client import BaseClient
from botocore.config import Config

from functions.adapters.aws import SigningKeyRing, secret_reader
from functions.adapters.dynamo import DynamoStatusStore
from functions.adapters.memories import ApiKey, MemoriesClient
from functions.core.settings import ProviderClientSettings
from functions.core.signing import checked_signing_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_sqs.client import SQSClient

S = TypeVar("S")
A = TypeVar("A")

T = TypeVar("T")
PREVIOUS_STAGE = "AWSPREVIOUS"
# Retries with jitter for AWS calls; the provider call has no automatic retries (see memories.py).
AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


class ColdStart(Generic[S, A]):
    """A function's app, built once per execution environment on its first invocation, from the
    settings the environment holds (read and validated then: a bad one stops the cold start, named).

    ``cold_start(app)`` is the app to run: ``app`` when one is handed in (tests, the local stack),
    else the one built here."""

    def __init__(self, settings: Callable[[Mapping[str, str]], S], build: Callable[[S], A]) -> None:
        self._settings = settings
        self._build = build
        self._app: A | None = None

    def __call__(self, app: A | None = None) -> A:
        if app is not None:
            return app
        if self._app is None:
            self._app = self._build(self._settings(os.environ))
        return self._app


def dynamodb(session: boto3.Session) -> DynamoDBClient:
    return session.client("dynamodb", config=AWS_CONFIG)


def s3(session: boto3.Session) -> S3Client:
    """SigV4 signing, which presigned GET URLs need (the provider fetches the video with one)."""
    return session.client("s3", config=AWS_CONFIG.merge(Config(signature_version="s3v4")))


def events(session: boto3.Session) -> EventBridgeClient:
    return session.client("events", config=AWS_CONFIG)


def sqs(session: boto3.Session) -> SQSClient:
    return session.client("sqs", config=AWS_CONFIG)


def status_store(session: boto3.Session, table_name: str) -> DynamoStatusStore:
    return DynamoStatusStore(dynamodb(session), table_name)


def secrets_client(session: boto3.Session) -> SecretsManagerClient:
    """One Secrets Manager client per function: each client costs 10-20 ms of cold start."""
    return session.client("secretsmanager", config=AWS_CONFIG)


def deferred(create: Callable[[], T]) -> T:
    """``create()``'s result, made on its first use: a client only some invocations need (the
    reconciler's Secrets Manager client, for a pass that finds something to ask the provider about;
    ingest's S3 client, for a turn) costs its 4-40 ms of model loading only in the cold starts that
    use it. Ingest makes its own with ``ready`` before it reserves a slot: made between the slot and
    the call, they would make the call leave late and the next one closer than the limit."""
    return cast(T, _Deferred(create))


class _Deferred:
    def __init__(self, create: Callable[[], object]) -> None:
        self._create = create
        self._made: object | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        made = self._made
        if made is None:
            with self._lock:  # the local stack runs handlers on several threads
                if self._made is None:
                    self._made = self._create()
                made = self._made
        return getattr(made, name)


def ready(client: BaseClient, *secrets: Callable[[], object]) -> Callable[[], None]:
    """What makes a deferred ``client`` and reads ``secrets`` (each cached): what an upload_url call
    needs, made before the first slot. Once every step has succeeded it does nothing (a read that
    expires later happens where it is used, as any cached read; a paused line never reads again
    for it). A failure here is not reported: the step that needs it fails again, where it is
    handled, and the next call here tries again."""
    steps: list[Callable[[], object]] = [lambda: client.meta, *secrets]

    def make() -> None:
        for step in list(steps):
            try:
                step()
            except Exception:  # noqa: S112 - reported where it is used, not here
                continue
            steps.remove(step)

    return make


def secrets(session: boto3.Session, client: SecretsManagerClient | None = None) -> SecretsProvider:
    """A provider with its own cache (Powertools' cache key ignores the version stage, so the
    AWSCURRENT and AWSPREVIOUS readers need one each); ``client`` shares one client between them."""
    return SecretsProvider(boto3_client=client or secrets_client(session))


def signing_key(provider: SecretsProvider, secret_id: str, max_age: int) -> ApiKey:
    """The callback signing key (AWSCURRENT), cached like the API key; too short a key is refused."""
    read = secret_reader(provider, secret_id, max_age)

    def checked(force: bool) -> str:
        value = read(force)
        checked_signing_key(value.encode("utf-8"))
        return value

    return ApiKey(checked)


def signing_keys(
    session: boto3.Session, secret_id: str, max_age: int, client: SecretsManagerClient | None = None
) -> SigningKeyRing:
    """The keys callback tokens are verified with: AWSCURRENT and AWSPREVIOUS of the one secret."""
    client = client or secrets_client(session)
    return SigningKeyRing(
        secret_reader(secrets(session, client), secret_id, max_age),
        secret_reader(secrets(session, client), secret_id, max_age, stage=PREVIOUS_STAGE),
        max_age=max_age,
    )


def memories_client(provider: SecretsProvider, settings: ProviderClientSettings) -> MemoriesClient:
    return MemoriesClient(
        settings.api_base_url,
        ApiKey(secret_reader(provider, settings.api_key_secret_id, settings.secret_cache_seconds)),
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    )
