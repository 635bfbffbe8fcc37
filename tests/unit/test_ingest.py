"""Ingest: one created object becomes at most one metered upload_url call, and a record saying what happened."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.core.callbacks import CallbackService
from functions.core.clock import iso
from functions.core.contract import Accepted, OptionalFields, UploadRequest, trace_tag
from functions.core.errors import (
    AmbiguousSubmit,
    ObjectUnreadable,
    ProviderAuthFailure,
    ProviderBalanceExhausted,
    ProviderDuplicate,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTransient,
    ProviderUnavailable,
)
from functions.core.ingest import Ingestor, Kind, Outcome, fields_from_metadata
from functions.core.objects import ObjectRef
from functions.core.signing import callback_url, token_for, token_matches
from functions.core.status import (
    PARSE,
    QUEUED,
    REJECTED,
    SKIPPED,
    SKIPPED_TTL_SECONDS,
    SUBMITTING,
    UNCERTAIN,
    UNPARSE,
)
from tests.unit.fakes import (
    BUCKET,
    CALLBACK_BASE,
    SIGNING_KEY,
    T0,
    UNIQUE_ID,
    FakeClock,
    FakeGate,
    FakeMetrics,
    FakeObjects,
    FakeProvider,
    InMemoryStore,
    MakeIngestor,
    accepted,
    created,
    id_of,
    presigned_url,
    record,
)

KEY = "clips/holiday.mp4"


def history(store: InMemoryStore) -> list[str]:
    return [step.to_status for step in store.only().history]


def drain(
    ingestor: Ingestor, clock: FakeClock, *, wait: float = 60.0, runs_for: float = 120.0
) -> list[Outcome]:
    """One scheduled run: submits what is due within ``wait``, ending by ``runs_for`` from now."""
    return ingestor.drain(deadline=clock.now() + runs_for, max_wait_seconds=wait)


def submit(ingestor: Ingestor, ref: ObjectRef, clock: FakeClock | None = None) -> Outcome:
    """A notification, then the drain after its batch: the outcome of its turn, or of the enqueue."""
    joined = ingestor.enqueue(ref)
    if joined.kind is not Kind.QUEUED:
        return joined
    (outcome,) = drain(ingestor, clock or FakeClock())
    return outcome


# -- the happy path ---------------------------------------------------------------------------------


def test_a_new_video_is_submitted_once_and_recorded_as_indexing(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    metrics: FakeMetrics,
) -> None:
    # Given a video in the bucket and a provider that accepts it
    objects.add(KEY)
    provider.answer(accepted("VI777", upload_time="1760000000123"))
    # When its notification is handled
    outcome = submit(ingestor, created(KEY))
    # Then one call was made and the record says what memories.ai answered
    assert (outcome.kind, outcome.video_no) == (Kind.SUBMITTED, "VI777")
    assert provider.calls == 1
    saved = store.only()
    assert saved.status == UNPARSE
    assert (saved.video_no, saved.video_name, saved.upload_time) == ("VI777", "VI777.mp4", "1760000000123")
    assert (saved.bucket, saved.key, saved.version_id, saved.attempts) == (BUCKET, KEY, "v1", 1)
    assert saved.lease_until is None
    assert saved.reason is None
    assert history(store) == [QUEUED, SUBMITTING, UNPARSE]
    assert metrics.counts["VideosSubmitted"] == 1


def test_the_request_carries_a_presigned_url_a_signed_callback_and_the_folder(
    make_ingestor: MakeIngestor, objects: FakeObjects, provider: FakeProvider
) -> None:
    objects.add(KEY)
    ref = created(KEY, version_id="v9")
    submit(make_ingestor(presigned_url_ttl_seconds=7200), ref)
    (request,) = provider.requests
    assert request.url == presigned_url(BUCKET, KEY, "v9", 7200)
    assert request.unique_id == UNIQUE_ID
    # The token is issued when the video is submitted (by the ingest clock), not when it was dropped
    assert request.callback == callback_url(CALLBACK_BASE, SIGNING_KEY, id_of(ref), issued_at=T0)
    callback = urlsplit(request.callback)
    assert callback.path.endswith("/callbacks/" + id_of(ref))
    assert token_matches(SIGNING_KEY, id_of(ref), parse_qs(callback.query)["token"][0])
    assert len(request.callback) <= 299
    assert request.extra_tags == (trace_tag(id_of(ref)),)


def test_object_metadata_overrides_the_configured_defaults(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider
) -> None:
    """Given defaults (camera, latitude, tag) and metadata naming a camera and tags, then metadata wins field by field."""
    objects.add(
        KEY,
        metadata={
            "Camera-Model": "Pixel 9",
            "tags": "beach, sunset",
            "datetime_taken": "2025-10-20 11:00:00",
        },
    )
    submit(ingestor, created(KEY))
    (request,) = provider.requests
    assert request.options == OptionalFields(
        datetime_taken="2025-10-20 11:00:00",
        camera_model="Pixel 9",
        latitude="10.5",
        tags=("beach", "sunset"),
    )
    assert [v for k, v in request.form() if k == "tags"] == [
        "beach",
        "sunset",
        trace_tag(id_of(created(KEY))),
    ]


def test_metadata_names_are_read_with_hyphens_or_underscores_in_any_case() -> None:
    fields = fields_from_metadata(
        {
            "CAMERA-MODEL": "A",
            "Retain_Original_Video": "false",
            "video-transcription-prompt": "p",
            "other": "x",
        }
    )
    assert fields == OptionalFields(
        camera_model="A", retain_original_video="false", video_transcription_prompt="p"
    )


def test_the_callback_url_in_the_request_is_accepted_by_the_callback_service(
    ingestor: Ingestor,
    objects: FakeObjects,
    provider: FakeProvider,
    store: InMemoryStore,
    callbacks: CallbackService,
) -> None:
    """Given a submitted video, when memories.ai calls the URL it was given, then the record moves to PARSE."""
    objects.add(KEY)
    submit(ingestor, created(KEY))
    (request,) = provider.requests
    url = urlsplit(request.callback)
    video_id = url.path.rsplit("/", 1)[-1]
    body = json.dumps({"videoNo": store.only().video_no, "status": "PARSE"}).encode()
    provider.statuses["VI0001"] = PARSE  # what get_metadata says when the callback asks
    callbacks.handle(video_id, parse_qs(url.query)["token"][0], body, "application/json")
    assert store.only().status == PARSE


# -- objects that are not submitted ---------------------------------------------------------------


@pytest.mark.parametrize(("key", "size"), [("clips/", 0), ("clips/2025/", 0), ("clips/empty.mp4", 0)])
def test_folder_markers_and_empty_objects_leave_an_expiring_skipped_entry_and_no_call(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
    key: str,
    size: int,
) -> None:
    outcome = ingestor.enqueue(created(key, size=size))
    assert outcome.kind is Kind.SKIPPED
    # Then an operator finds it, with the reason, and it expires by itself
    entry = store.only()
    assert entry.status == SKIPPED and entry.key == key
    assert entry.reason == "skipped: " + ("folder marker" if key.endswith("/") else "empty object")
    assert entry.expires_at == int(clock.now()) + SKIPPED_TTL_SECONDS
    # A second delivery writes nothing new; nothing is read or sent
    assert ingestor.enqueue(created(key, size=size)).kind is Kind.SKIPPED
    assert len(store) == 1
    assert provider.calls == 0
    assert objects.heads == []
    assert drain(ingestor, clock) == []


def test_identical_bytes_delivered_again_say_so_once_and_are_not_sent_again(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    objects.add(KEY)
    first = ingestor.enqueue(created(KEY))
    for _ in range(3):
        again = ingestor.enqueue(created(KEY))
        assert again.kind is Kind.DUPLICATE and again.video_id == first.video_id
    drain(ingestor, clock)
    skipped = [r for r in store.all() if r.status == SKIPPED]
    assert len(skipped) == 1 and len(store) == 2
    assert f"same bytes as video {first.video_id}, now QUEUED" in str(skipped[0].reason)
    assert skipped[0].expires_at is not None
    assert provider.calls == 1


@pytest.mark.parametrize("key", ["notes.txt", "clip.mp4.txt", "mp4", "photos/a.jpg"])
def test_a_non_video_is_rejected_with_a_reason_without_reading_it(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, key: str
) -> None:
    outcome = ingestor.enqueue(created(key))
    assert outcome.kind is Kind.REJECTED
    saved = store.only()
    assert saved.status == REJECTED
    assert saved.reason is not None and "not a video" in saved.reason
    assert objects.heads == []
    assert provider.calls == 0


@pytest.mark.parametrize("key", ["CLIP.MOV", "a/b/c.Mp4", "x.mov"])
def test_video_suffixes_match_in_any_case(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, key: str
) -> None:
    objects.add(key)
    assert submit(ingestor, created(key)).kind is Kind.SUBMITTED
    assert provider.calls == 1


def test_a_video_over_the_size_limit_is_rejected(
    make_ingestor: MakeIngestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider
) -> None:
    objects.add(KEY)
    ingestor = make_ingestor(max_object_bytes=5000)
    assert ingestor.enqueue(created(KEY, size=5001)).kind is Kind.REJECTED
    assert store.only().reason is not None and "too large" in str(store.only().reason)
    assert provider.calls == 0
    assert submit(ingestor, created(KEY, size=5000, version_id="v2")).kind is Kind.SUBMITTED


def test_an_object_deleted_while_in_line_is_rejected_without_a_call(
    ingestor: Ingestor, store: InMemoryStore, provider: FakeProvider
) -> None:
    outcome = submit(ingestor, created(KEY))
    assert outcome.kind is Kind.REJECTED
    assert store.only().status == REJECTED
    assert store.only().reason == "the object no longer exists (deleted while in line)"
    assert history(store) == [QUEUED, SUBMITTING, REJECTED]
    assert provider.calls == 0


def test_an_object_replaced_while_in_line_is_not_submitted(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    """Given an unversioned bucket, when the key holds other bytes by the video's turn, then no call: the
    new bytes came with their own notification and are their own video."""
    ref = created(KEY, version_id=None, etag="old")
    ingestor.enqueue(ref)
    objects.add(KEY, etag="new")
    (outcome,) = drain(ingestor, clock)
    assert outcome.kind is Kind.REJECTED
    assert "replaced while in line" in str(store.only().reason)
    assert provider.calls == 0


def test_the_object_is_read_and_presigned_at_its_turn_not_at_its_drop(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    """Given a video that waited a day in line, then the URL is signed and the metadata read at its turn."""
    objects.add(KEY, etag="etag-1")
    ingestor.enqueue(created(KEY))
    assert objects.heads == []
    clock.advance(86400)
    objects.add(KEY, etag="etag-1", metadata={"camera-model": "Set Later"})
    (outcome,) = drain(ingestor, clock)
    assert outcome.kind is Kind.SUBMITTED
    (request,) = provider.requests
    assert request.options.camera_model == "Set Later"
    # one read of the video (sidecars are off by default: READ_SIDECARS)
    assert [key for _, key, _ in objects.heads] == [KEY]


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"latitude": "north"}, "latitude"),
        ({"longitude": "200"}, "longitude"),
        ({"datetime-taken": "2025-02-30 10:00:00"}, "datetime_taken"),
        ({"tags": ",".join(f"t{i}" for i in range(20))}, "tags"),
        ({"retain-original-video": "perhaps"}, "retain_original_video"),
    ],
)
def test_invalid_metadata_is_rejected_naming_the_field_without_a_call_or_a_slot(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    gate: FakeGate,
    metadata: dict[str, str],
    field: str,
) -> None:
    objects.add(KEY, metadata=metadata)
    outcome = submit(ingestor, created(KEY))
    assert outcome.kind is Kind.REJECTED
    assert store.only().status == REJECTED
    assert field in str(store.only().reason)
    assert provider.calls == 0
    assert len(gate.reservations) == 1  # its turn, nobody else's: the slot was not for the call


# -- one call per object version ------------------------------------------------------------------


def test_the_same_event_twice_is_submitted_once(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider
) -> None:
    objects.add(KEY)
    assert submit(ingestor, created(KEY)).kind is Kind.SUBMITTED
    second = submit(ingestor, created(KEY))
    assert second.kind is Kind.DUPLICATE
    assert provider.calls == 1


def test_a_rejected_non_video_delivered_twice_is_recorded_once(
    ingestor: Ingestor, store: InMemoryStore
) -> None:
    ingestor.enqueue(created("notes.txt"))
    assert ingestor.enqueue(created("notes.txt")).kind is Kind.DUPLICATE
    assert store.only().status == REJECTED  # beside it only the expiring "delivered again" entry
    assert [r.status for r in store.all()].count(SKIPPED) == 1


def test_a_new_version_of_the_same_key_is_a_new_video(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, store: InMemoryStore
) -> None:
    objects.add(KEY)
    submit(ingestor, created(KEY, version_id="v1"))
    submit(ingestor, created(KEY, version_id="v2"))
    assert provider.calls == 2
    assert len(store) == 2


def test_an_unversioned_bucket_tells_uploads_apart_by_etag(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider
) -> None:
    """Same bytes uploaded again (same ETag) is the same video; different bytes are a new one."""
    objects.add(KEY)
    submit(ingestor, created(KEY, version_id=None, etag="aaa"))
    assert submit(ingestor, created(KEY, version_id=None, etag="aaa")).kind is Kind.DUPLICATE
    objects.add(KEY, etag="bbb")
    assert submit(ingestor, created(KEY, version_id=None, etag="bbb")).kind is Kind.SUBMITTED
    assert provider.calls == 2


def test_a_delivery_while_another_is_submitting_is_a_duplicate(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    """Given another delivery holding a live lease on the record, when the same object arrives, then no call."""
    objects.add(KEY)
    store.put(record(SUBMITTING, lease_until=clock.now() + 30))
    outcome = submit(ingestor, created(KEY), clock)
    assert outcome.kind is Kind.DUPLICATE
    assert provider.calls == 0
    assert store.only().status == SUBMITTING


def test_a_redelivery_after_an_attempt_died_during_the_call_changes_nothing(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    """Given a SUBMITTING record whose lease ran out (the call may have been billed), then no call: the
    reconciler, not a notification, settles it."""
    objects.add(KEY)
    store.put(record(SUBMITTING, lease_until=T0 - 1))
    assert ingestor.enqueue(created(KEY)).kind is Kind.DUPLICATE
    assert drain(ingestor, clock) == []
    assert store.only().status == SUBMITTING
    assert provider.calls == 0


@pytest.mark.parametrize("status", [UNPARSE, PARSE, REJECTED, UNCERTAIN, "FAIL"])
def test_a_record_past_submission_is_never_submitted_again(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, status: str
) -> None:
    objects.add(KEY)
    store.put(record(status, video_no="VI1"))
    assert submit(ingestor, created(KEY)).kind is Kind.DUPLICATE
    assert provider.calls == 0
    assert store.only().status == status


# -- what each provider failure leads to ---------------------------------------------------------


def turns(ingestor: Ingestor, clock: FakeClock, times: int) -> list[Kind]:
    """The video's next ``times`` turns, each after any hold or backoff has passed."""
    kinds = []
    for _ in range(times):
        outcomes = drain(ingestor, clock, wait=1000.0, runs_for=2000.0)
        kinds.extend(o.kind for o in outcomes)
        clock.advance(1000)
    return kinds


