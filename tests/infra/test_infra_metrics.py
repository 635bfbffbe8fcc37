"""The metrics the alarms and dashboard watch are ones the functions actually emit."""

from __future__ import annotations

import re

import pytest

from infra.app import PROJECT_ROOT
from infra.constructs.monitoring import ALARMED_METRICS, CALLBACKS_METRIC, DASHBOARD_METRICS

pytestmark = pytest.mark.infra


def _emitted_metric_names() -> set[str]:
    sources = "\n".join(path.read_text() for path in (PROJECT_ROOT / "functions").rglob("*.py"))
    return set(re.findall(r"""\.count\(\s*["']([A-Za-z]+)["']""", sources))


def test_watched_metrics_are_emitted() -> None:
    watched = {*ALARMED_METRICS, *DASHBOARD_METRICS, CALLBACKS_METRIC}
    assert watched <= _emitted_metric_names(), f"never emitted: {sorted(watched - _emitted_metric_names())}"
