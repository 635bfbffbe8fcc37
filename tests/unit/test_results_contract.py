"""get_video_caption / get_audio_transcription as the reference documents them: the status queries'
envelope, ``data: null`` or an empty list before parsing ends, business errors raised as their class,
and ``data`` handed on exactly as given (its inner shape is not documented, so nothing reads it)."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core.contract import result_data
from functions.core.errors import (
    ProviderAuthFailure,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from tests.provider_docs import documented, load

CALLS = ("get_video_caption", "get_audio_transcription")


class Untouchable:
    """A ``data`` value that fails the test when anything looks inside it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the client looked inside data ({name})")


@pytest.mark.parametrize("call", CALLS)
def test_ready_data_is_handed_on_exactly_as_given(call: str) -> None:
    assert result_data(documented(f"{call}.success"), call) == load(f"{call}.success")["data"]
    inside = Untouchable()
    assert result_data({"code": "0000", "msg": "success", "data": inside}, call) is inside


@pytest.mark.parametrize(
    ("fixture", "pending"), [("get_video_caption.pending", None), ("get_audio_transcription.pending", [])]
)
def test_pending_answers_are_null_or_an_empty_list(fixture: str, pending: object) -> None:
    assert result_data(documented(fixture), fixture.partition(".")[0]) == pending


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (load("error.rate_limited"), ProviderRateLimited),
        ({"code": "0401", "msg": "authorization invalid"}, ProviderAuthFailure),
        ({"code": "0003", "msg": "video not found"}, ProviderRejected),
        (None, ProviderUnavailable),
        ("<html>", ProviderUnavailable),
    ],
)
def test_a_business_error_or_a_broken_answer_raises_its_class(body: object, error: type[Exception]) -> None:
    for call in CALLS:
        with pytest.raises(error):
            result_data(body, call)