@pytest.fixture
def queued(ingestor: Ingestor, objects: FakeObjects) -> ObjectRef:
    objects.add(KEY)
    ref = created(KEY)
    assert ingestor.enqueue(ref).kind is Kind.QUEUED
    return ref


def test_parameters_refused_by_the_provider_reject_the_video_for_good(
    ingestor: Ingestor, store: InMemoryStore, queued: ObjectRef, provider: FakeProvider, clock: FakeClock
) -> None:
    provider.answer(ProviderRejected("0003", "parameter incorrect"))
    assert turns(ingestor, clock, 2) == [Kind.REJECTED]
    assert ingestor.enqueue(queued).kind is Kind.DUPLICATE
    assert provider.calls == 1
    assert store.only().status == REJECTED
    assert "0003" in str(store.only().reason)
    assert "parameter incorrect" in str(store.only().reason)


def test_code_0001_is_retried_twice_then_rejected(
    ingestor: Ingestor, store: InMemoryStore, queued: ObjectRef, provider: FakeProvider, clock: FakeClock
) -> None:
    provider.answer(*(ProviderTransient("0001", "parameter incorrect") for _ in range(3)))
    assert turns(ingestor, clock, 4) == [Kind.REQUEUED, Kind.REQUEUED, Kind.REJECTED]
    assert provider.calls == 3
    assert store.only().status == REJECTED
    assert "3 times" in str(store.only().reason)


