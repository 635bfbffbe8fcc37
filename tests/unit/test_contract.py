"""The upload_url contract: which optional fields may be sent, how the form looks, what answers mean."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core.contract import (
    MAX_USER_TAGS,
    Accepted,
    OptionalFields,
    UploadRequest,
    classify_response,
    listed_videos,
    metadata_status,
    trace_tag,
    validate_optional_fields,
)
from functions.core.errors import (
    ProviderAuthFailure,
    ProviderBalanceExhausted,
    ProviderDuplicate,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTransient,
    ProviderUnavailable,
)


def problems_with(**values: Any) -> list[str]:
    """The names of the fields the contract refuses."""
    return [name for name, _ in validate_optional_fields(OptionalFields(**values))]


# -- validation of the optional fields ------------------------------------------------------------


@pytest.mark.parametrize("value", ["2025-10-20 11:00:00", "2024-02-29 23:59:59", "1999-01-01 00:00:00"])
def test_datetime_taken_in_the_documented_format_is_accepted(value: str) -> None:
    """Given a date in exactly yyyy-MM-dd HH:mm:ss, when validated, then nothing is wrong."""
    assert problems_with(datetime_taken=value) == []


@pytest.mark.parametrize(
    "value",
    [
        "2025-02-30 10:00:00",  # no such day
        "2023-02-29 00:00:00",  # not a leap year
        "2025-10-20 24:00:00",
        "2025-13-01 00:00:00",
        "2025-10-20T11:00:00",  # ISO 'T'
        "2025-10-20 11:00:00Z",
        "2025-10-20 11:00:00.000",
        "2025-10-20 11:00",
        "2025-10-20",
        "2025-1-2 3:04:05",  # not zero-padded
        "20-10-2025 11:00:00",
        "2025/10/20 11:00:00",
        "2025-10-20  11:00:00",
        "",
    ],
)
def test_datetime_taken_in_any_other_shape_is_refused(value: str) -> None:
    """Given a date the provider would not read as yyyy-MM-dd HH:mm:ss, when validated, then it is refused."""
    assert problems_with(datetime_taken=value) == ["datetime_taken"]


@pytest.mark.parametrize(("length", "ok"), [(1, True), (200, True), (201, False)])
def test_camera_model_is_at_most_200_characters(length: int, ok: bool) -> None:
    assert (problems_with(camera_model="c" * length) == []) is ok


def test_camera_model_with_control_characters_is_refused() -> None:
    assert problems_with(camera_model="Cam\x00era") == ["camera_model"]


@pytest.mark.parametrize("value", ["0", "66.66", "-66.66", "90", "-90", "90.000", "-0.5", "1"])
def test_latitude_as_a_decimal_within_90_degrees_is_accepted(value: str) -> None:
    assert problems_with(latitude=value) == []


@pytest.mark.parametrize(
    "value",
    ["90.0001", "-91", "1e5", "1E1", "NaN", "nan", "inf", "-Infinity", " 1.0", "1.0 ", "+1", "1.", ".5",
     "1,5", "north", "", "0x10"],
)  # fmt: skip
def test_latitude_that_is_not_a_plain_decimal_within_90_degrees_is_refused(value: str) -> None:
    assert problems_with(latitude=value) == ["latitude"]


@pytest.mark.parametrize(("value", "ok"), [("180", True), ("-180", True), ("179.999999", True),
                                           ("180.5", False), ("-181", False), ("1e2", False), ("NaN", False)])  # fmt: skip
def test_longitude_is_a_decimal_within_180_degrees(value: str, ok: bool) -> None:
    assert (problems_with(longitude=value) == []) is ok


@pytest.mark.parametrize("value", ["45.0\n", "\u0664\u0665.\u0665"])  # "45.0\n", Arabic-Indic "45.5"
def test_latitude_with_a_trailing_newline_or_non_ascii_digits_is_refused(value: str) -> None:
    assert problems_with(latitude=value) == ["latitude"]


@pytest.mark.parametrize(("count", "ok"), [(0, True), (MAX_USER_TAGS, True), (MAX_USER_TAGS + 1, False)])
def test_at_most_19_user_tags_because_the_pipeline_adds_its_own(count: int, ok: bool) -> None:
    """Given n user tags, when validated, then 19 pass and 20 fail (the provider takes 20, trace tag included)."""
    assert MAX_USER_TAGS == 19
    assert (problems_with(tags=tuple(f"t{i}" for i in range(count))) == []) is ok


@pytest.mark.parametrize(("tag", "ok"), [("t" * 64, True), ("t" * 65, False), ("bad\ttag", False)])
def test_each_tag_is_short_and_printable(tag: str, ok: bool) -> None:
    assert (problems_with(tags=(tag,)) == []) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("true", True), ("false", True), ("TRUE", True), ("False", True), ("1", True), ("0", True),
     ("yes", True), ("no", True), ("maybe", False), ("on", False), ("2", False), ("", False)],
)  # fmt: skip
def test_retain_original_video_is_a_boolean(value: str, ok: bool) -> None:
    assert (problems_with(retain_original_video=value) == []) is ok


@pytest.mark.parametrize(
    ("prompt", "ok"),
    [("p" * 2000, True), ("p" * 2001, False), ("line one\nline two", True), ("bell\x07", False)],
)
def test_transcription_prompt_is_bounded_and_printable(prompt: str, ok: bool) -> None:
    assert (problems_with(video_transcription_prompt=prompt) == []) is ok


def test_every_problem_is_reported_with_its_field() -> None:
    """Given several bad fields, when validated, then each is named (the record's reason lists them all)."""
    names = problems_with(
        datetime_taken="yesterday", latitude="north", longitude="999", camera_model="c" * 300
    )
    assert names == ["datetime_taken", "camera_model", "latitude", "longitude"]


def test_strings_are_trimmed_blank_values_dropped_and_tags_split_on_commas() -> None:
    """Given metadata-like strings, when turned into fields, then blanks mean absent and tags are a list."""
    fields = OptionalFields.from_strings(
        camera_model="  Pixel 9 ", latitude="   ", longitude=None, tags=" beach, , sunset ,"
    )
    assert fields.camera_model == "Pixel 9"
    assert fields.latitude is None
    assert fields.longitude is None
    assert fields.tags == ("beach", "sunset")


def test_overlay_prefers_the_given_values_and_keeps_defaults_elsewhere() -> None:
    defaults = OptionalFields(camera_model="Default Cam", latitude="1.0", tags=("default",))
    metadata = OptionalFields(camera_model="Pixel 9", longitude="2.0")
    merged = defaults.overlay(metadata)
    assert merged == OptionalFields(
        camera_model="Pixel 9", latitude="1.0", longitude="2.0", tags=("default",)
    )


# -- the form that is sent ------------------------------------------------------------------------


def test_form_sends_tags_as_repeated_fields_with_the_trace_tag_last() -> None:
    request = UploadRequest(
        url="https://u.test/v.mp4",
        callback="https://cb.test/x",
        unique_id="folder",
        options=OptionalFields(tags=("beach", "sunset")),
        extra_tags=(trace_tag("0123456789abcdef0123456789abcdef"),),
    )
    form = request.form()
    assert [value for name, value in form if name == "tags"] == [
        "beach",
        "sunset",
        "ingest-0123456789abcdef0123",
    ]


def test_form_carries_the_required_fields_and_omits_absent_ones() -> None:
    """Given only the required fields, when the form is built, then no empty optional field is sent."""
    request = UploadRequest(url="https://u.test/v.mp4", callback="https://cb.test/x", unique_id="folder")
    assert request.form() == [
        ("url", "https://u.test/v.mp4"),
        ("callback", "https://cb.test/x"),
        ("unique_id", "folder"),
    ]


def test_form_carries_every_given_optional_field_under_its_documented_name() -> None:
    options = OptionalFields(
        datetime_taken="2025-10-20 11:00:00",
        camera_model="Pixel 9",
        latitude="66.66",
        longitude="-1.5",
        tags=("a",),
        retain_original_video="false",
        video_transcription_prompt="Describe the scene",
    )
    form = dict(UploadRequest(url="u", callback="c", unique_id="f", options=options).form())
    assert form == {
        "url": "u",
        "callback": "c",
        "unique_id": "f",
        "datetime_taken": "2025-10-20 11:00:00",
        "camera_model": "Pixel 9",
        "latitude": "66.66",
        "longitude": "-1.5",
        "video_transcription_prompt": "Describe the scene",
        "retain_original_video": "false",
        "tags": "a",
    }


@pytest.mark.parametrize(
    ("given", "sent"),
    [("true", "true"), ("TRUE", "true"), ("yes", "true"), ("1", "true"),
     ("false", "false"), ("No", "false"), ("0", "false")],
)  # fmt: skip
def test_form_sends_retain_original_video_as_true_or_false(given: str, sent: str) -> None:
    form = UploadRequest(
        url="u", callback="c", unique_id="f", options=OptionalFields(retain_original_video=given)
    )
    assert ("retain_original_video", sent) in form.form()


def test_trace_tag_is_short_and_derived_from_the_record_id() -> None:
    video_id = "fedcba9876543210fedcba9876543210"
    assert trace_tag(video_id) == "ingest-fedcba9876543210fedc"
    assert len(trace_tag(video_id)) <= 64


# -- what the provider's answer means ---------------------------------------------------------------


def test_success_becomes_the_accepted_video() -> None:
    body = {
        "code": "0000",
        "msg": "success",
        "data": {
            "videoNo": "VI123",
            "videoName": "clip",
            "videoStatus": "UNPARSE",
            "uploadTime": "1760000000000",
        },
    }
    assert classify_response(200, body) == Accepted(
        video_no="VI123", video_name="clip", upload_time="1760000000000", status="UNPARSE"
    )


def test_success_without_a_status_is_pending() -> None:
    assert classify_response(200, {"code": "0000", "data": {"videoNo": "VI1"}}).status == "UNPARSE"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("0001", ProviderTransient),
        ("0003", ProviderRejected),
        ("0401", ProviderAuthFailure),
        ("0402", ProviderBalanceExhausted),
        ("0403", ProviderAuthFailure),
        ("0409", ProviderDuplicate),
        ("0429", ProviderRateLimited),
        ("9009", ProviderAuthFailure),
        ("7777", ProviderTransient),  # unknown: retried a bounded number of times, then rejected
    ],
)
def test_each_business_code_maps_to_what_the_pipeline_does_next(
    code: str, error: type[ProviderError]
) -> None:
    """Given a documented (or unknown) error code, when classified, then the class says retry/reject/pause."""
    with pytest.raises(error) as raised:
        classify_response(200, {"code": code, "msg": "why it failed"})
    assert type(raised.value) is error
    assert raised.value.code == code
    assert raised.value.detail == "why it failed"


