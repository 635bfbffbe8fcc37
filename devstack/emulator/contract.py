"""The documented upload_url form contract: which fields exist and what each one accepts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from devstack.emulator.errors import InvalidParameterError

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
CALLBACK_MAX_CHARS = 299
CAMERA_MODEL_MAX_CHARS = 200
MAX_TAGS = 20
# The provider documents no limit on the prompt. This cap is the emulator's own, so that a runaway
# prompt fails loudly here instead of being discovered against the real service.
PROMPT_MAX_CHARS = 2000
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_UNIQUE_ID = "default"
# The provider appends this tag to every upload.
PROVIDER_TAG = "api"

LIST_FIELDS = frozenset({"tags"})
SCALAR_FIELDS = frozenset(
    {
        "url",
        "callback",
        "unique_id",
        "datetime_taken",
        "camera_model",
        "latitude",
        "longitude",
        "retain_original_video",
        "video_transcription_prompt",
    }
)

# ASCII digits only: `\d` would also accept digits from other scripts.
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_BOOLEANS = frozenset({"true", "false", "True", "False", "1", "0"})

FormFields = dict[str, list[str]]


@dataclass(frozen=True)
class UploadForm:
    """The parts of a valid upload_url form that the emulator acts on."""

    url: str
    callback: str | None
    unique_id: str
    tags: tuple[str, ...]
    datetime_taken: str | None = None
    camera_model: str | None = None
    latitude: str | None = None
    longitude: str | None = None


def is_form(content_type: str) -> bool:
    """True for application/x-www-form-urlencoded, with or without a charset parameter."""
    media_type = content_type.partition(";")[0]
    return media_type.strip().lower() == FORM_CONTENT_TYPE


def parse_form(content_type: str, body: bytes) -> FormFields:
    """Decode a form-encoded body; anything else (JSON, multipart) is a 0003."""
    if not body and not content_type:
        return {}  # what a client sends for an empty form: judged by the missing url, not the type
    if not is_form(content_type):
        raise InvalidParameterError(
            f"Content-Type must be {FORM_CONTENT_TYPE} (form fields, not a JSON or multipart body); "
            f"got {content_type or 'none'}"
        )
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidParameterError("form body must be UTF-8") from exc


def validate_upload_form(fields: FormFields) -> UploadForm:
    """Apply every documented limit, raising InvalidParameterError naming the first broken one."""
    unknown = sorted(set(fields) - SCALAR_FIELDS - LIST_FIELDS)
    if unknown:
        raise InvalidParameterError(f"unknown field(s): {', '.join(unknown)}")
    repeated = sorted(name for name in SCALAR_FIELDS if len(fields.get(name, [])) > 1)
    if repeated:
        raise InvalidParameterError(f"{repeated[0]} must be given at most once")
    values = {name: given[0] for name, given in fields.items() if name in SCALAR_FIELDS}
    if "url" not in values:
        raise InvalidParameterError("url is required")
    for name, value in values.items():
        problem = _SCALAR_CHECKS[name](value)
        if problem is not None:
            raise InvalidParameterError(f"{name} {problem}")
    tags = tuple(fields.get("tags", []))
    if len(tags) > MAX_TAGS:
        raise InvalidParameterError(f"tags must have at most {MAX_TAGS} entries, got {len(tags)}")
    return UploadForm(
        url=values["url"],
        callback=values.get("callback"),
        unique_id=values.get("unique_id", DEFAULT_UNIQUE_ID),
        tags=tags,
        datetime_taken=values.get("datetime_taken"),
        camera_model=values.get("camera_model"),
        latitude=values.get("latitude"),
        longitude=values.get("longitude"),
    )


def is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_url(value: str) -> str | None:
    if not value:
        return "must be non-empty"
    return None if is_http_url(value) else "must be an http or https URL"


def _check_callback(value: str) -> str | None:
    if len(value) > CALLBACK_MAX_CHARS:
        return f"must be at most {CALLBACK_MAX_CHARS} characters, got {len(value)}"
    return None if is_http_url(value) else "must be an http or https URL"


def _check_unique_id(value: str) -> str | None:
    return None if value else "must be non-empty when given"


def _check_datetime(value: str) -> str | None:
    if _DATETIME.fullmatch(value):
        try:
            datetime.strptime(value, DATETIME_FORMAT)
        except ValueError:
            pass
        else:
            return None
    return "must be a real date in the exact format yyyy-MM-dd HH:mm:ss"


def _check_camera_model(value: str) -> str | None:
    if len(value) > CAMERA_MODEL_MAX_CHARS:
        return f"must be at most {CAMERA_MODEL_MAX_CHARS} characters, got {len(value)}"
    return None


def _coordinate_check(limit: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not _DECIMAL.fullmatch(value):
            return "must be a decimal number such as 66.66"
        if abs(float(value)) > limit:
            return f"must be between -{limit} and {limit}"
        return None

    return check


def _check_boolean(value: str) -> str | None:
    return None if value in _BOOLEANS else "must be one of true, false, True, False, 1, 0"


def _check_prompt(value: str) -> str | None:
    if len(value) > PROMPT_MAX_CHARS:
        return f"must be at most {PROMPT_MAX_CHARS} characters (emulator's own cap), got {len(value)}"
    return None


_SCALAR_CHECKS: dict[str, Callable[[str], str | None]] = {
    "url": _check_url,
    "callback": _check_callback,
    "unique_id": _check_unique_id,
    "datetime_taken": _check_datetime,
    "camera_model": _check_camera_model,
    "latitude": _coordinate_check(90),
    "longitude": _coordinate_check(180),
    "retain_original_video": _check_boolean,
    "video_transcription_prompt": _check_prompt,
}