@pytest.mark.parametrize("budget", [1, 2, 5])
def test_the_number_of_0001_answers_tolerated_is_configurable(
    make_ingestor: MakeIngestor, objects: FakeObjects, provider: FakeProvider, clock: FakeClock, budget: int
) -> None:
    objects.add(KEY)
    provider.answer(*(ProviderTransient("0001", "parameter incorrect") for _ in range(budget)))
    ingestor = make_ingestor(max_transient_errors=budget)
    ingestor.enqueue(created(KEY))
    assert turns(ingestor, clock, budget) == [Kind.REQUEUED] * (budget - 1) + [Kind.REJECTED]


def test_a_0001_holds_back_only_that_video_and_the_line_goes_on(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    gate: FakeGate,
    clock: FakeClock,
) -> None:
    """Given two videos in line and a 0001 for the first, then the second goes next, and the first
    keeps its place and is tried again once its backoff (30 s) is over."""
    for key in ("a.mp4", "b.mp4"):
        objects.add(key)
        ingestor.enqueue(created(key))
        clock.advance(1)
    first = store.peek(id_of(created("a.mp4")))
    assert first is not None
    provider.answer(ProviderTransient("0001", "try again"))
    outcomes = drain(ingestor, clock, wait=5.0)
    assert [o.kind for o in outcomes] == [Kind.REQUEUED, Kind.SUBMITTED]
    waiting = store.peek(first.video_id)
    assert waiting is not None
    assert (waiting.status, waiting.queued_at, waiting.not_before) == (
        QUEUED,
        first.queued_at,
        clock.now() + 30,
    )
    assert gate.hold_offs == []
    clock.advance(30)
    assert [o.kind for o in drain(ingestor, clock)] == [Kind.SUBMITTED]
    assert [r.url.split("/")[-1].split("?")[0] for r in provider.requests] == ["a.mp4", "b.mp4", "a.mp4"]


