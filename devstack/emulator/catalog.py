"""The status queries' documented shapes (shared/reference/memories-api.md, "Status queries"):
what ``get_metadata`` and ``list_videos`` answer about a video, and the ``list_videos`` filters.

Written from the reference, not from the pipeline's client: snake_case items (only the upload answer
says ``videoNo``), ``tags`` with the provider's own ``api`` tag, and metadata filters (``tag``,
``camera_model``, ``datetime_taken``, ``latitude`` + ``longitude``) that see only parsed videos.
Until a video is parsed its metadata row is not populated: the emulator's pessimistic reading is
that its items carry ``null`` metadata and no tags until then.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from devstack.emulator.contract import DATETIME_FORMAT
from devstack.emulator.errors import InvalidParameterError
from devstack.emulator.state import PARSE, JsonObject, Video

# Documented: latitude + longitude match videos taken within about 20 km.
NEARBY_KM = 20.0
_EARTH_RADIUS_KM = 6371.0
# Fixed, plausible numbers: the emulator does not decode the video.
_DURATION_SECONDS = 12
_DEFAULT_SIZE = 1_048_576
_PICTURE: Mapping[str, Any] = {"resolution_label": "720p", "fps": 30, "width": 1280, "height": 720}
# The documented list item, in the documented order; get_metadata adds the picture fields.
LIST_ITEM_FIELDS = (
    "video_no",
    "video_name",
    "duration",
    "size",
    "status",
    "create_time",
    "datetime_taken",
    "camera_model",
    "latitude",
    "longitude",
    "tags",
)
METADATA_FIELDS = (*LIST_ITEM_FIELDS[:6], *_PICTURE, *LIST_ITEM_FIELDS[6:])


def _taken_ms(video: Video) -> int | None:
    if video.datetime_taken is None:
        return None
    taken = datetime.strptime(video.datetime_taken, DATETIME_FORMAT).replace(tzinfo=UTC)
    return int(taken.timestamp() * 1000)


def _number(value: str | None) -> float | None:
    return float(value) if value is not None else None


def list_item(video: Video) -> JsonObject:
    parsed = video.status == PARSE
    return {
        "video_no": video.video_no,
        "video_name": video.video_name,
        "duration": _DURATION_SECONDS if parsed else None,
        "size": video.size if video.size is not None else _DEFAULT_SIZE,
        "status": video.status,
        "create_time": video.upload_time_ms,
        "datetime_taken": _taken_ms(video) if parsed else None,
        "camera_model": video.camera_model if parsed else None,
        "latitude": _number(video.latitude) if parsed else None,
        "longitude": _number(video.longitude) if parsed else None,
        "tags": list(video.tags) if parsed else [],
    }


def metadata(video: Video) -> JsonObject:
    item = list_item(video)
    picture = _PICTURE if video.status == PARSE else dict.fromkeys(_PICTURE)
    return {name: item[name] if name in item else picture[name] for name in METADATA_FIELDS}


def stringify_numbers(value: Any) -> Any:
    """The v1.1 page's style: every number as a string (booleans stay booleans)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping):
        return {key: stringify_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [stringify_numbers(item) for item in value]
    return value


def positive_int(request: Mapping[str, object], name: str) -> int:
    value = request.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidParameterError(f"{name} is required and must be a positive integer")
    return value


def _optional(request: Mapping[str, object], name: str, kind: type | tuple[type, ...]) -> Any:
    value = request.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InvalidParameterError(f"{name} must be a {getattr(kind, '__name__', 'number')}")
    return value


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _near(video: Video, latitude: float, longitude: float) -> bool:
    if video.latitude is None or video.longitude is None:
        return False
    return _distance_km(float(video.latitude), float(video.longitude), latitude, longitude) <= NEARBY_KM


def list_filter(request: Mapping[str, object]) -> Callable[[Video], bool]:
    """The documented filters; a metadata filter never matches a video that is not parsed yet."""
    video_name = _optional(request, "video_name", str)
    video_no = _optional(request, "video_no", str)
    status = _optional(request, "status", str)
    video_nos = request.get("video_nos")
    if video_nos is not None and (
        not isinstance(video_nos, list) or not all(isinstance(v, str) for v in video_nos)
    ):
        raise InvalidParameterError("video_nos must be a list of strings")
    tag = _optional(request, "tag", str)
    camera_model = _optional(request, "camera_model", str)
    taken_after = _optional(request, "datetime_taken", int)
    latitude = _optional(request, "latitude", (int, float))
    longitude = _optional(request, "longitude", (int, float))
    if (latitude is None) != (longitude is None):
        raise InvalidParameterError("latitude and longitude must be given together")
    by_metadata = any(v is not None for v in (tag, camera_model, taken_after, latitude))

    def keep_metadata(video: Video) -> bool:
        if video.status != PARSE:
            return False  # its metadata row is not populated yet
        taken = _taken_ms(video)
        return (
            (tag is None or tag in video.tags)
            and (camera_model is None or video.camera_model == camera_model)
            and (taken_after is None or (taken is not None and taken >= taken_after))
            and (latitude is None or _near(video, latitude, longitude))
        )

    def keep(video: Video) -> bool:
        return (
            (video_name is None or video.video_name == video_name)
            and (video_no is None or video.video_no == video_no)
            and (video_nos is None or video.video_no in video_nos)
            and (status is None or video.status == status)
            and (not by_metadata or keep_metadata(video))
        )

    return keep
