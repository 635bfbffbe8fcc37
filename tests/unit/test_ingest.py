"""Ingest: one created object becomes at most one metered upload_url call, and a record saying what happened."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.core.callbacks import CallbackService
from functions.core.clock import iso
from functions.core.contract import OptionalFields, trace_tag
from functions.core.errors import (
    AmbiguousSubmit,
    ProviderAuthFailure,
    ProviderBalanceExhausted,
    ProviderDuplicate,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTransient,
    ProviderUnavailable,
)
from functions.core.ingest import MAX_DEFER_SECONDS, Ingestor, Kind, fields_from_metadata
from functions.core.signing import callback_url, token_for, token_matches
from functions.core.status import PARSE, REJECTED, RETRY_WAIT, SUBMITTING, UNCERTAIN, UNPARSE
from tests.unit.fakes import (
    BUCKET,
    CALLBACK_BASE,
    SIGNING_KEY,
    T0,
    UNIQUE_ID,
    FakeClock,
    FakeLimiter,
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
    outcome = ingestor.handle(created(KEY))
    # Then one call was made and the record says what memories.ai answered
    assert (outcome.kind, outcome.video_no) == (Kind.SUBMITTED, "VI777")
    assert provider.calls == 1
    saved = store.only()
    assert saved.status == UNPARSE
    assert (saved.video_no, saved.video_name, saved.upload_time) == ("VI777", "VI777.mp4", "1760000000123")
    assert (saved.bucket, saved.key, saved.version_id, saved.attempts) == (BUCKET, KEY, "v1", 1)
    assert saved.lease_until is None
    assert saved.reason is None
    assert history(store) == [SUBMITTING, UNPARSE]
    assert metrics.counts["VideosSubmitted"] == 1


def test_the_request_carries_a_presigned_url_a_signed_callback_and_the_folder(
    make_ingestor: MakeIngestor, objects: FakeObjects, provider: FakeProvider
) -> None:
    objects.add(KEY)
    ref = created(KEY, version_id="v9")
    make_ingestor(presigned_url_ttl_seconds=7200).handle(ref)
    (request,) = provider.requests
    assert request.url == presigned_url(BUCKET, KEY, "v9", 7200)
    assert request.unique_id == UNIQUE_ID
    assert request.callback == callback_url(CALLBACK_BASE, SIGNING_KEY, id_of(ref))
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
    ingestor.handle(created(KEY))
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
    ingestor.handle(created(KEY))
    (request,) = provider.requests
    url = urlsplit(request.callback)
    video_id = url.path.rsplit("/", 1)[-1]
    body = json.dumps({"videoNo": store.only().video_no, "status": "PARSE"}).encode()
    provider.statuses["VI0001"] = PARSE  # what get_metadata says when the callback asks
    callbacks.handle(video_id, parse_qs(url.query)["token"][0], body, "application/json")
    assert store.only().status == PARSE


# -- objects that are not submitted ---------------------------------------------------------------


@pytest.mark.parametrize(("key", "size"), [("clips/", 0), ("clips/2025/", 0), ("clips/empty.mp4", 0)])
def test_folder_markers_and_empty_objects_are_skipped_without_a_trace(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    key: str,
    size: int,
) -> None:
    outcome = ingestor.handle(created(key, size=size))
    assert outcome.kind is Kind.SKIPPED
    assert not store.touched
    assert len(store) == 0
    assert provider.calls == 0
    assert objects.heads == []


@pytest.mark.parametrize("key", ["notes.txt", "clip.mp4.txt", "mp4", "photos/a.jpg"])
def test_a_non_video_is_rejected_with_a_reason_without_reading_it(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, key: str
) -> None:
    outcome = ingestor.handle(created(key))
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
    assert ingestor.handle(created(key)).kind is Kind.SUBMITTED
    assert provider.calls == 1


def test_a_video_over_the_size_limit_is_rejected(
    make_ingestor: MakeIngestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider
) -> None:
    objects.add(KEY)
    ingestor = make_ingestor(max_object_bytes=5000)
    assert ingestor.handle(created(KEY, size=5001)).kind is Kind.REJECTED
    assert store.only().reason is not None and "too large" in str(store.only().reason)
    assert provider.calls == 0
    assert ingestor.handle(created(KEY, size=5000, version_id="v2")).kind is Kind.SUBMITTED


def test_an_object_deleted_before_it_was_read_is_rejected(
    ingestor: Ingestor, store: InMemoryStore, provider: FakeProvider
) -> None:
    outcome = ingestor.handle(created(KEY))
    assert outcome.kind is Kind.REJECTED
    assert store.only().status == REJECTED
    assert store.only().reason == "the object no longer exists"
    assert history(store) == [SUBMITTING, REJECTED]
    assert provider.calls == 0


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
    limiter: FakeLimiter,
    metadata: dict[str, str],
    field: str,
) -> None:
    objects.add(KEY, metadata=metadata)
    outcome = ingestor.handle(created(KEY))
    assert outcome.kind is Kind.REJECTED
    assert store.only().status == REJECTED
    assert field in str(store.only().reason)
    assert provider.calls == 0
    assert limiter.reservations == []


# -- one call per object version ------------------------------------------------------------------


def test_the_same_event_twice_is_submitted_once(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider
) -> None:
    objects.add(KEY)
    assert ingestor.handle(created(KEY)).kind is Kind.SUBMITTED
    second = ingestor.handle(created(KEY))
    assert (second.kind, second.video_no) == (Kind.DUPLICATE, "VI0001")
    assert provider.calls == 1


def test_a_rejected_non_video_delivered_twice_is_recorded_once(
    ingestor: Ingestor, store: InMemoryStore
) -> None:
    ingestor.handle(created("notes.txt"))
    assert ingestor.handle(created("notes.txt")).kind is Kind.DUPLICATE
    assert len(store) == 1


def test_a_new_version_of_the_same_key_is_a_new_video(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, store: InMemoryStore
) -> None:
    objects.add(KEY)
    ingestor.handle(created(KEY, version_id="v1"))
    ingestor.handle(created(KEY, version_id="v2"))
    assert provider.calls == 2
    assert len(store) == 2


def test_an_unversioned_bucket_tells_uploads_apart_by_etag(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider
) -> None:
    """Same bytes uploaded again (same ETag) is the same video; different bytes are a new one."""
    objects.add(KEY)
    ingestor.handle(created(KEY, version_id=None, etag="aaa"))
    assert ingestor.handle(created(KEY, version_id=None, etag="aaa")).kind is Kind.DUPLICATE
    assert ingestor.handle(created(KEY, version_id=None, etag="bbb")).kind is Kind.SUBMITTED
    assert provider.calls == 2


def test_a_delivery_while_another_is_submitting_is_a_duplicate(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    """Given another delivery holding a live lease on the record, when the same object arrives, then no call."""
    objects.add(KEY)
    store.put(record(SUBMITTING, lease_until=clock.now() + 30))
    outcome = ingestor.handle(created(KEY))
    assert outcome.kind is Kind.DUPLICATE
    assert provider.calls == 0
    assert store.only().status == SUBMITTING


@pytest.mark.parametrize("lease_until", [T0 - 1, None])
def test_an_attempt_that_died_during_the_call_is_not_repeated(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    lease_until: float | None,
) -> None:
    """Given a SUBMITTING record whose lease ran out (the call may have been billed), then UNCERTAIN, no call."""
    objects.add(KEY)
    store.put(record(SUBMITTING, lease_until=lease_until))
    outcome = ingestor.handle(created(KEY))
    assert outcome.kind is Kind.UNCERTAIN
    assert store.only().status == UNCERTAIN
    assert provider.calls == 0


@pytest.mark.parametrize("status", [UNPARSE, PARSE, REJECTED, UNCERTAIN, "FAIL"])
def test_a_record_past_submission_is_never_submitted_again(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, status: str
) -> None:
    objects.add(KEY)
    store.put(record(status, video_no="VI1"))
    assert ingestor.handle(created(KEY)).kind is Kind.DUPLICATE
    assert provider.calls == 0
    assert store.only().status == status


# -- what each provider failure leads to ---------------------------------------------------------


def deliver(ingestor: Ingestor, clock: FakeClock, times: int = 1) -> list[Kind]:
    """Handle the same notification ``times`` times, as the redelivered or deferred message would be."""
    kinds = []
    for _ in range(times):
        kinds.append(ingestor.handle(created(KEY)).kind)
        clock.advance(MAX_DEFER_SECONDS)
    return kinds


def test_parameters_refused_by_the_provider_reject_the_video_for_good(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    objects.add(KEY)
    provider.answer(ProviderRejected("0003", "parameter incorrect"))
    assert deliver(ingestor, clock, times=2) == [Kind.REJECTED, Kind.DUPLICATE]
    assert provider.calls == 1
    assert store.only().status == REJECTED
    assert "0003" in str(store.only().reason)
    assert "parameter incorrect" in str(store.only().reason)


def test_code_0001_is_retried_twice_then_rejected(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    objects.add(KEY)
    provider.answer(*(ProviderTransient("0001", "parameter incorrect") for _ in range(3)))
    assert deliver(ingestor, clock, times=4) == [Kind.DEFERRED, Kind.DEFERRED, Kind.REJECTED, Kind.DUPLICATE]
    assert provider.calls == 3
    assert store.only().status == REJECTED
    assert "3 times" in str(store.only().reason)


@pytest.mark.parametrize("budget", [1, 2, 5])
def test_the_number_of_0001_answers_tolerated_is_configurable(
    make_ingestor: MakeIngestor, objects: FakeObjects, provider: FakeProvider, clock: FakeClock, budget: int
) -> None:
    objects.add(KEY)
    provider.answer(*(ProviderTransient("0001", "parameter incorrect") for _ in range(budget)))
    kinds = deliver(make_ingestor(max_transient_errors=budget), clock, times=budget)
    assert kinds == [Kind.DEFERRED] * (budget - 1) + [Kind.REJECTED]


def test_a_transient_error_then_success_is_submitted(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    objects.add(KEY)
    provider.answer(ProviderTransient("0001", "try again"))
    assert deliver(ingestor, clock, times=2) == [Kind.DEFERRED, Kind.SUBMITTED]
    assert store.only().status == UNPARSE
    assert store.only().attempts == 2


def test_rate_limiting_defers_and_holds_off_every_instance(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    limiter: FakeLimiter,
    metrics: FakeMetrics,
) -> None:
    objects.add(KEY)
    provider.answer(ProviderRateLimited("0429", "Request has exceeded the limit."))
    outcome = ingestor.handle(created(KEY))
    assert (outcome.kind, outcome.delay_seconds) == (Kind.DEFERRED, 30)
    assert limiter.hold_offs == [T0 + 30]
    assert store.only().status == RETRY_WAIT
    assert store.only().retry_at is not None
    assert store.only().transient_errors == 0  # never counts toward rejection
    assert metrics.counts["ProviderRateLimited"] == 1


def test_an_unavailable_provider_is_retried_with_growing_capped_backoff(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    objects.add(KEY)
    provider.answer(*(ProviderUnavailable("http-503", "down") for _ in range(8)))
    delays = []
    for _ in range(8):
        outcome = ingestor.handle(created(KEY))
        assert outcome.kind is Kind.DEFERRED
        delays.append(outcome.delay_seconds)
        clock.advance(outcome.delay_seconds)
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900]
    assert store.only().status == RETRY_WAIT
    assert store.only().attempts == 8


def test_a_refused_api_key_defers_for_the_longest_delay_and_rereads_the_key(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    metrics: FakeMetrics,
) -> None:
    objects.add(KEY)
    provider.answer(ProviderAuthFailure("0401", "authorization invalid"))
    outcome = ingestor.handle(created(KEY))
    assert (outcome.kind, outcome.delay_seconds) == (Kind.DEFERRED, MAX_DEFER_SECONDS)
    assert provider.credentials_forgotten == 1
    assert store.only().status == RETRY_WAIT
    assert metrics.counts["ProviderAuthFailure"] == 1


def test_an_empty_account_defers_for_the_longest_delay_and_loses_nothing(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    objects.add(KEY)
    provider.answer(*(ProviderBalanceExhausted("0402", "not enough points") for _ in range(5)))
    assert deliver(ingestor, clock, times=6) == [Kind.DEFERRED] * 5 + [Kind.SUBMITTED]
    assert store.only().status == UNPARSE


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
    objects: FakeObjects,
    provider: FakeProvider,
    clock: FakeClock,
    error: ProviderError,
) -> None:
    objects.add(KEY)
    provider.answer(error)
    assert deliver(ingestor, clock, times=3) == [Kind.UNCERTAIN, Kind.DUPLICATE, Kind.DUPLICATE]
    assert provider.calls == 1
    assert store.only().status == UNCERTAIN
    assert store.only().lease_until is None


def test_a_deferred_video_is_claimed_again_and_submitted(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    objects.add(KEY)
    provider.answer(ProviderUnavailable("http-502", "bad gateway"))
    assert deliver(ingestor, clock, times=2) == [Kind.DEFERRED, Kind.SUBMITTED]
    assert provider.calls == 2
    saved = store.only()
    assert (saved.status, saved.attempts, saved.reason, saved.retry_at) == (UNPARSE, 2, None, None)
    assert history(store) == [SUBMITTING, RETRY_WAIT, SUBMITTING, UNPARSE]


def test_an_unclassified_failure_during_the_call_is_treated_as_maybe_billed(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    """Given the provider adapter blows up mid-call, when the message is redelivered after the lease, then UNCERTAIN."""
    objects.add(KEY)
    provider.answer(ConnectionResetError("reset by peer"))
    with pytest.raises(ConnectionResetError):
        ingestor.handle(created(KEY))
    clock.advance(61)
    assert ingestor.handle(created(KEY)).kind is Kind.UNCERTAIN
    assert provider.calls == 1


# -- races with the callback ------------------------------------------------------------------------


def callback_body(video_no: str, status: str) -> bytes:
    return json.dumps({"videoNo": video_no, "status": status}).encode()


def test_a_callback_before_the_accepted_write_is_not_undone(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    callbacks: CallbackService,
) -> None:
    # Given a callback saying PARSE that lands between the claim and ingest's write of the answer
    objects.add(KEY)
    video_id = id_of(created(KEY))
    provider.answer(accepted("VI42"))
    provider.statuses["VI42"] = PARSE
    store.before_next_save(
        lambda: callbacks.handle(
            video_id, token_for(SIGNING_KEY, video_id), callback_body("VI42", "PARSE"), "application/json"
        )
    )
    # When ingest records the accepted upload
    outcome = ingestor.handle(created(KEY))
    # Then the record stays PARSE and still gains the upload's details
    assert outcome.kind is Kind.SUBMITTED
    saved = store.only()
    assert saved.status == PARSE
    assert (saved.video_no, saved.video_name, saved.upload_time) == ("VI42", "VI42.mp4", "1760000000000")
    assert saved.lease_until is None
    assert history(store) == [SUBMITTING, PARSE]


def test_a_callback_proves_acceptance_even_when_the_answer_was_lost(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    callbacks: CallbackService,
) -> None:
    """Given UNPARSE arrives by callback before the read timeout is handled, then the record stays UNPARSE."""
    objects.add(KEY)
    video_id = id_of(created(KEY))
    provider.answer(AmbiguousSubmit("read-timeout", "no answer"))
    provider.statuses["VI43"] = UNPARSE
    store.before_next_save(
        lambda: callbacks.handle(
            video_id, token_for(SIGNING_KEY, video_id), callback_body("VI43", "UNPARSE"), "application/json"
        )
    )
    ingestor.handle(created(KEY))
    assert (store.only().status, store.only().video_no) == (UNPARSE, "VI43")


def test_a_callback_before_a_deferral_keeps_the_video_accepted(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    callbacks: CallbackService,
) -> None:
    objects.add(KEY)
    video_id = id_of(created(KEY))
    provider.answer(ProviderUnavailable("http-504", "gateway timeout"))
    provider.statuses["VI44"] = UNPARSE
    store.before_next_save(
        lambda: callbacks.handle(
            video_id, token_for(SIGNING_KEY, video_id), callback_body("VI44", "UNPARSE"), "application/json"
        )
    )
    ingestor.handle(created(KEY))
    assert store.only().status == UNPARSE


# -- the account-wide rate limit ------------------------------------------------------------------


def test_a_slot_far_ahead_defers_the_message_with_its_reservation(
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    limiter: FakeLimiter,
) -> None:
    objects.add(KEY)
    limiter.next_free = T0 + 600
    outcome = ingestor.handle(created(KEY))
    assert (outcome.kind, outcome.delay_seconds, outcome.reserved_slot) == (Kind.DEFERRED, 600, T0 + 600)
    assert provider.calls == 0
    assert store.only().status == RETRY_WAIT


def test_a_slot_beyond_the_longest_queue_delay_waits_in_several_hops(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, limiter: FakeLimiter, clock: FakeClock
) -> None:
    objects.add(KEY)
    limiter.next_free = T0 + 2000
    first = ingestor.handle(created(KEY))
    assert (first.delay_seconds, first.reserved_slot) == (MAX_DEFER_SECONDS, T0 + 2000)
    clock.advance(first.delay_seconds)
    second = ingestor.handle(created(KEY), reserved_slot=first.reserved_slot)
    assert (second.kind, second.delay_seconds, second.reserved_slot) == (Kind.DEFERRED, 900, T0 + 2000)
    assert limiter.reservations == [T0 + 2000]
    assert provider.calls == 0


def test_an_intermediate_hop_leaves_the_record_alone(
    ingestor: Ingestor, objects: FakeObjects, store: InMemoryStore, limiter: FakeLimiter, clock: FakeClock
) -> None:
    """Given a message waiting hours for its slot, when it comes back early, then it hops again
    without reading or writing the record: a long backlog costs no table writes per hop and its
    history stays readable."""
    objects.add(KEY)
    limiter.next_free = T0 + 5000
    first = ingestor.handle(created(KEY))
    history, reads, writes = store.only().history, store.reads, store.writes
    clock.advance(first.delay_seconds)

    hop = ingestor.handle(created(KEY), reserved_slot=first.reserved_slot)

    assert (hop.kind, hop.reserved_slot) == (Kind.DEFERRED, T0 + 5000)
    assert (store.reads, store.writes) == (reads, writes)
    assert store.only().history == history


def test_a_message_back_with_its_reserved_slot_does_not_reserve_another(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, limiter: FakeLimiter, clock: FakeClock
) -> None:
    objects.add(KEY)
    limiter.next_free = T0 + 600
    first = ingestor.handle(created(KEY))
    clock.advance(first.delay_seconds)
    second = ingestor.handle(created(KEY), reserved_slot=first.reserved_slot)
    assert second.kind is Kind.SUBMITTED
    assert limiter.reservations == [T0 + 600]
    assert provider.calls == 1


def test_a_short_wait_for_a_slot_is_slept_inline(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, limiter: FakeLimiter, clock: FakeClock
) -> None:
    objects.add(KEY)
    limiter.next_free = T0 + 3
    assert ingestor.handle(created(KEY)).kind is Kind.SUBMITTED
    assert clock.slept == [3.0]
    assert provider.calls == 1


def test_a_slot_already_due_costs_no_wait(
    ingestor: Ingestor, objects: FakeObjects, limiter: FakeLimiter, clock: FakeClock
) -> None:
    objects.add(KEY)
    limiter.next_free = T0 - 10
    ingestor.handle(created(KEY))
    assert clock.slept == []


def test_uploads_are_spaced_by_the_account_limit(
    ingestor: Ingestor, objects: FakeObjects, provider: FakeProvider, limiter: FakeLimiter
) -> None:
    """Given one upload per minute, when three videos arrive together, then one goes now and two are deferred."""
    limiter.interval = 60.0
    kinds = []
    for i in range(3):
        objects.add(f"v{i}.mp4")
        kinds.append(ingestor.handle(created(f"v{i}.mp4")).kind)
    assert kinds == [Kind.SUBMITTED, Kind.DEFERRED, Kind.DEFERRED]
    assert provider.calls == 1


# -- failures inside the pipeline -----------------------------------------------------------------


def test_an_error_before_the_call_gives_the_record_back_for_the_retry(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider
) -> None:
    """Given reading the object fails, then the error propagates (the message is retried) and the record is
    claimable again, so the retry submits it instead of taking it for an ambiguous call."""
    objects.add(KEY)
    objects.head_error = RuntimeError("S3 throttled")
    with pytest.raises(RuntimeError, match="S3 throttled"):
        ingestor.handle(created(KEY))
    assert store.only().status == RETRY_WAIT
    assert store.only().lease_until is None
    assert provider.calls == 0
    objects.head_error = None
    assert ingestor.handle(created(KEY)).kind is Kind.SUBMITTED
    assert provider.calls == 1


def test_the_record_keeps_its_identity_across_attempts(
    ingestor: Ingestor, store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock
) -> None:
    objects.add(KEY)
    provider.answer(ProviderUnavailable("http-500", "oops"))
    deliver(ingestor, clock, times=2)
    saved = store.only()
    assert saved.video_id == id_of(created(KEY))
    assert saved.created_at == iso(T0)
    assert saved.updated_at == iso(T0 + MAX_DEFER_SECONDS)
