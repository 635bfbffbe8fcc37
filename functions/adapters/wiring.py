"""Builds the adapters from settings: the one place that creates boto3 clients and sessions.

Clients are created on the first invocation (cold start), never at import time, and every builder
takes a boto3 session so tests and the local stack can point it anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config

from functions.adapters.aws import secret_reader
from functions.adapters.dynamo import DynamoStatusStore
from functions.adapters.memories import ApiKey, MemoriesClient

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

# Retries with jitter for AWS calls; the provider call has no automatic retries (see memories.py).
AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


def dynamodb(session: boto3.Session) -> DynamoDBClient:
    return session.client("dynamodb", config=AWS_CONFIG)


def status_store(session: boto3.Session, table_name: str) -> DynamoStatusStore:
    return DynamoStatusStore(dynamodb(session), table_name)


def secrets(session: boto3.Session) -> SecretsProvider:
    return SecretsProvider(boto3_client=session.client("secretsmanager", config=AWS_CONFIG))


def signing_key(provider: SecretsProvider, secret_id: str, max_age: int) -> ApiKey:
    """The callback signing key, cached like the API key (same mechanism, bytes on use)."""
    return ApiKey(secret_reader(provider, secret_id, max_age))


def memories_client(
    provider: SecretsProvider,
    *,
    base_url: str,
    secret_id: str,
    max_age: int,
    connect_timeout: float,
    read_timeout: float,
) -> MemoriesClient:
    return MemoriesClient(
        base_url,
        ApiKey(secret_reader(provider, secret_id, max_age)),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