def test_rate_limiting_pushes_the_shared_gate_back_and_keeps_the_place(
    ingestor: Ingestor,
    store: InMemoryStore,
    queued: ObjectRef,
    provider: FakeProvider,
    gate: FakeGate,
    metrics: FakeMetrics,
    clock: FakeClock,
) -> None:
    joined = store.only().queued_at
    provider.answer(ProviderRateLimited("0429", "Request has exceeded the limit."))
    (outcome,) = drain(ingestor, clock, wait=5.0)
    assert outcome.kind is Kind.REQUEUED
    assert [until for until, _ in gate.hold_offs] == [T0 + 30]
    saved = store.only()
    assert (saved.status, saved.queued_at, saved.not_before) == (QUEUED, joined, None)
    assert saved.transient_errors == 0  # never counts toward rejection
    assert metrics.counts["ProviderRateLimited"] == 1


def test_an_unavailable_provider_holds_the_line_with_growing_capped_backoff(
    ingestor: Ingestor,
    store: InMemoryStore,
    queued: ObjectRef,
    provider: FakeProvider,
    gate: FakeGate,
    clock: FakeClock,
) -> None:
    provider.answer(*(ProviderUnavailable("http-503", "down") for _ in range(8)))
    holds = []
    for _ in range(8):
        (outcome,) = drain(ingestor, clock, wait=0.0)
        assert outcome.kind is Kind.REQUEUED
        until = gate.hold_offs[-1][0]
        holds.append(round(until - clock.now()))
        clock.advance(until - clock.now())
    assert holds == [30, 60, 120, 240, 480, 900, 900, 900]
    assert store.only().status == QUEUED
    assert store.only().attempts == 8


