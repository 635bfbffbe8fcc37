"""The operator CLI finds a deployed stack's resources by its output names: they must exist."""

from __future__ import annotations

import pytest

from ops.cli import OUTPUT_HINTS
from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra


def test_each_output_the_cli_looks_for_is_exactly_one_stack_output(synthesized: Synthesized) -> None:
    outputs = synthesized.template.to_json()["Outputs"]
    for hint in OUTPUT_HINTS:
        matching = [name for name in outputs if hint.lower() in name.lower()]
        assert len(matching) == 1, f"{hint!r} matches {matching} among {sorted(outputs)}"
