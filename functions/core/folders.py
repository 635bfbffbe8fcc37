"""Provider folders: which memories.ai ``unique_id`` (a folder scope, created on first use) a video
is submitted under, and the one rule every later call about it follows.

Which folder, first given wins:

1. the object's own metadata, ``x-amz-meta-unique-id`` (or ``unique_id``);
2. its sidecar's ``unique_id`` field (with ``readSidecars``);
3. the ``providerFolders`` map (``PROVIDER_FOLDERS``, JSON ``{"key prefix": "folder"}``): the longest
   prefix of the key that the map names;
4. ``MEMORIES_UNIQUE_ID`` (the deployment's default folder).

The provider documents only that ``unique_id`` must be non-empty. A folder the pipeline picks per
object (metadata, sidecar, map) must be 1-64 letters, digits, ``_``, ``-`` or ``.``, starting with a
letter or digit: a conservative shape that survives query strings, logs and dashboards unchanged. A
bad per-object value makes the video REJECTED ("invalid metadata: unique_id ..."), as any other bad
field does, and nothing is sent; a bad map fails the cold start (and ``cdk synth``).

The record keeps the folder it is submitted under (``VideoRecord.unique_id``, written before the
call); every later call about the video (get_metadata from a callback or the reconciler,
list_videos, delete_videos) names ``record.folder(default)``: a record from a release before folders
has none, which means the default folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from functions.core.contract import CALLBACK_MAX_LENGTH
from functions.core.errors import StaleRecord
from functions.core.ports import StatusStore
from functions.core.status import SUBMITTING, VideoRecord

FOLDER_MAX_LENGTH: Final = 64
FOLDER_PATTERN: Final = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{FOLDER_MAX_LENGTH - 1}}}\Z")
FOLDER_SHAPE: Final = (
    f"1-{FOLDER_MAX_LENGTH} letters, digits, '_', '-' or '.', starting with a letter or digit"
)
# The object metadata that names a folder (x-amz-meta-unique-id), normalized as the other fields are.
METADATA_FIELD: Final = "unique_id"
# Far more prefixes than anyone maps by hand; a bound keeps the environment variable small.
MAP_MAX_ENTRIES: Final = 200
_WRITE_TRIES: Final = 8


def folder_problem(value: str) -> str | None:
    """Why ``value`` cannot be a folder the pipeline picks, or None."""
    if FOLDER_PATTERN.match(value):
        return None
    return f"must be {FOLDER_SHAPE}, got {value[:80]!r}"


def parse_folder_map(raw: str) -> tuple[tuple[str, str], ...]:
    """``PROVIDER_FOLDERS``: a JSON object of key prefix -> folder, longest prefix first.

    ValueError says what is wrong (not JSON, not an object, an empty prefix, a bad folder).
    """
    try:
        document = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(
            f'is not JSON ({exc.msg}); give an object like {{"customers/acme/": "acme"}}'
        ) from exc
    if not isinstance(document, dict):
        raise ValueError('must be a JSON object of key prefix to folder, e.g. {"customers/acme/": "acme"}')
    if len(document) > MAP_MAX_ENTRIES:
        raise ValueError(f"maps {len(document)} prefixes; at most {MAP_MAX_ENTRIES}")
    entries: list[tuple[str, str]] = []
    for prefix, folder in document.items():
        if not prefix:
            raise ValueError("has an empty prefix; the default folder is MEMORIES_UNIQUE_ID (uniqueId)")
        if not isinstance(folder, str):
            raise ValueError(f"maps {prefix!r} to {folder!r}; a folder is a string")
        problem = folder_problem(folder)
        if problem is not None:
            raise ValueError(f"maps {prefix!r} to a folder that {problem}")
        entries.append((prefix, folder))
    return tuple(sorted(entries, key=lambda entry: (-len(entry[0]), entry[0])))


def folder_map_json(entries: Iterable[tuple[str, str]]) -> str:
    """The map as ``PROVIDER_FOLDERS`` carries it (what ``parse_folder_map`` reads)."""
    return json.dumps(dict(entries), separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def from_metadata(metadata: Mapping[str, str]) -> str | None:
    """``x-amz-meta-unique-id`` (hyphens or underscores, any case); None when absent or blank."""
    for name, value in metadata.items():
        if name.lower().replace("-", "_") == METADATA_FIELD:
            return value.strip() or None
    return None


@dataclass(frozen=True, slots=True)
class Choice:
    """The folder for one submission, where it came from, and what is wrong with it (if anything)."""

    unique_id: str
    source: str
    problems: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Folders:
    """The deployment's folders: the default, and the prefix map (longest prefix first)."""

    default: str
    prefixes: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def for_key(self, key: str) -> str:
        """The folder the map (else the default) gives ``key``."""
        for prefix, folder in self.prefixes:
            if key.startswith(prefix):
                return folder
        return self.default

    def callback_hint(self, unique_id: str) -> dict[str, Any]:
        """``callback_url``'s folder hint: only outside the default folder (the URL is then as
        before folders), and only while the URL stays within the provider's limit."""
        if unique_id == self.default:
            return {}
        return {"folder": unique_id, "max_length": CALLBACK_MAX_LENGTH}

    def asked_first(self, hint: str | None) -> str:
        """The folder a callback asks before reading the record: a well-formed hint, else the default."""
        return hint if hint is not None and folder_problem(hint) is None else self.default

    def choose(self, key: str, metadata: Mapping[str, str], sidecar: str | None = None) -> Choice:
        """The folder for a submission of ``key``: metadata, then sidecar, then map, then default."""
        given = from_metadata(metadata)
        for value, source in ((given, "x-amz-meta-unique-id"), (sidecar, "the sidecar's unique_id")):
            if value is None:
                continue
            problem = folder_problem(value)
            return Choice(value, source, ((METADATA_FIELD, f"({source}) {problem}"),) if problem else ())
        folder = self.for_key(key)
        return Choice(folder, "the default" if folder == self.default else "providerFolders")


def pinned(store: StatusStore, record: VideoRecord, unique_id: str) -> VideoRecord | None:
    """The claimed (SUBMITTING) record with the folder it is about to be submitted under, written
    before the call so that whatever happens next asks the same folder. None when it is no longer
    SUBMITTING (deleted from S3 meanwhile): then nothing may be sent."""
    current: VideoRecord | None = record
    for _ in range(_WRITE_TRIES):
        if current is None or current.status != SUBMITTING:
            return None
        if current.unique_id == unique_id:
            return current
        try:
            return store.save(replace(current, unique_id=unique_id))
        except StaleRecord:
            current = store.get(record.video_id)
    raise StaleRecord(f"could not record the folder of {record.video_id} after {_WRITE_TRIES} tries")
