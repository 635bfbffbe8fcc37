"""Drift: each function's environment in the template names exactly what its settings class reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from functions.core import env
from functions.core.settings import (
    CallbackSettings,
    EventsSettings,
    IngestSettings,
    ReconcileSettings,
    ResultsSettings,
    StatusApiSettings,
)
from infra.config import PLACEHOLDER_REFS, PLACEHOLDER_RESULTS_REFS, PipelineConfig
from infra.constructs.events import EVENTS_HANDLER
from infra.constructs.functions import CALLBACK_HANDLER, INGEST_HANDLER, RECONCILE_HANDLER, STATUS_API_HANDLER
from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra

SETTINGS_OF_HANDLER: Mapping[str, Callable[[Mapping[str, str]], object]] = {
    INGEST_HANDLER: IngestSettings.from_env,
    CALLBACK_HANDLER: CallbackSettings.from_env,
    RECONCILE_HANDLER: ReconcileSettings.from_env,
    EVENTS_HANDLER: EventsSettings.from_env,
    STATUS_API_HANDLER: StatusApiSettings.from_env,
}


class RecordingEnviron(Mapping[str, str]):
    """A mapping that remembers every key looked up, by ``[]``, ``get`` or ``in``."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("settings must read named variables, not iterate the environment")

    def __len__(self) -> int:
        return len(self._values)


def _variables_read_by(from_env: Callable[[Mapping[str, str]], object]) -> set[str]:
    """Every variable a settings class looks up, given a complete, valid environment."""
    config = PipelineConfig.from_context(lambda key: None)
    complete = {
        **config.results_environment(PLACEHOLDER_REFS, PLACEHOLDER_RESULTS_REFS),
        **config.ingest_environment(PLACEHOLDER_REFS),
        **config.reconcile_environment(PLACEHOLDER_REFS),
        **config.callback_environment(PLACEHOLDER_REFS),
        **config.events_environment(),
    }
    recorder = RecordingEnviron(complete)
    from_env(recorder)
    return recorder.read


def _all_names_in_env_module() -> set[str]:
    return {value for name, value in vars(env).items() if name.isupper() and isinstance(value, str)}


@pytest.mark.parametrize("handler", sorted(SETTINGS_OF_HANDLER))
def test_function_environment_is_exactly_what_its_settings_read(
    synthesized: Synthesized, handler: str
) -> None:
    # Given the template's function for this handler
    _, function = synthesized.function_with_handler(handler)
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    # When its settings class reads a complete environment
    expected = _variables_read_by(SETTINGS_OF_HANDLER[handler]) | set(env.RUNTIME_VARIABLES)
    # Then the stack sets every variable read, and nothing that is not read
    assert not expected - set(variables), f"{handler}: missing {sorted(expected - set(variables))}"
    assert not set(variables) - expected, f"{handler}: never read {sorted(set(variables) - expected)}"


def test_every_function_in_the_template_is_checked(synthesized: Synthesized) -> None:
    ours = {
        f["Properties"]["Handler"]
        for f in synthesized.of_type("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler", "").startswith("functions.")
    }
    assert ours == set(SETTINGS_OF_HANDLER)


def test_every_variable_name_is_read_by_some_function() -> None:
    # The results function (writeResults) is checked in tests/infra/test_infra_results.py.
    readers = (*SETTINGS_OF_HANDLER.values(), ResultsSettings.from_env)
    read = set().union(*(_variables_read_by(from_env) for from_env in readers))
    assert _all_names_in_env_module() == read | set(env.RUNTIME_VARIABLES)
