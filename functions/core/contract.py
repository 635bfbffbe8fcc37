"""The memories.ai ``upload_url`` contract: documented limits, validation, and response classification.

Source: shared/reference/upload_url-seed.txt and memories-api.md. The emulator in ``devstack`` keeps
its own independent reading of the same page on purpose, so that a mistake here is caught there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Final

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

UPLOAD_URL_PATH: Final = "/serve/api/v1/upload_url"
GET_METADATA_PATH: Final = "/serve/api/v1/get_metadata"
LIST_VIDEOS_PATH: Final = "/serve/api/v1/list_videos"
# POST ?unique_id=…, body a raw JSON array of video_no strings; idempotent for unknown video_nos.
DELETE_VIDEOS_PATH: Final = "/serve/api/v1/delete_videos"
DELETE_VIDEOS_MAX: Final = 100
# GET ?video_no=…&unique_id=…, after PARSE (scene descriptions, speech transcript). Before parsing
# ends they may answer ``data: null`` or an empty list.
GET_VIDEO_CAPTION_PATH: Final = "/serve/api/v1/get_video_caption"
GET_AUDIO_TRANSCRIPTION_PATH: Final = "/serve/api/v1/get_audio_transcription"

CALLBACK_MAX_LENGTH: Final = 299
CAMERA_MODEL_MAX_LENGTH: Final = 200
MAX_TAGS: Final = 20
# The pipeline adds one tag of its own (see ``trace_tag``) so an ambiguous submission can be found.
MAX_USER_TAGS: Final = MAX_TAGS - 1
# Undocumented by the provider; a bound keeps one metadata value from bloating the request and record.
PROMPT_MAX_LENGTH: Final = 2000
TAG_MAX_LENGTH: Final = 64
DATETIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

SUCCESS: Final = "0000"
# Failure statuses some source documents (v1.2 enum and callbacks, the official example client).
PROVIDER_FAILURE_STATUSES: Final = ("PARSE_ERROR", "FAIL", "FAILED", "ERROR")
TRACE_TAG_PREFIX: Final = "ingest-"
_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?\Z")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


@dataclass(frozen=True, slots=True)
class OptionalFields:
    """The optional ``upload_url`` fields, as strings (what metadata and settings carry)."""

    datetime_taken: str | None = None
    camera_model: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    tags: tuple[str, ...] = ()
    retain_original_video: str | None = None
    video_transcription_prompt: str | None = None

    @classmethod
    def from_strings(cls, **values: str | None) -> OptionalFields:
        cleaned: dict[str, Any] = {
            k: (v.strip() or None) if v is not None else None for k, v in values.items()
        }
        raw_tags = cleaned.pop("tags", None)
        tags = tuple(t.strip() for t in raw_tags.split(",") if t.strip()) if raw_tags else ()
        return cls(tags=tags, **cleaned)

    def overlay(self, other: OptionalFields) -> OptionalFields:
        """``other``'s values where given, ours elsewhere (metadata over defaults)."""
        merged = {f.name: getattr(other, f.name) or getattr(self, f.name) for f in fields(self)}
        return OptionalFields(**merged)


def _is_decimal_in(value: str, bound: float) -> bool:
    if not _DECIMAL.match(value):
        return False
    number = float(value)
    return math.isfinite(number) and -bound <= number <= bound


def _is_printable(value: str) -> bool:
    return value.isprintable()


