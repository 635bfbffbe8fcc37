"""The reconcile pass's reads of the table: each status it checks is listed once per pass (3 Queries and
the line's count, where it used to list them twice: 6 + 1), and the records checked and counted are
the ones the two listings gave."""

from __future__ import annotations

import random

import pytest

from functions.core.clock import iso
from functions.core.contract import ListedVideo, trace_tag
from functions.core.errors import ProviderAuthFailure
from functions.core.ports import Clock, Metrics, Provider
from functions.core.reconcile import ReconcileConfig, Reconciler
from functions.core.status import PARSE, QUEUED, RECONCILED, SUBMITTING, UNCERTAIN, UNPARSE, VideoRecord
from tests.unit.fakes import (
    RECONCILE_AFTER,
    STUCK_AFTER,
    T0,
    UNIQUE_ID,
    FakeMetrics,
    FakeProvider,
    InMemoryStore,
    created,
    id_of,
    record,
)

CUTOFF = T0 - RECONCILE_AFTER
LONG_AGO = T0 - 2 * RECONCILE_AFTER
# Dropped longer ago than the stuck threshold.
DROPPED_LONG_AGO = T0 - STUCK_AFTER - 60


def _reconciler(
    store: InMemoryStore, provider: Provider, clock: Clock, metrics: Metrics, *, batch_limit: int = 200
) -> Reconciler:
    config = ReconcileConfig(
        unique_id=UNIQUE_ID,
        reconcile_after_seconds=RECONCILE_AFTER,
        stuck_after_seconds=STUCK_AFTER,
        batch_limit=batch_limit,
    )
    return Reconciler(config, store=store, provider=provider, clock=clock, metrics=metrics)


def test_an_empty_pass_lists_each_status_once_and_counts_the_line(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider
) -> None:
    actions = reconciler.run()
    assert store.listings == [(status, iso(T0), 200) for status in RECONCILED]
    assert store.reads == 4  # 3 by_status listings + 1 line_length
    assert provider.lookups == [] and provider.status_queries == []
    assert (actions["stuck"], actions["waiting-in-line"]) == (0, 0)


def _seeded(seed: int) -> list[VideoRecord]:
    """Records in each checked status on both sides of the cutoff (one exactly on it), in no order."""
    offsets = (-300, -200, -100, 0, 100, RECONCILE_AFTER - 10)
    records = []
    for status in RECONCILED:
        for i, offset in enumerate(offsets):
            at = CUTOFF + offset
            ref = created(f"{status}/{i}.mp4")
            records.append(
                record(status, ref=ref, updated_at=at, video_no=f"VI-{status}-{i}", lease_until=at)
            )
    random.Random(seed).shuffle(records)
    return records


@pytest.mark.parametrize("batch_limit", [1, 2, 3, 4, 6, 200])
def test_the_records_checked_are_the_ones_a_listing_up_to_the_cutoff_gives(
    clock: Clock, metrics: FakeMetrics, batch_limit: int
) -> None:
    records = _seeded(batch_limit)
    # What the pass checked before: a listing of each status up to the cutoff, under the same limit.
    before = InMemoryStore(records)
    expected = {s: before.by_status(s, iso(CUTOFF), batch_limit) for s in RECONCILED}
    store, provider = InMemoryStore(records), FakeProvider()
    for r in expected[UNPARSE]:
        provider.statuses[r.video_no or ""] = "UNPARSE"
    _reconciler(store, provider, clock, metrics, batch_limit=batch_limit).run()
    assert provider.status_queries == [r.video_no for r in expected[UNPARSE]]
    assert provider.tag_queries == [trace_tag(r.video_id) for r in expected[UNCERTAIN]]
    submitting = {r.video_id for r in records if r.status == SUBMITTING}
    orphaned = {r.video_id for r in store.all() if r.video_id in submitting and r.status == UNCERTAIN}
    assert orphaned == {r.video_id for r in expected[SUBMITTING]}
    assert 0 < len(expected[UNPARSE]) <= min(batch_limit, 3)
    # Each status listed once, up to the pass's start, bounded by the batch limit.
    assert store.listings == [(status, iso(T0), batch_limit) for status in RECONCILED]