def test_a_refused_api_key_pauses_the_whole_line_and_rereads_the_key(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    gate: FakeGate,
    metrics: FakeMetrics,
    clock: FakeClock,
) -> None:
    for key in ("a.mp4", "b.mp4"):
        objects.add(key)
        ingestor.enqueue(created(key))
    provider.answer(ProviderAuthFailure("0401", "authorization invalid"))
    outcomes = drain(ingestor, clock, wait=60.0)
    assert [o.kind for o in outcomes] == [Kind.REQUEUED]  # b was not tried: the account is paused
    assert provider.calls == 1
    assert provider.credentials_forgotten == 1
    (until, reason) = gate.hold_offs[0]
    assert until == T0 + 900
    assert "0401" in reason
    assert gate.state().held(clock.now()) == reason
    assert metrics.counts["ProviderAuthFailure"] == 1
    clock.advance(900)
    assert [o.kind for o in drain(ingestor, clock, wait=0.0)] == [Kind.SUBMITTED, Kind.SUBMITTED]


def test_an_empty_account_pauses_the_line_and_loses_nothing(
    ingestor: Ingestor, store: InMemoryStore, queued: ObjectRef, provider: FakeProvider, clock: FakeClock
) -> None:
    provider.answer(*(ProviderBalanceExhausted("0402", "not enough points") for _ in range(5)))
    assert turns(ingestor, clock, 6) == [Kind.REQUEUED] * 5 + [Kind.SUBMITTED]
    assert store.only().status == UNPARSE
    assert store.only().queued_at == iso(T0)


@pytest.mark.parametrize(
    "error",
    [
        AmbiguousSubmit("read-timeout", "no answer"),
        ProviderDuplicate("0409", "duplicate request not allowed"),
    ],
)
def test_a_maybe_billed_submission_is_uncertain_and_never_repeated(
    ingestor: Ingestor,
    store: InMemoryStore,
    queued: ObjectRef,
    provider: FakeProvider,
    clock: FakeClock,
    error: ProviderError,
) -> None:
    provider.answer(error)
    assert turns(ingestor, clock, 3) == [Kind.UNCERTAIN]
    assert ingestor.enqueue(queued).kind is Kind.DUPLICATE
    assert provider.calls == 1
    assert store.only().status == UNCERTAIN
    assert store.only().lease_until is None


def test_a_video_put_back_is_taken_again_and_submitted(
    ingestor: Ingestor, store: InMemoryStore, queued: ObjectRef, provider: FakeProvider, clock: FakeClock
) -> None:
    provider.answer(ProviderUnavailable("http-502", "bad gateway"))
    assert turns(ingestor, clock, 2) == [Kind.REQUEUED, Kind.SUBMITTED]
    assert provider.calls == 2
    saved = store.only()
    assert (saved.status, saved.attempts, saved.reason, saved.not_before) == (UNPARSE, 2, None, None)
    assert history(store) == [QUEUED, SUBMITTING, QUEUED, SUBMITTING, UNPARSE]


def test_an_unclassified_failure_during_the_call_is_treated_as_maybe_billed(
    ingestor: Ingestor, store: InMemoryStore, queued: ObjectRef, provider: FakeProvider, clock: FakeClock
) -> None:
    """Given the provider adapter blows up mid-call, then the record keeps its lease (SUBMITTING, for
    the reconciler to make UNCERTAIN), leaves the line, and no later run calls again."""
    provider.answer(ConnectionResetError("reset by peer"))
    with pytest.raises(ConnectionResetError):
        drain(ingestor, clock)
    clock.advance(61)
    assert drain(ingestor, clock) == []
    assert store.only().status == SUBMITTING
    assert provider.calls == 1


# -- races with the callback ------------------------------------------------------------------------


def callback_body(video_no: str, status: str) -> bytes:
    return json.dumps({"videoNo": video_no, "status": status}).encode()


def test_a_callback_before_the_accepted_write_is_not_undone(
    ingestor: Ingestor,
    store: InMemoryStore,
    queued: ObjectRef,
    provider: FakeProvider,
    callbacks: CallbackService,
    clock: FakeClock,
) -> None:
    # Given a callback saying PARSE that lands between the claim and ingest's write of the answer
    video_id = id_of(queued)
    provider.answer(accepted("VI42"))
    provider.statuses["VI42"] = PARSE
    real_save = store.save

    def claim_then_callback(record: object) -> object:
        saved = real_save(record)  # type: ignore[arg-type]
        if saved.status == SUBMITTING:
            store.before_next_save(
                lambda: callbacks.handle(
                    video_id,
                    token_for(SIGNING_KEY, video_id),
                    callback_body("VI42", "PARSE"),
                    "application/json",
                )
            )
        return saved

    store.save = claim_then_callback  # type: ignore[method-assign,assignment]
    # When ingest records the accepted upload
    (outcome,) = drain(ingestor, clock)
    # Then the record stays PARSE and still gains the upload's details
    assert outcome.kind is Kind.SUBMITTED
    saved = store.only()
    assert saved.status == PARSE
    assert (saved.video_no, saved.video_name, saved.upload_time) == ("VI42", "VI42.mp4", "1760000000000")
    assert saved.lease_until is None
    assert history(store) == [QUEUED, SUBMITTING, PARSE]