@pytest.mark.parametrize(
    ("http_status", "body", "error"),
    [
        (500, {"code": "0000", "data": {"videoNo": "VI1"}}, ProviderUnavailable),
        (502, None, ProviderUnavailable),
        (503, "<html>Service Unavailable</html>", ProviderUnavailable),
        (200, None, ProviderUnavailable),  # not JSON
        (200, ["not", "an", "object"], ProviderUnavailable),
        (429, None, ProviderRateLimited),
        (200, {"code": "0000", "msg": "success"}, ProviderUnavailable),  # success without data
        (200, {"code": "0000", "data": {}}, ProviderUnavailable),  # success without videoNo
        (200, {"code": "0000", "data": {"videoNo": ""}}, ProviderUnavailable),
        (200, {"code": "0000", "data": {"videoNo": 123}}, ProviderUnavailable),
    ],
)
def test_broken_answers_are_classified_without_recording_a_video(
    http_status: int, body: object, error: type[ProviderError]
) -> None:
    with pytest.raises(error):
        classify_response(http_status, body)


def test_http_429_with_a_json_body_is_rate_limiting() -> None:
    with pytest.raises(ProviderRateLimited):
        classify_response(429, {"message": "Too Many Requests"})


def test_a_long_provider_message_is_truncated() -> None:
    with pytest.raises(ProviderRejected) as raised:
        classify_response(200, {"code": "0003", "msg": "x" * 5000})
    assert len(raised.value.detail) == 300


def test_metadata_status_reads_the_status_or_none_for_an_unknown_video() -> None:
    assert metadata_status({"code": "0000", "data": {"status": "PARSE"}}) == "PARSE"
    assert metadata_status({"code": "0000", "data": None}) is None
    with pytest.raises(ProviderAuthFailure):
        metadata_status({"code": "0401", "msg": "bad key"})
    with pytest.raises(ProviderUnavailable):
        metadata_status(None)


def test_listed_videos_keeps_only_objects() -> None:
    body = {"code": "0000", "data": {"videos": [{"videoNo": "VI1", "status": "PARSE"}, "junk"]}}
    assert listed_videos(body) == [{"videoNo": "VI1", "status": "PARSE"}]
    assert listed_videos({"code": "0000", "data": None}) == []
    with pytest.raises(ProviderRateLimited):
        listed_videos({"code": "0429"})
