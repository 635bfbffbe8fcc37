"""S3 notifications through SQS: which objects a message names, with their keys decoded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.core.objects import (
    InvalidEvent,
    ObjectRef,
    is_video_key,
    notification_body,
    parse_notification,
)


def s3_record(key: str, *, event: str = "ObjectCreated:Put", size: Any = 1000, **obj: Any) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event,
        "s3": {"bucket": {"name": "uploads"}, "object": {"key": key, "size": size, **obj}},
    }


def message(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("holiday.mp4", "holiday.mp4"),
        ("a+b.mp4", "a b.mp4"),
        ("a%2Bb.mp4", "a+b.mp4"),
        ("100%25.mp4", "100%.mp4"),
        ("%E6%97%A5%E6%9C%AC%E8%AA%9E.mp4", "日本語.mp4"),
        ("caf%C3%A9/clip.mov", "café/clip.mov"),
        ("2025/10/20/beach+day/clip%281%29.mp4", "2025/10/20/beach day/clip(1).mp4"),
    ],
)
def test_keys_are_decoded_as_s3_encodes_them(encoded: str, key: str) -> None:
    """Given a key as S3 writes it in an event, when parsed, then the object's real key comes out."""
    (ref,) = parse_notification(message(s3_record(encoded)))
    assert ref.key == key
    assert ref.bucket == "uploads"


def test_version_and_etag_tell_uploads_apart() -> None:
    (versioned, unversioned) = parse_notification(
        message(s3_record("a.mp4", versionId="v7", eTag="e1"), s3_record("b.mp4", eTag="e2"))
    )
    assert (versioned.version_id, versioned.object_version) == ("v7", "v7")
    assert (unversioned.version_id, unversioned.object_version) == (None, "e2")


def test_the_test_event_s3_sends_on_setup_names_no_objects() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "uploads"})
    assert parse_notification(body) == ()


def test_only_created_objects_are_named() -> None:
    body = message(
        s3_record("gone.mp4", event="ObjectRemoved:Delete"),
        s3_record("new.mp4", event="ObjectCreated:CompleteMultipartUpload"),
        s3_record("tagged.mp4", event="ObjectTagging:Put"),
    )
    assert [ref.key for ref in parse_notification(body)] == ["new.mp4"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "",
        "[]",
        '"Records"',
        "{}",
        '{"Records": {}}',
        '{"Records": [1]}',
        '{"Records": [{"eventName": "ObjectCreated:Put"}]}',
        message({"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "a.mp4"}}}),  # no bucket
        message({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {}}}),  # no key
        message(s3_record("a.mp4", size="big")),
        message(s3_record("a.mp4", size=None)),
    ],
)
def test_a_message_that_is_not_an_s3_notification_is_invalid(body: str) -> None:
    """Given a message that can never succeed, when parsed, then InvalidEvent (it goes to the dead-letter queue)."""
    with pytest.raises(InvalidEvent):
        parse_notification(body)


def test_folder_markers_are_recognised() -> None:
    (marker,) = parse_notification(message(s3_record("clips/2025/", size=0)))
    assert marker.is_folder_marker


@pytest.mark.parametrize(
    ("key", "video"),
    [("a.mp4", True), ("A.MOV", True), ("dir.mp4/clip.Mp4", True), ("a.mp4.txt", False), ("mp4", False)],
)
def test_video_keys_are_recognised_by_suffix_in_any_case(key: str, video: bool) -> None:
    assert is_video_key(key, (".mp4", ".mov")) is video


keys = st.text(min_size=1, max_size=60).filter(lambda k: k.strip() != "")


@given(
    key=keys,
    size=st.integers(min_value=0, max_value=5 * 1024**4),
    version_id=st.none() | st.text(alphabet="abcdefABCDEF0123456789._", min_size=1, max_size=32),
    etag=st.none() | st.text(alphabet="0123456789abcdef-", min_size=1, max_size=40),
)
def test_a_re_enqueued_notification_names_the_same_object(
    key: str, size: int, version_id: str | None, etag: str | None
) -> None:
    """Given any object, when its notification is rebuilt and parsed, then the same object comes back."""
    ref = ObjectRef("uploads", key, size, version_id, etag, "ObjectCreated:Put")
    assert parse_notification(notification_body(ref)) == [ref]


@pytest.mark.parametrize("key", ["a b+c%d.mp4", "日本/動画 1.mov", "?#&=.mp4", "trailing/", "new\nline.mp4"])
def test_awkward_keys_survive_re_enqueueing(key: str) -> None:
    ref = ObjectRef("uploads", key, 5, None, "e", "ObjectCreated:Copy")
    assert parse_notification(notification_body(ref)) == [ref]


def test_s3s_event_time_is_kept_normalized_and_a_bad_one_is_ignored() -> None:
    record = {
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-11-24T06:00:00.000Z",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "a.mp4", "size": 1}},
    }
    (ref,) = parse_notification(json.dumps({"Records": [record]}))
    assert ref.event_time == "2026-11-24T06:00:00.000Z"
    assert parse_notification(notification_body(ref)) == [ref]
    for bad in ("yesterday", 12, None, "9999-99-99T00:00:00Z"):
        (ref,) = parse_notification(json.dumps({"Records": [{**record, "eventTime": bad}]}))
        assert ref.event_time is None