@pytest.mark.parametrize(
    ("error", "callback_status"),
    [
        (AmbiguousSubmit("read-timeout", "no answer"), "UNPARSE"),
        (ProviderUnavailable("http-504", "gateway timeout"), "UNPARSE"),
    ],
)
def test_a_callback_before_the_failure_is_handled_keeps_the_video_accepted(
    ingestor: Ingestor,
    store: InMemoryStore,
    queued: ObjectRef,
    provider: FakeProvider,
    callbacks: CallbackService,
    clock: FakeClock,
    error: ProviderError,
    callback_status: str,
) -> None:
    video_id = id_of(queued)
    provider.answer(error)
    provider.statuses["VI43"] = callback_status

    def callback_arrives() -> None:
        body = callback_body("VI43", callback_status)
        callbacks.handle(video_id, token_for(SIGNING_KEY, video_id), body, "application/json")

    real_upload = provider.upload_url

    def upload_then_callback(request: object) -> object:
        try:
            return real_upload(request)  # type: ignore[arg-type]
        finally:
            callback_arrives()

    provider.upload_url = upload_then_callback  # type: ignore[method-assign,assignment]
    drain(ingestor, clock)
    assert (store.only().status, store.only().video_no) == (UNPARSE, "VI43")


# -- the line and the account-wide gate --------------------------------------------------------------


def test_videos_are_submitted_first_dropped_first_at_the_account_rate(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, gate: FakeGate, clock: FakeClock
) -> None:
    """Given one upload per 62 s and five drops at once, then the drain after their batch sends the
    first only; each scheduled run then sends the next one, in the order of the drops."""
    gate.interval = 62.0
    keys = [f"v{i}.mp4" for i in range(5)]
    for key in keys:
        objects.add(key)
        assert ingestor.enqueue(created(key)).kind is Kind.QUEUED
        clock.advance(0.01)
    assert [o.kind for o in drain(ingestor, clock, wait=5.0)] == [Kind.SUBMITTED]
    sent_at = [clock.now()]
    while len(provider.requests) < 5:
        clock.advance(60 - clock.now() % 60)  # the next tick of the minute schedule
        before = len(provider.requests)
        drain(ingestor, clock, wait=60.0)
        sent_at += [clock.now()] * (len(provider.requests) - before)
    assert [r.url.split("/")[-1].split("?")[0] for r in provider.requests] == keys
    assert all(b - a >= 62.0 - 1e-6 for a, b in itertools.pairwise(sent_at))
    assert gate.reservations == [gate.reservations[0] + 62.0 * i for i in range(5)]


def test_a_waiting_video_costs_nothing_until_its_turn(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, gate: FakeGate, clock: FakeClock
) -> None:
    """Given the next slot is 10 minutes away, then a run reserves nothing, writes nothing, and leaves."""
    objects.add(KEY)
    ingestor.enqueue(created(KEY))
    gate.next_free = T0 + 600
    writes = store.writes
    assert drain(ingestor, clock, wait=60.0) == []
    assert (gate.reservations, store.writes, clock.slept) == ([], writes, [])
    assert store.only().status == QUEUED


def test_a_slot_within_the_budget_is_waited_for_then_used(
    ingestor: Ingestor, queued: ObjectRef, provider: FakeProvider, gate: FakeGate, clock: FakeClock
) -> None:
    gate.next_free = T0 + 3
    assert [o.kind for o in drain(ingestor, clock, wait=5.0)] == [Kind.SUBMITTED]
    assert clock.slept == [3.0]
    assert provider.calls == 1


def test_a_slot_already_due_costs_no_wait(
    ingestor: Ingestor, queued: ObjectRef, gate: FakeGate, clock: FakeClock
) -> None:
    gate.next_free = T0 - 10
    drain(ingestor, clock)
    assert clock.slept == []


def test_a_run_takes_no_turn_it_cannot_finish_before_its_deadline(
    ingestor: Ingestor, store: InMemoryStore, queued: ObjectRef, gate: FakeGate, clock: FakeClock
) -> None:
    """Given 50 s left and a submission that may take 60 s (the lease), then the run leaves the video in line."""
    assert drain(ingestor, clock, wait=60.0, runs_for=50.0) == []
    assert gate.reservations == []
    assert store.only().status == QUEUED


def test_a_drain_with_an_empty_line_reserves_nothing(
    ingestor: Ingestor, gate: FakeGate, clock: FakeClock
) -> None:
    assert drain(ingestor, clock) == []
    assert gate.reservations == []


def test_a_resubmitted_non_video_is_refused_at_its_turn(
    ingestor: Ingestor, store: InMemoryStore, provider: FakeProvider, clock: FakeClock
) -> None:
    store.put(record(QUEUED, ref=created("notes.txt"), queued_at=iso(T0)))
    (outcome,) = drain(ingestor, clock)
    assert outcome.kind is Kind.REJECTED
    assert "not a video" in str(store.only().reason)
    assert provider.calls == 0


# -- failures inside the pipeline -----------------------------------------------------------------


def test_an_error_before_the_call_puts_the_video_back_at_its_place(
    ingestor: Ingestor,
    store: InMemoryStore,
    queued: ObjectRef,
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
) -> None:
    """Given reading the object fails at its turn, then the error propagates (the run fails) and the
    video is back in line where it was, so the next run submits it instead of taking it for an
    ambiguous call."""
    joined = store.only().queued_at
    objects.head_error = RuntimeError("S3 throttled")
    with pytest.raises(RuntimeError, match="S3 throttled"):
        drain(ingestor, clock)
    assert (store.only().status, store.only().queued_at, store.only().lease_until) == (QUEUED, joined, None)
    assert provider.calls == 0
    objects.head_error = None
    assert [o.kind for o in drain(ingestor, clock)] == [Kind.SUBMITTED]
    assert provider.calls == 1


