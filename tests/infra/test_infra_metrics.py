"""The metrics the alarms and dashboard watch are ones the functions actually emit."""

from __future__ import annotations

import re

import pytest

from functions.core.metrics import Metric
from infra.app import PROJECT_ROOT
from infra.constructs.monitoring import ALARMED_METRICS, CALLBACKS_METRIC, DASHBOARD_METRICS

pytestmark = pytest.mark.infra


def _emitted_metric_names() -> set[str]:
    """The metrics some function counts: ``Metric.NAME`` named in code outside the module naming them."""
    sources = "\n".join(
        path.read_text() for path in (PROJECT_ROOT / "functions").rglob("*.py") if path.name != "metrics.py"
    )
    return {Metric[name].value for name in re.findall(r"\bMetric\.([A-Z_]+)\b", sources)}


def test_metric_names_are_not_spelled_out_in_the_functions() -> None:
    sources = "\n".join(path.read_text() for path in (PROJECT_ROOT / "functions").rglob("*.py"))
    assert not re.findall(r"""\.count\(\s*["']""", sources), "name metrics through functions.core.metrics"


def test_every_named_metric_is_emitted() -> None:
    assert {m.value for m in Metric} == _emitted_metric_names()


def test_watched_metrics_are_emitted() -> None:
    watched = {*ALARMED_METRICS, *DASHBOARD_METRICS, CALLBACKS_METRIC}
    assert watched <= _emitted_metric_names(), f"never emitted: {sorted(watched - _emitted_metric_names())}"
