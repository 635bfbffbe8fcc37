"""S3 notifications through SQS: which objects a message names, with their keys decoded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.core.objects import (
    DELETE_MARKER_CREATED,
    InvalidEvent,
    ObjectRef,
    eventbridge_body,
    is_video_key,
    notification_body,
    parse_notification,
    parse_object_events,
)
from tests.samples import s3_message, s3_record


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
    (ref,) = parse_notification(s3_message(s3_record(encoded)))
    assert ref.key == key
    assert ref.bucket == "uploads"


def test_version_and_etag_tell_uploads_apart() -> None:
    (versioned, unversioned) = parse_notification(
        s3_message(s3_record("a.mp4", versionId="v7", eTag="e1"), s3_record("b.mp4", eTag="e2"))
    )
    assert (versioned.version_id, versioned.object_version) == ("v7", "v7")
    assert (unversioned.version_id, unversioned.object_version) == (None, "e2")


def test_the_test_event_s3_sends_on_setup_names_no_objects() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "uploads"})
    assert parse_notification(body) == ()


def test_only_created_objects_are_named() -> None:
    body = s3_message(
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
        s3_message({"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "a.mp4"}}}),  # no bucket
        s3_message(
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {}}}
        ),  # no key
        s3_message(s3_record("a.mp4", size="big")),
        s3_message(s3_record("a.mp4", size=None)),
    ],
)
def test_a_message_that_is_not_an_s3_notification_is_invalid(body: str) -> None:
    """Given a message that can never succeed, when parsed, then InvalidEvent (it goes to the dead-letter queue)."""
    with pytest.raises(InvalidEvent):
        parse_notification(body)


def test_folder_markers_are_recognised() -> None:
    (marker,) = parse_notification(s3_message(s3_record("clips/2025/", size=0)))
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


# -- S3's EventBridge events (delivered to the queue by a rule) ------------------------------------

# The example in the S3 user guide ("EventBridge event message structure"), Object Created.
DOCUMENTED_EVENTBRIDGE_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "111122223333",
    "time": "2021-11-12T00:00:00Z",
    "region": "ca-central-1",
    "resources": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET1"],
    "detail": {
        "version": "0",
        "bucket": {"name": "DOC-EXAMPLE-BUCKET1"},
        "object": {
            "key": "example-key",
            "size": 5,
            "etag": "b1946ac92492d2347c6235b4d2611184",
            "version-id": "IYV3p45BhZA1TOBwNrJ4HaRxnmDnEXmP",
            "sequencer": "617f08299329d189",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
        "reason": "PutObject",
    },
}


def eventbridge(key: str, **changes: Any) -> str:
    event = json.loads(json.dumps(DOCUMENTED_EVENTBRIDGE_EVENT))
    event["detail"]["object"]["key"] = key
    event.update(changes)
    return json.dumps(event)


def test_the_documented_eventbridge_event_names_its_object() -> None:
    (ref,) = parse_notification(json.dumps(DOCUMENTED_EVENTBRIDGE_EVENT))
    assert ref == ObjectRef(
        bucket="DOC-EXAMPLE-BUCKET1",
        key="example-key",
        size=5,
        version_id="IYV3p45BhZA1TOBwNrJ4HaRxnmDnEXmP",
        etag="b1946ac92492d2347c6235b4d2611184",
        event_name="ObjectCreated:PutObject",
        event_time="2021-11-12T00:00:00.000Z",
    )


@pytest.mark.parametrize(
    "key",
    ["a+b.mp4", "a b.mp4", "100%25.mp4", "100%.mp4", "日本語/動画 1.mov", "clip%281%29+x.mp4", "?#&=;.mp4"],
)
def test_eventbridge_keys_are_taken_as_they_are_not_decoded(key: str) -> None:
    """Given an EventBridge event (keys not encoded), then the key is the object's key, '+' and '%' included."""
    (ref,) = parse_notification(eventbridge(key))
    assert ref.key == key


@pytest.mark.parametrize("key", ["a b+c%d.mp4", "日本/動画 1.mov", "?#&=.mp4", "new\nline.mp4"])
def test_both_shapes_name_the_same_object_version(key: str) -> None:
    ref = ObjectRef("uploads", key, 5, "v1", "e", "ObjectCreated:Put")
    (from_s3,) = parse_notification(notification_body(ref))
    (from_eventbridge,) = parse_notification(eventbridge_body(ref))
    assert (from_s3.key, from_s3.object_version) == (from_eventbridge.key, from_eventbridge.object_version)


def test_eventbridge_versions_etags_and_other_detail_types() -> None:
    unversioned = json.loads(eventbridge("a.mp4"))
    unversioned["detail"]["object"]["version-id"] = "null"
    (ref,) = parse_notification(json.dumps(unversioned))
    assert (ref.version_id, ref.object_version) == (None, "b1946ac92492d2347c6235b4d2611184")
    assert not parse_notification(eventbridge("a.mp4", **{"detail-type": "Object Tags Added"}))
    # moto writes the time as seconds since the epoch
    (ref,) = parse_notification(eventbridge("a.mp4", time=1760000000.5))
    assert ref.event_time == "2025-10-09T08:53:20.500Z"


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.s3", "detail-type": "Object Created"},
        {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": "b"}}},
        {
            "source": "aws.s3",
            "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"size": 1}},
        },
        {"source": "aws.s3", "detail-type": "Object Created", "detail": "text"},
    ],
)
def test_a_malformed_eventbridge_event_is_invalid(event: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent, match="EventBridge"):
        parse_notification(json.dumps(event))


def test_removed_objects_are_named_apart_in_both_shapes() -> None:
    gone = s3_record("gone+for+good.mp4", event="ObjectRemoved:Delete", versionId="v3", sequencer="1")
    hidden = s3_record("hidden.mp4", event="ObjectRemoved:DeleteMarkerCreated", versionId="m1", sequencer="2")
    # S3's delete events carry neither size nor ETag (s3_record leaves them out).
    body = s3_message(gone, hidden, s3_record("new.mp4"))
    events = parse_object_events(body)
    assert [r.key for r in events.created] == ["new.mp4"]
    assert [(r.key, r.version_id, r.event_name) for r in events.removed] == [
        ("gone for good.mp4", "v3", "ObjectRemoved:Delete"),
        ("hidden.mp4", "m1", DELETE_MARKER_CREATED),
    ]
    deleted = json.loads(eventbridge("gone+for+good.mp4", **{"detail-type": "Object Deleted"}))
    deleted["detail"]["object"] = {"key": "gone+for+good.mp4", "version-id": "v3", "sequencer": "1"}
    deleted["detail"].update({"reason": "DeleteObject", "deletion-type": "Permanently Deleted"})
    (ref,) = parse_object_events(json.dumps(deleted)).removed
    assert (ref.key, ref.version_id, ref.event_name) == ("gone+for+good.mp4", "v3", "ObjectRemoved:Delete")
    deleted["detail"]["deletion-type"] = "Delete Marker Created"
    (ref,) = parse_object_events(json.dumps(deleted)).removed
    assert ref.event_name == DELETE_MARKER_CREATED
    assert not parse_notification(json.dumps(deleted))
