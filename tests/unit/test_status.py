"""The status model: ranks keep records moving forward, and history stays bounded."""

from __future__ import annotations

import pytest

from functions.core.status import (
    HISTORY_LIMIT,
    PARSE,
    QUEUED,
    REJECTED,
    SUBMITTING,
    UNCERTAIN,
    UNPARSE,
    is_failure,
    is_final,
    normalize_provider_status,
    rank,
)
from tests.unit.fakes import T0, record


def test_ranks_order_the_journey() -> None:
    """Waiting to submit < maybe submitted < indexing < done; done, refused and failed are all final."""
    assert rank(SUBMITTING) == rank(QUEUED) < rank(UNCERTAIN) < rank(UNPARSE) < rank(PARSE)
    assert rank(PARSE) == rank(REJECTED) == rank("FAIL") == rank("PARSE_ERROR")


@pytest.mark.parametrize(
    "status", [PARSE, REJECTED, "FAIL", "FAILED", "PARSE_ERROR", "ERROR", "SOMETHING_NEW"]
)
def test_final_statuses(status: str) -> None:
    assert is_final(status)


@pytest.mark.parametrize("status", [SUBMITTING, QUEUED, UNCERTAIN, UNPARSE, "unparse"])
def test_statuses_still_in_progress(status: str) -> None:
    assert not is_final(status)
    assert not is_failure(status)


@pytest.mark.parametrize("status", ["FAIL", "FAILED", "PARSE_ERROR", "ERROR", REJECTED, "SOMETHING_NEW"])
def test_every_final_status_but_parse_is_a_failure(status: str) -> None:
    assert is_failure(status)


def test_parse_is_not_a_failure() -> None:
    assert not is_failure(PARSE)


def test_parse_in_lower_case_is_not_a_failure() -> None:
    assert not is_failure("parse")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("parse", PARSE),
        ("Unparse", UNPARSE),
        ("PARSE", PARSE),
        ("FAIL", "FAIL"),
        ("parse_error", "parse_error"),
    ],
)
def test_provider_statuses_are_normalized_only_when_known(given: str, kept: str) -> None:
    assert normalize_provider_status(given) == kept


def test_a_move_records_who_did_what_and_when() -> None:
    start = record(SUBMITTING)
    moved = start.moved(UNPARSE, by="ingest", at="2025-10-09T09:00:00.000Z", note="accepted", video_no="VI1")
    assert moved.status == UNPARSE
    assert moved.video_no == "VI1"
    assert moved.updated_at == "2025-10-09T09:00:00.000Z"
    assert moved.transitions == start.transitions + 1
    last = moved.history[-1]
    assert (last.from_status, last.to_status, last.by, last.note) == (
        SUBMITTING,
        UNPARSE,
        "ingest",
        "accepted",
    )
    assert start.status == SUBMITTING  # records are values: the original is unchanged


def test_history_keeps_only_the_newest_transitions() -> None:
    """Given a record that bounced many times, when moved again, then history holds the last 20 and the count is exact."""
    current = record(SUBMITTING, updated_at=T0)
    for i in range(HISTORY_LIMIT + 5):
        to = QUEUED if current.status == SUBMITTING else SUBMITTING
        current = current.moved(to, by="ingest", at=f"step-{i:03d}")
    assert len(current.history) == HISTORY_LIMIT
    assert current.history[-1].at == f"step-{HISTORY_LIMIT + 4:03d}"
    assert current.history[0].at == "step-005"
    assert current.transitions == 1 + HISTORY_LIMIT + 5
