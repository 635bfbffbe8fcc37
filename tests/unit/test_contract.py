"""The upload_url contract: which optional fields may be sent, how the form looks, what answers mean."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core.contract import (
    MAX_USER_TAGS,
    Accepted,
    ListedVideo,
    OptionalFields,
    UploadRequest,
    classify_response,
    metadata_status,
    trace_tag,
    validate_optional_fields,
    video_page,
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
from tests.provider_docs import UndocumentedField, documented, load


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


# -- the documented answers (tests/fixtures/provider): reading any other field fails -----------------


def test_the_documented_upload_answer_is_read_from_its_documented_fields_only() -> None:
    assert classify_response(200, documented("upload_url.success")) == Accepted(
        video_no="VI568102998803353600",
        video_name="1be6a69f3c6e49bf986235d68807ab1f",
        upload_time="1744905509814",
        status="UNPARSE",
    )


def test_get_metadata_is_read_from_its_documented_snake_case_fields_only() -> None:
    assert metadata_status(documented("get_metadata.success")) == "PARSE"
    assert metadata_status(documented("get_metadata.unknown")) is None


def test_list_videos_v1_is_read_from_its_documented_fields_only() -> None:
    page = video_page(documented("list_videos.v1"))
    assert (page.current_page, page.page_size, page.total_count, page.is_last) == (1, 20, 2, True)
    assert page.videos == (
        ListedVideo(
            "VI568102998803353600", "PARSE", 1744905509814, ("test1", "ingest-0123456789abcdef0123", "api")
        ),
        ListedVideo("VI568102998803353601", "UNPARSE", 1744905609814, ()),
    )


def test_list_videos_v1_1_with_numbers_as_strings_reads_the_same() -> None:
    page = video_page(documented("list_videos.v1_1"))
    assert (page.current_page, page.page_size, page.total_count, page.is_last) == (1, 1, 3, False)
    assert page.videos[0] == video_page(documented("list_videos.v1")).videos[0]


def test_a_documented_error_answer_raises_its_class() -> None:
    with pytest.raises(ProviderRateLimited):
        video_page(documented("error.rate_limited"))
    with pytest.raises(ProviderRateLimited):
        metadata_status(documented("error.rate_limited"))


def test_the_guard_catches_a_reader_of_undocumented_fields() -> None:
    """The camelCase the upload answer uses is not what list_videos documents."""
    with pytest.raises(UndocumentedField):
        documented("list_videos.v1")["data"]["videos"][0].get("videoNo")


def test_metadata_status_refuses_broken_answers() -> None:
    with pytest.raises(ProviderAuthFailure):
        metadata_status({"code": "0401", "msg": "bad key"})
    with pytest.raises(ProviderUnavailable):
        metadata_status(None)
    with pytest.raises(ProviderUnavailable):
        metadata_status({"code": "0000", "data": {"videoNo": "VI1", "videoStatus": "PARSE"}})


@pytest.mark.parametrize(
    "data",
    [
        {"videos": []},  # no counts
        {"current_page": 1, "page_size": 1, "total_count": "lots", "videos": []},
        {"current_page": 1, "page_size": 1, "total_count": 1},  # no videos
        "junk",
    ],
)
def test_a_list_answer_without_its_documented_counts_is_unusable(data: object) -> None:
    with pytest.raises(ProviderUnavailable):
        video_page({"code": "0000", "data": data})


def test_list_items_without_a_video_no_are_skipped() -> None:
    body = load("list_videos.v1")
    body["data"]["videos"].append({"videoNo": "VI9", "status": "PARSE"})
    body["data"]["videos"].append("junk")
    assert len(video_page(body).videos) == 2
