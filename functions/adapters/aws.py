"""Small adapters: Powertools metrics, secrets, and the wall clock."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from functions.adapters.memories import EmptySecret
from functions.core.signing import MIN_SIGNING_KEY_LENGTH, checked_signing_key


class PowertoolsMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def count(self, name: str, value: int = 1, dimensions: Mapping[str, str] | None = None) -> None:
        if not dimensions:
            self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
            return
        with single_metric(
            name=name, unit=MetricUnit.Count, value=value, namespace=self._metrics.namespace
        ) as metric:
            for key, dim in dimensions.items():
                metric.add_dimension(name=key, value=dim)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def secret_reader(
    provider: SecretsProvider, secret_id: str, max_age: int, stage: str | None = None
) -> Callable[[bool], str]:
    """A function returning the secret's string value from Powertools' cache (refetched when asked).

    ``stage`` is a staging label (AWSPREVIOUS); Powertools caches by name only, so each label needs
    a provider of its own."""
    options: dict[str, Any] = {} if stage is None else {"VersionStage": stage}

    def read(force: bool) -> str:
        try:
            value = provider.get(secret_id, max_age=max_age, force_fetch=force, **options)
        except GetParameterError as exc:
            # A secret created without a value has no AWSCURRENT version yet.
            # Powertools raises it inside its except block: the ClientError is the context.
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError) and _error_code(cause) == "ResourceNotFoundException":
                raise EmptySecret(
                    f"secret {secret_id} has no value yet; set it (see docs/deploy.md)"
                ) from exc
            raise
        if isinstance(value, bytes):
            return value.decode("utf-8").strip()
        if not isinstance(value, str) or not value.strip():
            raise EmptySecret(f"secret {secret_id} is empty; set it (see docs/deploy.md)")
        return value.strip()

    return read


class SigningKeyRing:
    """The callback signing keys: AWSCURRENT of the secret, and AWSPREVIOUS once it has been rotated
    (``put-secret-value`` moves the labels), so tokens signed before a rotation stay valid.

    A refresh after a token matched none is honoured at most every ``refresh_seconds``, and not
    within ``fresh_seconds`` of the first read (a cold start's: a forged token then costs no second
    pair of reads; a token signed with a key rotated in less than a second before it arrives cannot
    exist, as ingest signs with a key it read and the provider calls back only after fetching the
    video), and a missing AWSPREVIOUS is remembered for ``max_age`` seconds like a cached value: a
    stream of forged tokens costs no Secrets Manager reads beyond that."""

    def __init__(
        self,
        current: Callable[[bool], str],
        previous: Callable[[bool], str],
        *,
        max_age: float,
        refresh_seconds: float = 30.0,
        fresh_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._current = current
        self._previous = previous
        self._max_age = max_age
        self._refresh_seconds = refresh_seconds
        self._fresh_seconds = fresh_seconds
        self._first_read_at: float | None = None
        self._monotonic = monotonic
        self._refreshed_at: float | None = None
        self._no_previous_until = -math.inf

    def verifying(self, refresh: bool) -> Iterator[bytes]:
        """AWSCURRENT, then AWSPREVIOUS: each read when the caller comes to it, so a token the
        current key signed (nearly all) never costs the previous key's read."""
        now = self._monotonic()
        if self._first_read_at is None:
            self._first_read_at = now  # the cache is empty: these reads go to Secrets Manager anyway
        force = (
            refresh
            and now - self._first_read_at >= self._fresh_seconds
            and (self._refreshed_at is None or now - self._refreshed_at >= self._refresh_seconds)
        )
        if force:
            self._refreshed_at = now
        yield checked_signing_key(self._current(force).encode("utf-8"))
        if not force and now < self._no_previous_until:
            return
        try:
            previous = self._previous(force).encode("utf-8")
        except EmptySecret:  # never rotated: there is no AWSPREVIOUS version
            self._no_previous_until = now + self._max_age
            return
        self._no_previous_until = -math.inf
        if len(previous) >= MIN_SIGNING_KEY_LENGTH:
            yield previous


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