def test_the_stuck_count_leaves_out_what_the_pass_finished_or_put_in_line(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider, metrics: FakeMetrics
) -> None:
    def put(name: str, status: str, **changes: object) -> VideoRecord:
        ref = created(f"{name}.mp4")
        return store.put(record(status, ref=ref, created_at=DROPPED_LONG_AGO, updated_at=LONG_AGO, **changes))

    put("parsed", UNPARSE, video_no="VI1")
    provider.statuses["VI1"] = PARSE  # finished by the pass: not stuck
    put("still-parsing", UNPARSE, video_no="VI2")
    provider.statuses["VI2"] = UNPARSE  # unchanged: stuck
    # Moved between the statuses the pass checks: still stuck (it is no nearer its end).
    put("died", SUBMITTING, lease_until=LONG_AGO)  # -> UNCERTAIN
    found = put("found-parsing", UNCERTAIN)  # -> UNPARSE
    provider.tagged[trace_tag(found.video_id)] = [ListedVideo(video_no="VI3", status=UNPARSE)]
    found_parsed = put("found-parsed", UNCERTAIN)  # -> PARSE: not stuck
    provider.tagged[trace_tag(found_parsed.video_id)] = [ListedVideo(video_no="VI4", status=PARSE)]
    put("never-got", UNCERTAIN)  # -> back in line: not stuck
    actions = reconciler.run()
    statuses = {r.key.rsplit("/", 1)[-1]: r.status for r in store.all()}
    assert statuses == {
        "parsed.mp4": PARSE,
        "still-parsing.mp4": UNPARSE,
        "died.mp4": UNCERTAIN,
        "found-parsing.mp4": UNPARSE,
        "found-parsed.mp4": PARSE,
        "never-got.mp4": QUEUED,
    }
    assert (actions["stuck"], metrics.counts["VideosStuck"]) == (3, 3)
    assert (actions["waiting-in-line"], len(store.listings)) == (1, 3)


def test_the_batch_limit_bounds_each_listing_and_the_stuck_count(
    store: InMemoryStore, provider: FakeProvider, clock: Clock, metrics: FakeMetrics
) -> None:
    for i in range(5):
        ref = created(f"{i}.mp4")
        at = LONG_AGO + i
        store.put(record(UNPARSE, ref=ref, video_no=f"VI{i}", created_at=DROPPED_LONG_AGO, updated_at=at))
        provider.statuses[f"VI{i}"] = UNPARSE
    actions = _reconciler(store, provider, clock, metrics, batch_limit=2).run()
    assert [limit for _, _, limit in store.listings] == [2, 2, 2]
    assert provider.status_queries == ["VI0", "VI1"]  # the oldest two, as before
    assert actions["stuck"] == 2  # a lower bound, at most the limit per status, as before


def test_a_pass_stopped_by_an_unusable_account_still_counts_every_status_once(
    reconciler: Reconciler, store: InMemoryStore, provider: FakeProvider
) -> None:
    uncertain = store.put(
        record(UNCERTAIN, ref=created("a.mp4"), created_at=DROPPED_LONG_AGO, updated_at=LONG_AGO)
    )
    store.put(
        record(
            UNPARSE, ref=created("b.mp4"), video_no="VIB", created_at=DROPPED_LONG_AGO, updated_at=LONG_AGO
        )
    )
    provider.tagged[trace_tag(uncertain.video_id)] = ProviderAuthFailure("0401", "authorization invalid")
    actions = reconciler.run()
    assert actions["account-unusable"] == 1 and provider.status_queries == []
    # UNPARSE was never reached by the checks: the stuck count lists it, once.
    assert [status for status, _, _ in store.listings] == list(RECONCILED)
    assert actions["stuck"] == 2
    assert id_of(created("b.mp4")) in {r.video_id for r in store.all() if r.status == UNPARSE}