def test_the_record_keeps_its_identity_across_attempts(
    ingestor: Ingestor, store: InMemoryStore, queued: ObjectRef, provider: FakeProvider, clock: FakeClock
) -> None:
    provider.answer(ProviderUnavailable("http-500", "oops"))
    turns(ingestor, clock, 2)
    saved = store.only()
    assert saved.video_id == id_of(queued)
    assert saved.created_at == iso(T0)
    assert saved.queued_at == iso(T0)
    assert saved.updated_at == iso(T0 + 30)  # the same run waited out the 30 s hold and tried again


def test_the_line_follows_s3s_event_times_not_the_order_messages_arrive(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, store: InMemoryStore, clock: FakeClock
) -> None:
    """Given two drops whose notifications arrive in the opposite order, then the first created goes first."""
    later = replace(created("later.mp4"), event_time="2025-10-09T08:53:19.500Z")
    earlier = replace(created("earlier.mp4"), event_time="2025-10-09T08:53:18.000Z")
    for ref in (later, earlier):
        objects.add(ref.key)
        ingestor.enqueue(ref)
    assert [e.video_id for e in store.line(10)] == [id_of(earlier), id_of(later)]
    drain(ingestor, clock)
    assert [r.url.split("/")[-1].split("?")[0] for r in provider.requests] == ["earlier.mp4", "later.mp4"]


# -- what S3 itself says, checked before the metered call ------------------------------------------


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"this is a text file named like a video\n", "the content is text"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "the content is a JPEG image"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIF/AVIF"),
    ],
)
def test_a_disguised_non_video_is_rejected_before_any_call(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
    content: bytes,
    what: str,
) -> None:
    # Given an object whose key says video but whose first bytes say otherwise
    objects.add(KEY, content=content)
    ingestor.enqueue(created(KEY))
    # When its turn comes
    (outcome,) = drain(ingestor, clock)
    # Then nothing is billed, and the record says what the object is
    assert outcome.kind is Kind.REJECTED
    assert provider.calls == 0
    reason = str(store.only().reason)
    assert reason.startswith("not a video: ") and what in reason


def test_the_size_checked_is_the_one_s3_reports_not_the_notifications(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    # Given a notification that claims a small object, while S3 holds one over the limit
    objects.add(KEY, size=2 * 1024**3)
    ingestor.enqueue(created(KEY, size=1000))
    # When its turn comes, it is refused on S3's figure, with one S3 request and no call
    (outcome,) = drain(ingestor, clock)
    assert outcome.kind is Kind.REJECTED
    assert str(store.only().reason).startswith(f"too large: {2 * 1024**3} bytes")
    assert (len(objects.heads), provider.calls) == (1, 0)


def test_a_notification_for_another_bucket_is_refused_and_only_an_expiring_entry_says_so(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    # Given a message that names a bucket this pipeline was not deployed for
    objects.add(KEY)
    outcome = ingestor.enqueue(created(KEY, bucket="someone-elses-bucket"))
    # Then it is skipped, with the reason, and the provider never sees it
    assert outcome.kind is Kind.SKIPPED and "someone-elses-bucket" in outcome.detail
    entry = store.only()
    assert entry.status == SKIPPED and entry.expires_at is not None
    assert drain(ingestor, clock) == [] and provider.calls == 0


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            ObjectUnreadable("AccessDenied", "not authorized to perform: kms:Decrypt", kms=True),
            "sourceBucketKmsKeyArns",
        ),
        (ObjectUnreadable("KMS.DisabledException", "key is disabled", kms=True), "sourceBucketKmsKeyArns"),
        (ObjectUnreadable("AccessDenied", "Access Denied", kms=False), "bucket policy"),
    ],
)
def test_an_object_s3_refuses_to_read_is_rejected_with_what_to_fix_not_retried(
    ingestor: Ingestor,
    store: InMemoryStore,
    queued: ObjectRef,
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
    error: ObjectUnreadable,
    says: str,
) -> None:
    """Given S3 refuses the ranged GET (its policy, or KMS), then the video ends REJECTED with the
    fix in its reason, without a provider call, and later runs do not try it again."""
    objects.head_error = error
    assert [o.kind for o in drain(ingestor, clock)] == [Kind.REJECTED]
    reason = store.only().reason or ""
    assert says in reason and error.code in reason and "resubmit" in reason
    assert history(store) == [QUEUED, SUBMITTING, REJECTED]
    clock.advance(3600)
    assert drain(ingestor, clock) == []
    assert provider.calls == 0


# -- sidecar metadata (functions/core/sidecar.py) ---------------------------------------------------


