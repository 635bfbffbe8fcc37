"""Sidecar metadata: ``<video key>.json`` beside a video carries the per-object ``upload_url``
fields for tools that cannot set S3 user metadata.

A JSON object whose names are the ``x-amz-meta-*`` fields' (hyphens or underscores, any case):
``datetime_taken``, ``camera_model``, ``latitude``, ``longitude``, ``tags`` (a list, or one
comma-separated string), ``retain_original_video`` (true/false), ``video_transcription_prompt``, and ``unique_id`` (the
provider folder, functions.core.folders). Validated like metadata. Precedence: the object's own metadata, then the sidecar, then the
deployment's defaults. It is read at the video's turn, so a sidecar uploaded before the video (or
while it waits in line) is used, and one uploaded after the submission is not: upload it first.
The sidecar itself is never submitted (``.json`` is not a video suffix): with sidecars on, its own
notification leaves a SKIPPED entry ("sidecar metadata of <video key>"); with them off it is an
object like any other that is not a video (REJECTED, "not a video").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Final

from functions.core.contract import OptionalFields

SIDECAR_SUFFIX: Final = ".json"
# Far more than seven fields need; a larger object is not a sidecar someone meant.
SIDECAR_MAX_BYTES: Final = 64 * 1024
_FOLDER: Final = "unique_id"
_NAMES: Final = (*(f.name for f in fields(OptionalFields)), _FOLDER)


@dataclass(frozen=True, slots=True)
class Sidecar:
    """What a sidecar gives: the upload_url fields, and the folder (``unique_id``) if it names one."""

    fields: OptionalFields = field(default_factory=OptionalFields)
    unique_id: str | None = None


def sidecar_key(video_key: str) -> str:
    return video_key + SIDECAR_SUFFIX


def sidecar_of(key: str, video_suffixes: tuple[str, ...]) -> str | None:
    """The video key whose sidecar ``key`` is (``<video key>.json``), or None: its own notification
    leaves a SKIPPED entry ("sidecar metadata of ..."), not a REJECTED one (with READ_SIDECARS)."""
    if not key.lower().endswith(SIDECAR_SUFFIX):
        return None
    video = key[: -len(SIDECAR_SUFFIX)]
    return video if video.lower().endswith(video_suffixes) else None


def _text(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    if name == "tags" and isinstance(value, list) and all(isinstance(t, str) for t in value):
        if any("," in t for t in value):
            raise ValueError("tags must not contain commas")
        return ",".join(value)
    raise ValueError(f"{name} has an unusable value {value!r}")


def fields_from_sidecar(raw: bytes, size: int) -> OptionalFields:
    """The upload_url fields a sidecar gives; ValueError says what is wrong with it."""
    return read_sidecar(raw, size).fields


def read_sidecar(raw: bytes, size: int) -> Sidecar:
    """Everything a sidecar gives; ValueError says what is wrong with it."""
    if size > SIDECAR_MAX_BYTES:
        raise ValueError(f"is {size} bytes, more than {SIDECAR_MAX_BYTES}")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"is not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise ValueError("is not a JSON object")
    normalized = {str(k).lower().replace("-", "_"): v for k, v in document.items()}
    unknown = sorted(set(normalized) - set(_NAMES))
    if unknown:
        raise ValueError(f"has unknown fields {', '.join(unknown)} (known: {', '.join(_NAMES)})")
    folder = normalized.pop(_FOLDER, None)
    if folder is not None and not isinstance(folder, str):
        raise ValueError(f"{_FOLDER} must be a string, got {folder!r}")
    values = OptionalFields.from_strings(
        **{name: None if value is None else _text(name, value) for name, value in normalized.items()}
    )
    return Sidecar(values, (folder or "").strip() or None)
