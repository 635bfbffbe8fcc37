"""Small adapters: Powertools metrics, secrets, and the wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from functions.adapters.memories import EmptySecret


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


def secret_reader(provider: SecretsProvider, secret_id: str, max_age: int) -> Callable[[bool], str]:
    """A function returning the secret's string value from Powertools' cache (refetched when asked)."""

    def read(force: bool) -> str:
        try:
            value = provider.get(secret_id, max_age=max_age, force_fetch=force)
        except GetParameterError as exc:
            # A secret created without a value has no AWSCURRENT version yet.
            if (
                isinstance(exc.__cause__, ClientError)
                and _error_code(exc.__cause__) == "ResourceNotFoundException"
            ):
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


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