def test_a_sidecar_gives_the_fields_under_the_objects_own_metadata_and_over_the_defaults(
    make_ingestor: MakeIngestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
) -> None:
    ingestor = make_ingestor(
        defaults=OptionalFields(camera_model="Default Cam", tags=("default",)), read_sidecars=True
    )
    sidecar = {
        "camera-model": "Sidecar Cam",
        "tags": ["beach", "2025"],
        "latitude": 43.5,
        "retain_original_video": True,
        "datetime_taken": "2025-10-20 11:00:00",
    }
    objects.add(f"{KEY}.json", content=json.dumps(sidecar).encode(), size=200)
    objects.add(KEY, metadata={"datetime-taken": "2024-01-02 03:04:05"})
    ingestor.enqueue(created(KEY))
    (outcome,) = drain(ingestor, clock)
    assert outcome.kind is Kind.SUBMITTED
    options = provider.requests[0].options
    assert options.camera_model == "Sidecar Cam"  # sidecar over the default
    assert options.tags == ("beach", "2025")
    assert (options.latitude, options.retain_original_video) == ("43.5", "true")
    assert options.datetime_taken == "2024-01-02 03:04:05"  # the object's metadata over the sidecar


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "is not JSON"),
        (b"[1, 2]", "is not a JSON object"),
        (b'{"camera": "x"}', "unknown fields camera"),
        (b'{"latitude": 123}', "latitude"),
        (b'{"tags": [1]}', "unusable value"),
    ],
)
def test_a_bad_sidecar_rejects_the_video_with_the_reason_and_no_call(
    make_ingestor: MakeIngestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
    content: bytes,
    says: str,
) -> None:
    objects.add(f"{KEY}.json", content=content, size=len(content))
    objects.add(KEY)
    ingestor = make_ingestor(read_sidecars=True)
    ingestor.enqueue(created(KEY))
    (outcome,) = drain(ingestor, clock)
    assert outcome.kind is Kind.REJECTED
    assert says in (store.only().reason or "")
    assert provider.calls == 0


def test_without_read_sidecars_a_sidecar_is_not_read(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    """The default: one S3 request per video, its own metadata and the defaults only."""
    objects.add(f"{KEY}.json", content=b'{"camera-model": "Sidecar Cam"}', size=32)
    objects.add(KEY)
    ingestor.enqueue(created(KEY))
    drain(ingestor, clock)
    (request,) = provider.requests
    assert request.options.camera_model != "Sidecar Cam"
    assert [key for _, key, _ in objects.heads] == [KEY]


def test_the_sidecar_itself_is_never_submitted(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    objects.add(f"{KEY}.json", content=b"{}", size=2)
    assert ingestor.enqueue(created(f"{KEY}.json")).kind is Kind.REJECTED  # not a video suffix
    assert drain(ingestor, clock) == [] and provider.calls == 0


def test_two_calls_of_one_instance_are_never_closer_than_the_limit_even_when_slots_are(
    make_ingestor: MakeIngestor,
    objects: FakeObjects,
    provider: FakeProvider,
    gate: FakeGate,
    clock: FakeClock,
) -> None:
    """Given slots only 10 s apart (as when the first call of an instance left its slot late and the
    next leaves on time) and a limit of one call per 60 s, when two videos are drained, then the
    second call waits until 60 s after the first."""
    gate.interval = 10.0
    ingestor = make_ingestor(min_call_spacing_seconds=60.0)
    called_at: list[float] = []
    upload_url = provider.upload_url

    def timed(request: UploadRequest) -> Accepted:
        called_at.append(clock.now())
        return upload_url(request)

    provider.upload_url = timed  # type: ignore[method-assign]
    for key in ("clips/a.mp4", "clips/b.mp4"):
        objects.add(key)
        ingestor.enqueue(created(key))

    outcomes = drain(ingestor, clock, wait=120.0, runs_for=300.0)

    assert [o.kind for o in outcomes] == [Kind.SUBMITTED, Kind.SUBMITTED]
    assert called_at[1] - called_at[0] == pytest.approx(60.0)


def test_what_a_call_needs_is_made_before_the_slot_is_reserved_and_only_when_a_video_is_due(
    make_ingestor: MakeIngestor,
    objects: FakeObjects,
    provider: FakeProvider,
    gate: FakeGate,
    clock: FakeClock,
) -> None:
    """Given a cold instance whose clients and secrets take 0.4 s to make (``ready``), when the line
    is empty nothing is made; when a video is due, they are made first and the call leaves at its
    slot, not 0.4 s after it."""
    steps: list[tuple[str, float]] = []

    def ready() -> None:
        steps.append(("ready", clock.now()))
        clock.advance(0.4)

    reserve = gate.reserve

    def reserving(now: float, latest: float) -> float | None:
        slot = reserve(now, latest)
        steps.append(("slot", -1.0 if slot is None else slot))
        return slot

    gate.reserve = reserving  # type: ignore[method-assign]
    upload_url = provider.upload_url

    def timed(request: UploadRequest) -> Accepted:
        steps.append(("call", clock.now()))
        return upload_url(request)

    provider.upload_url = timed  # type: ignore[method-assign]
    ingestor = make_ingestor(ready=ready)
    assert drain(ingestor, clock) == [] and steps == []  # nothing due: nothing made

    objects.add("clips/a.mp4")
    ingestor.enqueue(created("clips/a.mp4"))
    outcomes = drain(ingestor, clock)

    assert [o.kind for o in outcomes] == [Kind.SUBMITTED]
    assert [name for name, _ in steps] == ["ready", "slot", "call"]
    (_, slot), (_, called) = steps[1], steps[2]
    assert slot == pytest.approx(steps[0][1] + 0.4) and called == pytest.approx(slot)
