"""Hostile input to ingest, on the in-memory fakes (no network: FakeProvider stands in for memories.ai).

- 600 S3 keys (unicode incl. astral plane, control characters, all ASCII punctuation, '+', '%',
  spaces, up to 1024 UTF-8 bytes), encoded as S3 encodes them in event notifications: the
  notification parser recovers the exact key and ingest (enqueue, then its turn) never raises.
- 600 metadata maps with oversized, malformed, control-character or unicode values for every
  optional field: a clean submission whose form values validate, or REJECTED naming the field.
- 500 malformed SQS bodies (random text, random JSON, S3-shaped JSON with wrong types): InvalidEvent
  or no objects, never another exception.
Never more than one provider call per object.
"""

from __future__ import annotations

import json
import string
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.core.contract import OptionalFields, validate_optional_fields
from functions.core.ingest import IngestConfig, Ingestor, Kind, Outcome
from functions.core.objects import InvalidEvent, ObjectRef, notification_body, parse_notification
from tests.hostile.figures import tally_example
from tests.samples import s3_notification
from tests.unit.fakes import (
    BUCKET,
    CALLBACK_BASE,
    SIGNING_KEY,
    UNIQUE_ID,
    FakeClock,
    FakeGate,
    FakeMetrics,
    FakeObjects,
    FakeProvider,
    InMemoryStore,
)

HYPOTHESIS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}
SUFFIXES = (".mp4", ".mov")
OPTIONAL_FIELDS = tuple(f.name for f in fields(OptionalFields))
CONFIG = IngestConfig(
    source_bucket=BUCKET,
    unique_id=UNIQUE_ID,
    callback_base_url=CALLBACK_BASE,
    presigned_url_ttl_seconds=6 * 3600,
    video_suffixes=SUFFIXES,
    max_object_bytes=1024**3,
    defaults=OptionalFields(camera_model="Default Cam", latitude="10.5", tags=("default-tag",)),
    lease_seconds=60.0,
)


class Rig:
    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.objects = FakeObjects()
        self.provider = FakeProvider()
        self.clock = FakeClock()
        self.ingestor = Ingestor(
            CONFIG,
            store=self.store,
            objects=self.objects,
            provider=self.provider,
            gate=FakeGate(),
            signing_key=lambda: SIGNING_KEY,
            clock=self.clock,
            metrics=FakeMetrics(),
        )

    def handle(self, ref: ObjectRef) -> Outcome:
        """As the handler does with one notification: it joins the line, then the line is drained."""
        joined = self.ingestor.enqueue(ref)
        if joined.kind is not Kind.QUEUED:
            return joined
        (outcome,) = self.ingestor.drain(deadline=self.clock.now() + 120, max_wait_seconds=5)
        return outcome


def s3_event_body(key: str, *, size: int = 1000, version_id: str = "v1") -> str:
    """An SQS message body as S3 sends it: the key form-encoded ('+' for space), '/' kept."""
    return s3_notification(BUCKET, key, size=size, versionId=version_id, eTag="e")


def _form_options(outcome: Outcome, rig: Rig) -> OptionalFields:
    """The optional fields as the provider's form carries them (the pipeline's own trace tag removed)."""
    request = rig.provider.requests[0]
    form = request.form()
    single = {name: value for name, value in form if name in OPTIONAL_FIELDS and name != "tags"}
    tags = tuple(value for name, value in form if name == "tags" and value not in request.extra_tags)
    return OptionalFields(tags=tags, **single)


# -- keys -----------------------------------------------------------------------------------------

_KEY_CHARS = st.one_of(
    st.characters(codec="utf-8"),  # every plane, incl. astral; no lone surrogates (not valid in S3)
    st.sampled_from(string.punctuation + " +%/\t\n\r\x00\x1f\x7f"),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, codec="utf-8"),
)
_KEY_BODY = st.text(alphabet=_KEY_CHARS, min_size=1, max_size=300)
_LONG_KEY = st.tuples(st.sampled_from(["a", "é", "😀", "+", "%", " ", "/"]), st.integers(1, 1024)).map(
    lambda pair: pair[0] * (pair[1] // len(pair[0].encode()))
)
KEYS = (
    st.tuples(
        st.one_of(
            _KEY_BODY, _LONG_KEY, st.sampled_from(["a+b.mp4", "100%.mp4", "%2B.mp4", "a b.MP4", "dir/"])
        ),
        st.sampled_from(["", ".mp4", ".MOV", ".mp4/", ".txt", "mp4", " .mp4"]),
    )
    .map(lambda pair: (pair[0] + pair[1]).encode("utf-8")[:1024].decode("utf-8", "ignore"))
    .filter(bool)
)


@settings(max_examples=600, **HYPOTHESIS)
@given(key=KEYS)
def test_600_hostile_s3_keys_are_decoded_exactly_and_never_crash_ingest(key: str) -> None:
    tally_example()
    assert len(key.encode("utf-8")) <= 1024
    refs = parse_notification(s3_event_body(key))
    assert [ref.key for ref in refs] == [key]
    # The notification the tests and the benchmark build decodes to the same key too.
    assert [r.key for r in parse_notification(notification_body(refs[0]))] == [key]
    rig = Rig()
    rig.objects.add(key)
    outcome = rig.handle(refs[0])
    assert rig.provider.calls <= 1
    if key.endswith("/"):
        assert outcome.kind is Kind.SKIPPED and outcome.detail
    elif key.lower().endswith(SUFFIXES):
        assert outcome.kind is Kind.SUBMITTED, outcome
        assert rig.provider.calls == 1
        assert rig.store.only().key == key
        assert validate_optional_fields(_form_options(outcome, rig)) == []
    else:
        assert outcome.kind is Kind.REJECTED and outcome.detail.startswith("not a video")
        assert rig.provider.calls == 0
        assert rig.store.only().key == key
    # A redelivery of the same message never calls the provider again.
    again = rig.handle(parse_notification(s3_event_body(key))[0])
    assert again.kind in (Kind.SKIPPED, Kind.DUPLICATE)
    assert rig.provider.calls <= 1


# -- metadata -------------------------------------------------------------------------------------

_HOSTILE_VALUE = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=150, max_size=3000),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x9F), max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "2025-10-20 11:00:00",
            "2025-02-30 11:00:00",
            "２０２５-10-20 11:00:00",
            "2025-10-20T11:00:00",
            "66.66",
            "-90",
            "90.0000001",
            "1e3",
            "NaN",
            "inf",
            "9" * 400,
            "٣.٥",
            "true",
            "FALSE",
            "yes",
            "maybe",
            "a,b,,c",
            ",".join(f"t{i}" for i in range(25)),
            "x" * 65,
            "tab\there",
            "line\nbreak",
            "nul\x00",
            "soft\u00adhyphen",
            "rtl\u202eoverride",
            "😀 camera",
            "x" * 2001,
            "ok\r\nprompt",
        ]
    ),
)
_SPELLINGS = {
    name: st.sampled_from([name, name.replace("_", "-"), name.upper(), name.replace("_", "-").title()])
    for name in OPTIONAL_FIELDS
}


