"""The account-wide upload gate's rules (``functions.core.gate``), shared by the DynamoDB gate and the fakes."""

from __future__ import annotations

import pytest

from functions.core.gate import GateState, estimated_start, slot_for, slot_interval

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("per_minute", "interval"), [(1, 62.0), (6, 10.5), (12, 5.25), (60, 1.05), (0.5, 122.0)]
)
def test_slots_are_the_limits_spacing_plus_5_percent_at_most_2_s(per_minute: float, interval: float) -> None:
    assert slot_interval(per_minute) == pytest.approx(interval)


@pytest.mark.parametrize("per_minute", [0.5, 1, 6, 12, 60, 600])
def test_back_to_back_slots_stay_within_the_limit_and_above_95_percent_of_it(per_minute: float) -> None:
    """Slots one interval apart: never more than the limit in any 60 s window, at least 0.95 x it."""
    spacing = slot_interval(per_minute)
    assert 60 / spacing <= per_minute
    assert 60 / spacing >= 0.95 * per_minute


def test_a_caller_gets_a_slot_only_within_its_budget() -> None:
    assert slot_for(None, NOW, NOW) == NOW  # nobody reserved yet
    assert slot_for(NOW - 100, NOW, NOW) == NOW  # a free slot in the past starts now
    assert slot_for(NOW + 30, NOW, NOW + 60) == NOW + 30
    assert slot_for(NOW + 61, NOW, NOW + 60) is None  # someone else's: leave, stay in line


def test_estimates_count_places_from_the_next_free_slot() -> None:
    state = GateState(next_free=NOW + 20, interval=62.0)
    assert [estimated_start(state, place, NOW, 62.0) for place in (1, 2, 3)] == [
        NOW + 20,
        NOW + 82,
        NOW + 144,
    ]
    assert estimated_start(GateState(None, None), 1, NOW, 62.0) == NOW


def test_a_hold_says_why_only_while_it_lasts() -> None:
    state = GateState(
        next_free=NOW + 900, interval=62.0, held_until=NOW + 900, held_reason="no credit (0402)"
    )
    assert state.held(NOW) == "no credit (0402)"
    assert state.held(NOW + 900) is None