def validate_optional_fields(values: OptionalFields) -> list[tuple[str, str]]:
    """Every problem as (field, reason); empty when the request may be sent."""
    problems: list[tuple[str, str]] = []
    if values.datetime_taken is not None:
        try:
            parsed = datetime.strptime(values.datetime_taken, DATETIME_FORMAT)
            if parsed.strftime(DATETIME_FORMAT) != values.datetime_taken:
                raise ValueError
        except ValueError:
            problems.append(
                ("datetime_taken", "must be exactly yyyy-MM-dd HH:mm:ss, e.g. 2025-10-20 11:00:00")
            )
    if values.camera_model is not None:
        if len(values.camera_model) > CAMERA_MODEL_MAX_LENGTH:
            problems.append(("camera_model", f"is longer than {CAMERA_MODEL_MAX_LENGTH} characters"))
        elif not _is_printable(values.camera_model):
            problems.append(("camera_model", "contains control characters"))
    if values.latitude is not None and not _is_decimal_in(values.latitude, 90):
        problems.append(("latitude", "must be a decimal number between -90 and 90, e.g. 66.66"))
    if values.longitude is not None and not _is_decimal_in(values.longitude, 180):
        problems.append(("longitude", "must be a decimal number between -180 and 180, e.g. 66.66"))
    if len(values.tags) > MAX_USER_TAGS:
        problems.append(
            (
                "tags",
                f"has {len(values.tags)} tags; at most {MAX_USER_TAGS} (the provider takes "
                f"{MAX_TAGS} and the pipeline adds one)",
            )
        )
    for tag in values.tags:
        if len(tag) > TAG_MAX_LENGTH or not _is_printable(tag):
            problems.append(
                ("tags", f"tag {tag[:20]!r}… must be printable and at most {TAG_MAX_LENGTH} characters")
            )
            break
    if (
        values.retain_original_video is not None
        and values.retain_original_video.lower() not in _TRUE | _FALSE
    ):
        problems.append(("retain_original_video", "must be true or false"))
    if values.video_transcription_prompt is not None:
        if len(values.video_transcription_prompt) > PROMPT_MAX_LENGTH:
            problems.append(("video_transcription_prompt", f"is longer than {PROMPT_MAX_LENGTH} characters"))
        elif not _is_printable(values.video_transcription_prompt.replace("\n", " ")):
            problems.append(("video_transcription_prompt", "contains control characters"))
    return problems


def trace_tag(video_id: str) -> str:
    """The tag that lets the reconciler ask the provider whether an ambiguous submission arrived."""
    return f"{TRACE_TAG_PREFIX}{video_id[:20]}"


@dataclass(frozen=True, slots=True)
class UploadRequest:
    url: str
    callback: str
    unique_id: str
    options: OptionalFields = field(default_factory=OptionalFields)
    extra_tags: tuple[str, ...] = ()

    def form(self) -> list[tuple[str, str]]:
        """Form fields in order; ``tags`` as one field per tag, as the provider expects."""
        pairs: list[tuple[str, str]] = [
            ("url", self.url),
            ("callback", self.callback),
            ("unique_id", self.unique_id),
        ]
        opts = self.options
        for name in ("datetime_taken", "camera_model", "latitude", "longitude", "video_transcription_prompt"):
            value = getattr(opts, name)
            if value is not None:
                pairs.append((name, value))
        if opts.retain_original_video is not None:
            pairs.append(("retain_original_video", str(opts.retain_original_video.lower() in _TRUE).lower()))
        pairs.extend(("tags", tag) for tag in (*opts.tags, *self.extra_tags))
        return pairs


@dataclass(frozen=True, slots=True)
class Accepted:
    video_no: str
    video_name: str
    upload_time: str
    status: str


_CODE_CLASSES: Final[Mapping[str, type[ProviderError]]] = {
    "0001": ProviderTransient,
    "0003": ProviderRejected,
    "0401": ProviderAuthFailure,
    "0403": ProviderAuthFailure,
    "9009": ProviderAuthFailure,
    "0402": ProviderBalanceExhausted,
    "0409": ProviderDuplicate,
    "0429": ProviderRateLimited,
}


