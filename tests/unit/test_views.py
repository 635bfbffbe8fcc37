"""The status API's answer shape and request checks (functions.core.views), on the in-memory store."""

from __future__ import annotations

from dataclasses import fields

import pytest

from functions.core.errors import BadStatusRequest, VideoNotFound
from functions.core.status import PARSE, QUEUED, SKIPPED, UNPARSE, Transition, VideoRecord
from functions.core.views import (
    HISTORY_FIELDS,
    MAX_VERSIONS,
    VIEW_FIELDS,
    ObjectLookup,
    StatusReader,
    object_lookup,
    video_view,
)
from tests.unit.fakes import BUCKET, T0, InMemoryStore, created, id_of, record

# Record fields that are bookkeeping of the table or the pipeline, never part of the answer.
INTERNAL = {
    "revision",
    "lease_until",
    "not_before",
    "hinted_video_no",
    "callbacks",
    "transitions",
    "attempts",
    "transient_errors",
    "expires_at",
    "object_version",
    "video_name",
    "upload_time",
    "unique_id",
}


def parsed() -> VideoRecord:
    base = record(UNPARSE, video_no="VI42", revision=7, lease_until=T0 + 30, hinted_video_no="VI43")
    return base.moved(PARSE, by="callback", at="2025-10-09T09:00:00Z", note="parsed")


def test_the_view_has_every_documented_field_and_no_bookkeeping() -> None:
    view = video_view(parsed())

    assert list(view) == list(VIEW_FIELDS)
    assert set(VIEW_FIELDS) | INTERNAL >= {f.name for f in fields(VideoRecord)} - {"line_position"}
    assert not INTERNAL & set(view)
    assert view["status"] == PARSE and view["final"] is True and view["video_no"] == "VI42"
    assert view["place_in_line"] is None


def test_history_reads_from_to_by_in_order() -> None:
    view = video_view(parsed())

    assert view["history"] == [
        {"at": "2025-10-09T08:53:20.000Z", "from": None, "to": UNPARSE, "by": "ingest", "note": None},
        {"at": "2025-10-09T09:00:00Z", "from": UNPARSE, "to": PARSE, "by": "callback", "note": "parsed"},
    ]
    assert all(list(step) == list(HISTORY_FIELDS) for step in view["history"])  # type: ignore[attr-defined]


def test_a_waiting_video_says_its_place_in_line() -> None:
    first = record(QUEUED, ref=created("a.mp4"), queued_at="2025-10-09T08:00:00Z")
    second = record(QUEUED, ref=created("b.mp4"), queued_at="2025-10-09T08:01:00Z")
    reader = StatusReader(InMemoryStore([first, second]))

    answer = reader.video(second.video_id)

    assert (answer["status"], answer["final"], answer["place_in_line"]) == (QUEUED, False, 2)
    assert answer["queued_at"] == "2025-10-09T08:01:00Z"
    assert reader.video(first.video_id)["place_in_line"] == 1


def test_an_unknown_id_is_not_found_and_a_malformed_one_is_refused() -> None:
    reader = StatusReader(InMemoryStore())

    with pytest.raises(VideoNotFound, match="no video with id"):
        reader.video("0" * 32)
    for bad in ("", "0" * 31, "0" * 33, "G" * 32, "A" * 32, "../" + "0" * 29):
        with pytest.raises(BadStatusRequest, match="malformed video id"):
            reader.video(bad)


def test_every_version_of_a_key_is_listed_newest_first_skipped_ones_too() -> None:
    old = record(PARSE, ref=created("k.mp4", version_id="v1"), created_at=T0)
    new = record(
        SKIPPED, ref=created("k.mp4", version_id="v2"), created_at=T0 + 60, reason="skipped: duplicate"
    )
    elsewhere = record(PARSE, ref=created("other.mp4"))
    reader = StatusReader(InMemoryStore([old, new, elsewhere]))

    answer = reader.versions(ObjectLookup(BUCKET, "k.mp4"))

    assert [v["video_id"] for v in answer["videos"]] == [new.video_id, old.video_id]  # type: ignore[attr-defined]
    assert answer["truncated"] is False
    assert reader.versions(ObjectLookup(BUCKET, "nothing.mp4")) == {"videos": [], "truncated": False}


def test_one_version_is_read_by_its_id() -> None:
    ref = created("k.mp4", version_id="v1")
    store = InMemoryStore([record(PARSE, ref=ref)])
    reader = StatusReader(store)

    answer = reader.versions(ObjectLookup(BUCKET, "k.mp4", "v1"))

    assert [v["video_id"] for v in answer["videos"]] == [id_of(ref)]  # type: ignore[attr-defined]
    assert reader.versions(ObjectLookup(BUCKET, "k.mp4", "v9"))["videos"] == []


def test_a_key_with_more_versions_than_an_answer_holds_says_it_is_truncated() -> None:
    records = [
        record(PARSE, ref=created("k.mp4", version_id=f"v{i}"), created_at=T0 + i)
        for i in range(MAX_VERSIONS + 5)
    ]
    reader = StatusReader(InMemoryStore(records))

    answer = reader.versions(ObjectLookup(BUCKET, "k.mp4"))

    assert len(answer["videos"]) == MAX_VERSIONS  # type: ignore[arg-type]
    assert answer["truncated"] is True
    assert answer["videos"][0]["version_id"] == f"v{MAX_VERSIONS + 4}"  # type: ignore[index]


def test_the_object_query_names_one_object() -> None:
    assert object_lookup({"bucket": ["b-1"], "key": ["a/b c.mp4"]}) == ObjectLookup("b-1", "a/b c.mp4")
    assert object_lookup({"bucket": ["bkt"], "key": ["k"], "version_id": ["v"]}) == ObjectLookup(
        "bkt", "k", "v"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (None, "missing query parameter bucket and key"),
        ({}, "missing query parameter bucket and key"),
        ({"bucket": ["bkt"]}, "missing query parameter key"),
        ({"key": ["k"]}, "missing query parameter bucket"),
        ({"bucket": [""], "key": ["k"]}, "missing query parameter bucket"),
        ({"bucket": ["bkt"], "key": ["a", "b"]}, "'key' is given 2 times"),
        ({"bucket": ["bkt"], "key": ["k"], "versionId": ["v"]}, "unknown query parameter 'versionId'"),
        ({"bucket": ["bkt"], "key": ["k"], "token": ["t"]}, "unknown query parameter 'token'"),
        ({"bucket": ["a/b"], "key": ["k"]}, "malformed bucket"),
        ({"bucket": ["bkt"], "key": ["x" * 1025]}, "longer than S3's 1024 bytes"),
        ({"bucket": ["bkt"], "key": ["k"], "version_id": [""]}, "version_id is empty"),
    ],
)
def test_a_query_that_does_not_name_one_object_is_refused(
    query: dict[str, list[str]] | None, message: str
) -> None:
    with pytest.raises(BadStatusRequest, match=message):
        object_lookup(query)


def test_history_steps_without_a_from_status_read_null() -> None:
    step = Transition(at="t", from_status=None, to_status=QUEUED, by="ingest")
    view = video_view(record(QUEUED, history=(step,)))
    assert view["history"] == [{"at": "t", "from": None, "to": QUEUED, "by": "ingest", "note": None}]
