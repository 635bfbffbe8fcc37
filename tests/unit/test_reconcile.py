"""Reconciliation: lost callbacks and ambiguous submissions still end in the right state; nothing is dropped."""

from __future__ import annotations

import json

import pytest

from functions.core.callbacks import CallbackService, Result
from functions.core.contract import ListedVideo, trace_tag
from functions.core.errors import (
    ProviderAuthFailure,
    ProviderBalanceExhausted,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from functions.core.ingest import Ingestor, Kind
from functions.core.objects import parse_notification
from functions.core.reconcile import Reconciler, object_ref, operator_resubmit
from functions.core.signing import token_for
from functions.core.status import PARSE, REJECTED, RETRY_WAIT, SUBMITTING, UNCERTAIN, UNPARSE
from tests.unit.fakes import (
    RECONCILE_AFTER,
    SIGNING_KEY,
    STUCK_AFTER,
    T0,
    FakeMetrics,
    FakeObjects,
    FakeProvider,
    FakeQueue,
    InMemoryStore,
    accepted,
    created,
    id_of,
    record,
)

LONG_AGO = T0 - 2 * RECONCILE_AFTER
RECENTLY = T0 - 10


def test_a_lost_parse_callback_is_recovered(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, metrics: FakeMetrics
) -> None:
    # Given a video indexing for longer than the grace period, which memories.ai has finished
    store.put(record(UNPARSE, video_no="VI1", updated_at=LONG_AGO))
    provider.statuses["VI1"] = "PARSE"
    # When the reconciler runs
    actions = reconciler.run()
    # Then the record is PARSE, by the reconciler
    assert store.only().status == PARSE
    assert store.only().history[-1].by == "reconcile"
    assert actions["updated"] == 1
    assert metrics.counts["VideosReconciled"] == 1


def test_a_provider_failure_status_is_adopted(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider
) -> None:
    store.put(record(UNPARSE, video_no="VI1", updated_at=LONG_AGO))
    provider.statuses["VI1"] = "PARSE_ERROR"
    reconciler.run()
    assert store.only().status == "PARSE_ERROR"


def test_a_recent_upload_is_left_to_its_callback(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider
) -> None:
    store.put(record(UNPARSE, video_no="VI1", updated_at=RECENTLY))
    reconciler.run()
    assert provider.status_queries == []
    assert store.only().status == UNPARSE


def test_a_video_still_indexing_is_not_rewritten(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider
) -> None:
    store.put(record(UNPARSE, video_no="VI1", updated_at=LONG_AGO))
    provider.statuses["VI1"] = "UNPARSE"
    assert reconciler.run()["unchanged"] == 1
    assert store.writes == 0


def test_a_video_the_provider_does_not_know_is_flagged_and_counted_not_dropped(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, metrics: FakeMetrics
) -> None:
    store.put(record(UNPARSE, video_no="VI404", updated_at=LONG_AGO))
    provider.statuses["VI404"] = None
    assert reconciler.run()["unknown-to-provider"] == 1
    flagged = store.only()
    assert flagged.status == UNPARSE
    assert flagged.reason == "memories.ai does not know videoNo VI404"
    assert metrics.counts["VideosUnknownToProvider"] == 1
    # A second pass counts it again but does not rewrite the same flag.
    writes = store.writes
    reconciler.run()
    assert store.writes == writes
    assert metrics.counts["VideosUnknownToProvider"] == 2


def test_an_ambiguous_submission_found_by_its_trace_tag_is_adopted(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, queue: FakeQueue
) -> None:
    uncertain = store.put(record(UNCERTAIN, updated_at=LONG_AGO))
    tag = trace_tag(uncertain.video_id)
    provider.tagged[tag] = [ListedVideo(video_no="VI9", status="UNPARSE")]
    reconciler.run()
    assert provider.tag_queries == [tag]
    assert (store.only().status, store.only().video_no) == (UNPARSE, "VI9")
    assert queue.sent == []


def test_an_ambiguous_submission_the_provider_never_got_is_resubmitted_once(
    reconciler: Reconciler,
    ingestor: Ingestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
    queue: FakeQueue,
    metrics: FakeMetrics,
) -> None:
    # Given an UNCERTAIN video that memories.ai does not list, past the grace period
    ref = created("clips/holiday.mp4")
    objects.add(ref.key)
    store.put(record(UNCERTAIN, ref=ref, updated_at=LONG_AGO, transient_errors=2))
    # When the reconciler runs
    assert reconciler.run()["resubmitted"] == 1
    # Then the record is claimable again with a fresh retry budget, and a message names the same object
    saved = store.only()
    assert (saved.status, saved.transient_errors) == (RETRY_WAIT, 0)
    assert metrics.counts["VideosResubmitted"] == 1
    (message,) = queue.sent
    (named,) = parse_notification(message.body)
    assert (named.bucket, named.key, named.version_id, id_of(named)) == (
        ref.bucket,
        ref.key,
        "v1",
        id_of(ref),
    )
    # And ingest submits it when the message arrives
    assert ingestor.handle(named).kind is Kind.SUBMITTED
    assert provider.calls == 1
    assert store.only().status == UNPARSE


def _listed(
    video_no: str, status: str = UNPARSE, *, at: float = LONG_AGO, tags: tuple[str, ...] = ()
) -> ListedVideo:
    return ListedVideo(video_no=video_no, status=status, create_time_ms=int(at * 1000), tags=tags)


def test_an_ambiguous_upload_still_parsing_waits_however_long_then_is_adopted_unbilled(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, queue: FakeQueue
) -> None:
    # Given an UNCERTAIN record long past the grace period, and an unclaimed video the provider
    # created at that moment and is still parsing (so the tag lookup cannot see it yet)
    uncertain = store.put(record(UNCERTAIN, updated_at=LONG_AGO))
    provider.unparsed = [_listed("VI7")]
    # When the reconciler runs, again and again, while it parses
    for _ in range(3):
        assert reconciler.run()["waiting-candidate"] == 1
    # Then nothing is resubmitted
    assert (store.only().status, queue.sent, provider.calls) == (UNCERTAIN, [], 0)
    # And once it has parsed, its tag finds it and the record adopts it
    provider.unparsed = []
    provider.tagged[trace_tag(uncertain.video_id)] = [_listed("VI7", PARSE)]
    assert reconciler.run()["updated"] == 1
    assert (store.only().status, store.only().video_no, queue.sent, provider.calls) == (PARSE, "VI7", [], 0)


def test_candidates_are_listed_by_every_unparsed_status_before_the_tag_lookup(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider
) -> None:
    """A video that finishes parsing between the two queries leaves the listing only after it can
    be found by tag: so the listing comes first."""
    uncertain = store.put(record(UNCERTAIN, updated_at=LONG_AGO))
    reconciler.run()
    kinds = [kind for kind, _ in provider.lookups]
    assert kinds == ["status"] * kinds.count("status") + ["tag"]
    assert {value for kind, value in provider.lookups if kind == "status"} >= {UNPARSE, "FAIL", "PARSE_ERROR"}
    assert provider.lookups[-1] == ("tag", trace_tag(uncertain.video_id))


def test_a_failed_candidate_keeps_the_record_waiting(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, queue: FakeQueue
) -> None:
    store.put(record(UNCERTAIN, updated_at=LONG_AGO))
    provider.unparsed = [_listed("VI7", "FAIL")]
    assert reconciler.run()["waiting-candidate"] == 1
    assert queue.sent == []


def test_a_candidate_carrying_its_trace_tag_is_adopted_before_parsing(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider
) -> None:
    uncertain = store.put(record(UNCERTAIN, updated_at=LONG_AGO))
    provider.unparsed = [_listed("VI7", tags=(trace_tag(uncertain.video_id), "api"))]
    reconciler.run()
    assert (store.only().status, store.only().video_no) == (UNPARSE, "VI7")


@pytest.mark.parametrize(
    "why",
    [
        "held by another record",
        "created long before the call",
        "created after the call",
        "tagged for another",
    ],
)
def test_a_video_that_cannot_be_this_upload_does_not_hold_it_back(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, queue: FakeQueue, why: str
) -> None:
    store.put(record(UNCERTAIN, updated_at=LONG_AGO))
    other = created("other.mp4")
    store.put(record(UNPARSE, ref=other, updated_at=T0, video_no="VI7"))
    provider.unparsed = [
        {
            "held by another record": _listed("VI7"),
            "created long before the call": _listed("VI8", at=LONG_AGO - 2 * 3600),
            "created after the call": _listed("VI8", at=LONG_AGO + 600),
            "tagged for another": _listed("VI8", tags=(trace_tag(id_of(other)), "api")),
        }[why]
    ]
    assert reconciler.run()["resubmitted"] == 1
    assert len(queue.sent) == 1


def test_an_ambiguous_upload_held_back_too_long_is_counted_for_the_alarm(
    reconciler: Reconciler,
    store: InMemoryStore,
    provider: FakeProvider,
    metrics: FakeMetrics,
    queue: FakeQueue,
) -> None:
    hours_ago = T0 - 2 * 3600
    store.put(record(UNCERTAIN, updated_at=hours_ago))
    provider.unparsed = [_listed("VI7", at=hours_ago)]
    reconciler.run()
    assert metrics.counts["VideosUncertainTooLong"] == 1
    assert (store.only().status, queue.sent) == (UNCERTAIN, [])


def test_an_unversioned_object_is_renamed_by_its_etag(store: InMemoryStore) -> None:
    ref = created("a.mp4", version_id=None, etag="abc")
    assert id_of(object_ref(record(UNCERTAIN, ref=ref))) == id_of(ref)


def test_a_recent_ambiguous_submission_waits(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, queue: FakeQueue
) -> None:
    store.put(record(UNCERTAIN, updated_at=RECENTLY))
    reconciler.run()
    assert store.only().status == UNCERTAIN
    assert queue.sent == []


def test_a_retry_whose_message_was_lost_is_requeued(
    reconciler: Reconciler, store: InMemoryStore, queue: FakeQueue
) -> None:
    ref = created("lost.mp4")
    store.put(record(RETRY_WAIT, ref=ref, updated_at=LONG_AGO, retry_at="2025-10-09T08:00:00.000Z"))
    assert reconciler.run()["requeued"] == 1
    (message,) = queue.sent
    assert message.delay_seconds == 0
    assert [id_of(r) for r in parse_notification(message.body)] == [id_of(ref)]
    assert store.only().status == RETRY_WAIT


def test_a_retry_still_within_its_wait_is_left_alone(
    reconciler: Reconciler, store: InMemoryStore, queue: FakeQueue
) -> None:
    store.put(record(RETRY_WAIT, updated_at=LONG_AGO, retry_at="2025-10-09T08:50:00.000Z"))
    reconciler.run()
    assert queue.sent == []


def test_an_attempt_that_died_long_ago_becomes_uncertain(
    reconciler: Reconciler, store: InMemoryStore, queue: FakeQueue, provider: FakeProvider
) -> None:
    store.put(record(SUBMITTING, updated_at=LONG_AGO, lease_until=LONG_AGO + 60))
    assert reconciler.run()["orphan-uncertain"] == 1
    assert store.only().status == UNCERTAIN
    assert store.only().lease_until is None
    assert provider.calls == 0
    assert queue.sent == []


def test_videos_not_final_long_after_their_drop_are_counted_as_stuck(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, metrics: FakeMetrics
) -> None:
    old = T0 - STUCK_AFTER - 60
    store.put(record(UNPARSE, ref=created("1.mp4"), video_no="VI1", created_at=old, updated_at=LONG_AGO))
    store.put(record(RETRY_WAIT, ref=created("2.mp4"), created_at=old, updated_at=RECENTLY))
    store.put(record(UNCERTAIN, ref=created("3.mp4"), created_at=old, updated_at=RECENTLY))
    store.put(
        record(UNPARSE, ref=created("4.mp4"), video_no="VI4", created_at=T0 - 3600, updated_at=RECENTLY)
    )
    store.put(record(PARSE, ref=created("5.mp4"), video_no="VI5", created_at=old, updated_at=old))
    store.put(record(REJECTED, ref=created("6.txt"), created_at=old, updated_at=old))
    provider.statuses["VI1"] = "UNPARSE"
    actions = reconciler.run()
    assert actions["stuck"] == 3
    assert metrics.counts["VideosStuck"] == 3


def test_a_provider_error_on_one_video_does_not_stop_the_others(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, metrics: FakeMetrics
) -> None:
    store.put(record(UNPARSE, ref=created("a.mp4"), video_no="VIA", updated_at=LONG_AGO - 10))
    store.put(record(UNPARSE, ref=created("b.mp4"), video_no="VIB", updated_at=LONG_AGO))
    provider.statuses["VIA"] = ProviderUnavailable("http-503", "down")
    provider.statuses["VIB"] = "PARSE"
    actions = reconciler.run()
    assert (actions["provider-error"], actions["updated"]) == (1, 1)
    checked = store.peek(id_of(created("b.mp4")))
    assert checked is not None
    assert checked.status == PARSE
    assert metrics.counts["ReconcileProviderErrors"] == 1


@pytest.mark.parametrize(
    "error",
    [
        ProviderAuthFailure("0401", "authorization invalid"),
        ProviderAuthFailure("0403", "account disabled"),
        ProviderAuthFailure("9009", "permission denied"),
        ProviderBalanceExhausted("0402", "not enough points"),
    ],
)
def test_an_unusable_account_stops_the_pass(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, error: ProviderError
) -> None:
    store.put(record(UNPARSE, ref=created("a.mp4"), video_no="VIA", updated_at=LONG_AGO - 10))
    store.put(record(UNPARSE, ref=created("b.mp4"), video_no="VIB", updated_at=LONG_AGO))
    provider.statuses["VIA"] = error
    provider.statuses["VIB"] = "PARSE"
    reconciler.run()
    assert provider.status_queries == ["VIA"]


def test_a_rate_limited_check_does_not_stop_the_pass(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider
) -> None:
    store.put(record(UNPARSE, ref=created("a.mp4"), video_no="VIA", updated_at=LONG_AGO - 10))
    store.put(record(UNPARSE, ref=created("b.mp4"), video_no="VIB", updated_at=LONG_AGO))
    provider.statuses["VIA"] = ProviderRateLimited("0429", "slow down")
    reconciler.run()
    assert provider.status_queries == ["VIA", "VIB"]


def test_an_unusable_account_stops_the_whole_pass(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider
) -> None:
    uncertain = store.put(record(UNCERTAIN, ref=created("a.mp4"), updated_at=LONG_AGO))
    store.put(record(UNPARSE, ref=created("b.mp4"), video_no="VIB", updated_at=LONG_AGO))
    provider.tagged[trace_tag(uncertain.video_id)] = ProviderAuthFailure("0401", "authorization invalid")
    reconciler.run()
    assert provider.status_queries == []


# -- the operator's resubmit --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [SUBMITTING, RETRY_WAIT, UNPARSE])
def test_an_operator_cannot_resubmit_a_video_in_progress(status: str) -> None:
    with pytest.raises(ValueError, match="in progress"):
        operator_resubmit(record(status), now=T0)


@pytest.mark.parametrize("status", [REJECTED, "FAIL", "PARSE_ERROR", UNCERTAIN])
def test_an_operator_can_resubmit_a_finished_or_uncertain_video(status: str) -> None:
    resubmitted = operator_resubmit(record(status, transient_errors=3, reason="old"), now=T0)
    assert (resubmitted.status, resubmitted.transient_errors) == (RETRY_WAIT, 0)
    assert resubmitted.history[-1].by == "operator"
    assert resubmitted.reason == "resubmitted by an operator"


def test_a_resubmitted_failed_video_tracks_its_new_upload(
    ingestor: Ingestor,
    callbacks: CallbackService,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FakeProvider,
) -> None:
    # Given a video memories.ai failed to parse (say, its presigned link expired), resubmitted by an operator
    ref = created("talk.mp4")
    objects.add(ref.key)
    failed = store.put(record("FAIL", ref=ref, video_no="VIOLD", updated_at=LONG_AGO))
    store.save(operator_resubmit(failed, now=T0))
    # When ingest submits it again and memories.ai accepts it as a new video
    provider.answer(accepted("VINEW"))
    assert ingestor.handle(object_ref(failed)).kind is Kind.SUBMITTED
    # Then the record follows the new video, and its PARSE callback is applied
    assert store.only().video_no == "VINEW"
    body = json.dumps({"videoNo": "VINEW", "status": "PARSE"}).encode()
    provider.statuses["VINEW"] = PARSE
    outcome = callbacks.handle(
        failed.video_id, token_for(SIGNING_KEY, failed.video_id), body, "application/json"
    )
    assert outcome.result is Result.APPLIED