def classify_response(http_status: int, body: object) -> Accepted:
    """The accepted video, or raise the ProviderError subclass that says what to do next."""
    if http_status >= 500:
        raise ProviderUnavailable(f"http-{http_status}", "provider answered with a server error")
    # HTTP-level refusals mean the same whatever body a gateway in front of the provider sends.
    if http_status == 429:
        raise ProviderRateLimited("http-429", "too many requests")
    if http_status in (401, 403):
        raise ProviderAuthFailure(f"http-{http_status}", "the provider refused the credentials")
    if not isinstance(body, Mapping):
        raise ProviderUnavailable(f"http-{http_status}", "response is not a JSON object")
    code = str(body.get("code", ""))
    msg = str(body.get("msg", ""))[:300]
    if code != SUCCESS:
        raise _CODE_CLASSES.get(code, ProviderTransient)(code or f"http-{http_status}", msg or "no message")
    data = body.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("videoNo"), str) or not data["videoNo"]:
        raise ProviderUnavailable(SUCCESS, "success without data.videoNo")
    return Accepted(
        video_no=data["videoNo"],
        video_name=str(data.get("videoName", "")),
        upload_time=str(data.get("uploadTime", "")),
        status=str(data.get("videoStatus") or "UNPARSE"),
    )


def _query_data(body: object, call: str) -> object:
    """A status query's ``data``, after raising the class of any business error."""
    if not isinstance(body, Mapping):
        raise ProviderUnavailable("bad-body", f"{call} response is not a JSON object")
    code = str(body.get("code", ""))
    if code != SUCCESS:
        raise _CODE_CLASSES.get(code, ProviderTransient)(code, str(body.get("msg", ""))[:300])
    return body.get("data")


def _count(value: object) -> int | None:
    """A documented number as v1 (a number) or v1.1 (a string of digits) sends it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def check_deleted(body: object) -> None:
    """``delete_videos``' answer: success, or the class of its business error raised."""
    _query_data(body, "delete_videos")


def metadata_status(body: object) -> str | None:
    """``get_metadata``'s ``data.status`` for the video, or None when the provider does not know it."""
    data = _query_data(body, "get_metadata")
    if data is None:
        return None
    if not isinstance(data, Mapping) or not isinstance(data.get("status"), str) or not data["status"]:
        raise ProviderUnavailable(SUCCESS, "get_metadata data has no status")
    return str(data["status"])


def result_data(body: object, call: str) -> object:
    """``get_video_caption`` / ``get_audio_transcription``: the ``data`` exactly as given (its shape
    is not documented; None or empty while parsing goes on), after raising the class of any
    business error."""
    return _query_data(body, call)


@dataclass(frozen=True, slots=True)
class ListedVideo:
    """One ``list_videos`` item, as far as the pipeline reads it (documented snake_case fields)."""

    video_no: str
    status: str
    create_time_ms: int | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VideoPage:
    videos: tuple[ListedVideo, ...]
    current_page: int
    page_size: int
    total_count: int

    @property
    def is_last(self) -> bool:
        return self.current_page * self.page_size >= self.total_count or not self.videos


def _listed(item: Mapping[str, Any]) -> ListedVideo | None:
    video_no, status, tags = item.get("video_no"), item.get("status"), item.get("tags")
    if not isinstance(video_no, str) or not video_no or not isinstance(status, str):
        return None
    return ListedVideo(
        video_no=video_no,
        status=status,
        create_time_ms=_count(item.get("create_time")),
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
    )


def video_page(body: object) -> VideoPage:
    """``list_videos``' ``data`` (v1 numbers or v1.1 strings); items without a video_no are skipped."""
    data = _query_data(body, "list_videos")
    if data is None:
        return VideoPage((), 1, 1, 0)
    if not isinstance(data, Mapping) or not isinstance(data.get("videos"), list):
        raise ProviderUnavailable(SUCCESS, "list_videos data has no videos list")
    page, size, total = (_count(data.get(k)) for k in ("current_page", "page_size", "total_count"))
    if page is None or size is None or total is None:
        raise ProviderUnavailable(SUCCESS, "list_videos data has no current_page/page_size/total_count")
    listed = (_listed(item) for item in data["videos"] if isinstance(item, Mapping))
    return VideoPage(tuple(v for v in listed if v is not None), page, size, total)
