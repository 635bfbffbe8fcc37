"""The local services as session fixtures, shared by every test folder: each starts once per test run, on free ports, and stops at
the end of the session even when tests fail (and at interpreter exit, and with this process if it is
killed: see devstack/services.py).

``local_stack`` is the whole pipeline, tuned for fast tests: short emulator callback delays, a 1 s
long poll, 600 uploads a minute, retries after a second or two. The others are single parts for tests that need only one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import boto3
import pytest

from devstack.emulator import MemoriesEmulator
from devstack.services import DynamoDBLocal, MotoServer
from devstack.stack import LocalStack, StackConfig
from functions.core import env

EMULATOR_API_KEY: Final = "integration-emulator-key-5f1c"

TEST_STACK: Final = StackConfig(
    callback_delays=(0.3, 0.8),
    poll_wait_seconds=1,
    visibility_timeout_seconds=10,
    # Often enough to run during the suite; with the default RECONCILE_AFTER_SECONDS (15 min) a
    # pass only counts, so it cannot race the tests' callbacks.
    reconcile_every_seconds=5,
    # The line's schedule: every second here (every minute on AWS), so waiting videos go promptly.
    ingest_every_seconds=1,
    # Retries after 1-2 s instead of the deployed 30 s and up.
    function_env={
        env.UPLOADS_PER_MINUTE: "600",
        env.RETRY_BASE_DELAY_SECONDS: "1",
        env.RETRY_MAX_DELAY_SECONDS: "2",
        # An .m3u8 waits 2 s (30 s deployed) for the rest of its HLS set.
        env.HLS_SETTLE_SECONDS: "2",
    },
)


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    with LocalStack(TEST_STACK) as stack:
        yield stack


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    with DynamoDBLocal() as service:
        yield service


@pytest.fixture(scope="session")
def dynamodb_client(dynamodb_local: DynamoDBLocal) -> Any:
    """A client of the session's DynamoDB Local (tests create their own uniquely named tables)."""
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    return session.client("dynamodb", endpoint_url=dynamodb_local.endpoint_url)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as service:
        yield service


@pytest.fixture(scope="session")
def emulator() -> Iterator[MemoriesEmulator]:
    with MemoriesEmulator(api_key=EMULATOR_API_KEY, callback_delays=(0.1, 0.3)) as server:
        yield server