@st.composite
def hostile_metadata(draw: st.DrawFn) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for name in OPTIONAL_FIELDS:
        if draw(st.booleans()):
            metadata[draw(_SPELLINGS[name])] = draw(_HOSTILE_VALUE)
    metadata.update(draw(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=30), max_size=3)))
    return metadata


@settings(max_examples=600, **HYPOTHESIS)
@given(metadata=hostile_metadata())
def test_600_hostile_metadata_submits_clean_values_or_rejects_naming_the_field(
    metadata: dict[str, str],
) -> None:
    tally_example()
    rig = Rig()
    key = "clips/hostile.mp4"
    rig.objects.add(key, metadata=metadata)
    outcome = rig.handle(parse_notification(s3_event_body(key))[0])
    assert rig.provider.calls <= 1
    if outcome.kind is Kind.SUBMITTED:
        assert rig.provider.calls == 1
        options = _form_options(outcome, rig)
        assert validate_optional_fields(options) == []
        assert len(options.tags) + len(rig.provider.requests[0].extra_tags) <= 20
    else:
        assert outcome.kind is Kind.REJECTED, outcome
        assert rig.provider.calls == 0
        assert outcome.detail.startswith("invalid metadata: ")
        named = [name for name in OPTIONAL_FIELDS if name in outcome.detail]
        assert named, outcome.detail
        normalized = {k.lower().replace("-", "_") for k in metadata}
        assert set(named) & normalized, (named, metadata)
        assert rig.store.only().status == "REJECTED"


# -- SQS bodies -----------------------------------------------------------------------------------

_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=15,
)
_ANY = st.one_of(_JSON, st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete", "s3:TestEvent"]))


@st.composite
def s3_shaped(draw: st.DrawFn) -> Any:
    """JSON that looks like an S3 notification, with any part missing or of the wrong type."""
    obj = draw(
        st.dictionaries(st.sampled_from(["key", "size", "versionId", "eTag", "etag"]), _ANY, max_size=5)
    )
    s3 = draw(
        st.one_of(
            st.just({"bucket": draw(st.one_of(st.just({"name": draw(_ANY)}), _ANY)), "object": obj}), _ANY
        )
    )
    record = draw(st.one_of(st.just({"eventName": draw(_ANY), "s3": s3}), _ANY))
    if draw(st.booleans()):
        record = {"eventName": "ObjectCreated:Put", "s3": s3} if isinstance(s3, dict) else record
    return draw(
        st.sampled_from([{"Records": [record]}, {"Records": record}, {"Event": draw(_ANY)}, [record], record])
    )


SQS_BODIES = st.one_of(
    st.text(max_size=200),
    _JSON.map(json.dumps),
    s3_shaped().map(json.dumps),
    st.sampled_from(['{"Event":"s3:TestEvent"}', "", "null", "[]", "{}", '{"Records":null}', "\ufeff{}"]),
)


@settings(max_examples=500, **HYPOTHESIS)
@given(body=SQS_BODIES)
def test_500_malformed_sqs_bodies_raise_invalid_event_or_name_no_objects(body: str) -> None:
    tally_example()
    try:
        refs = parse_notification(body)
    except InvalidEvent:
        return
    assert all(isinstance(ref, ObjectRef) for ref in refs)


@pytest.mark.parametrize("size", ["1e400", "Infinity", "-Infinity"])
def test_an_infinite_object_size_is_an_invalid_event(size: str) -> None:
    body = (
        '{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},'
        f'"object":{{"key":"a.mp4","size":{size}}}}}}}]}}'
    )
    with pytest.raises(InvalidEvent):
        parse_notification(body)
