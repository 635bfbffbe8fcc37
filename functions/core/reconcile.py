"""Reconciliation: callbacks can be lost, so records that wait too long are checked with the provider.

- UNPARSE older than ``reconcile_after``: ask ``get_metadata``; apply what it says. A videoNo the
  provider does not know is flagged on the record (reason) and counted, never dropped.
- UNCERTAIN: ask ``list_videos`` for the record's trace tag. Found: adopt its videoNo and status.
  Not found once ``reconcile_after`` has passed since the ambiguous call: the provider never accepted
  it, so it is resubmitted: back in line (QUEUED) at its old place, for the ingest function.
- SUBMITTING whose lease ran out long ago: the attempt stopped during the call, which may have been
  billed; it becomes UNCERTAIN, and the rule above settles it.
- QUEUED is never touched: a video in line waits for the ingest function, which always comes back
  to the line (after each batch and every minute), so it is never an orphan.
- Every run counts the videos that have not reached a final state within ``stuck_after`` (those in
  line excluded: a long line is expected at the provider's rate) and how many wait in line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from functions.core.clock import epoch, iso
from functions.core.contract import trace_tag
from functions.core.errors import ProviderAuthFailure, ProviderBalanceExhausted, ProviderError, StaleRecord
from functions.core.ports import Clock, Metrics, Provider, StatusStore
from functions.core.status import (
    BY_OPERATOR,
    BY_RECONCILE,
    QUEUED,
    RECONCILED,
    SUBMITTING,
    UNCERTAIN,
    UNPARSE,
    VideoRecord,
    is_final,
    normalize_provider_status,
    rank,
)


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    unique_id: str
    reconcile_after_seconds: int
    stuck_after_seconds: int
    batch_limit: int = 200


def resubmission(record: VideoRecord, *, at: str, by: str, note: str, queued_at: str) -> VideoRecord:
    """The record back in line (joining it at ``queued_at``), with a fresh budget for bounded retries."""
    # The old upload's identity goes: the new one brings its own videoNo, and its callbacks must match it.
    return record.moved(
        QUEUED,
        by=by,
        at=at,
        note=note,
        reason=note,
        lease_until=None,
        transient_errors=0,
        queued_at=queued_at,
        not_before=None,
        video_no=None,
        video_name=None,
        upload_time=None,
    )


class Reconciler:
    def __init__(
        self,
        config: ReconcileConfig,
        *,
        store: StatusStore,
        provider: Provider,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._store = store
        self._provider = provider
        self._clock = clock
        self._metrics = metrics

    def run(self) -> Counter[str]:
        """One pass; returns what it did, by action."""
        now = self._clock.now()
        cutoff = iso(now - self._config.reconcile_after_seconds)
        actions: Counter[str] = Counter()
        try:
            self._check_all(cutoff, now, actions)
        except (ProviderAuthFailure, ProviderBalanceExhausted):
            actions["account-unusable"] += 1  # no point asking about the rest; the next run tries again
        stuck = self._count_stuck(now)
        self._metrics.count("VideosStuck", stuck)
        actions["stuck"] = stuck
        waiting = self._store.line_length()
        self._metrics.count("VideosWaiting", waiting)
        actions["waiting-in-line"] = waiting
        return actions

    def _check_all(self, cutoff: str, now: float, actions: Counter[str]) -> None:
        for status in RECONCILED:
            for record in self._store.by_status(status, cutoff, self._config.batch_limit):
                try:
                    actions[self._check(record, now)] += 1
                except (ProviderAuthFailure, ProviderBalanceExhausted):
                    self._metrics.count("ReconcileProviderErrors")
                    raise
                except ProviderError:
                    actions["provider-error"] += 1
                    self._metrics.count("ReconcileProviderErrors")
                except StaleRecord:
                    actions["raced"] += 1  # somebody else moved it; nothing to do

    def _check(self, record: VideoRecord, now: float) -> str:
        if record.status == UNPARSE:
            return self._check_accepted(record)
        if record.status == UNCERTAIN:
            return self._check_uncertain(record)
        if record.status == SUBMITTING and (record.lease_until or 0) < now:
            note = "the attempt submitting it stopped; it may have been accepted"
            self._store.save(
                record.moved(
                    UNCERTAIN, by=BY_RECONCILE, at=iso(now), note=note, reason=note, lease_until=None
                )
            )
            return "orphan-uncertain"
        return "waiting"

    def _check_accepted(self, record: VideoRecord) -> str:
        assert record.video_no is not None
        status = self._provider.video_status(record.video_no, self._config.unique_id)
        if status is None:
            note = f"memories.ai does not know videoNo {record.video_no}"
            self._metrics.count("VideosUnknownToProvider")
            if record.reason != note:
                self._store.save(replace(record, reason=note))
            return "unknown-to-provider"
        return self._adopt(record, record.video_no, status)

    def _check_uncertain(self, record: VideoRecord) -> str:
        found = self._provider.find_by_tag(self._config.unique_id, trace_tag(record.video_id))
        if found:
            return self._adopt(record, found[0].video_no, found[0].status)
        now = self._clock.now()
        if epoch(record.updated_at) > now - self._config.reconcile_after_seconds:
            return "waiting"
        note = "memories.ai holds no upload for it; resubmitted (back in line at its place)"
        self._store.save(
            resubmission(
                record, at=iso(now), by=BY_RECONCILE, note=note, queued_at=record.queued_at or iso(now)
            )
        )
        self._metrics.count("VideosResubmitted")
        return "resubmitted"

    def _adopt(self, record: VideoRecord, video_no: str, provider_status: str) -> str:
        status = normalize_provider_status(provider_status)
        if rank(status) <= rank(record.status) and record.video_no == video_no:
            return "unchanged"
        note = f"memories.ai get_metadata/list_videos says {provider_status}"
        moved = record.moved(
            status, by=BY_RECONCILE, at=iso(self._clock.now()), note=note, video_no=video_no, lease_until=None
        )
        self._store.save(moved)
        self._metrics.count("VideosReconciled")
        return "updated"

    def _count_stuck(self, now: float) -> int:
        stuck_cutoff = now - self._config.stuck_after_seconds
        stuck = 0
        for status in RECONCILED:
            # Age counts from creation: a video bouncing between attempts for hours is stuck too.
            for record in self._store.by_status(status, iso(now), self._config.batch_limit):
                if not is_final(record.status) and epoch(record.created_at) < stuck_cutoff:
                    stuck += 1
        return stuck


def operator_resubmit(record: VideoRecord, *, now: float) -> VideoRecord:
    """An operator asks for another try: only for records that are final, or stuck uncertain."""
    if not (is_final(record.status) or record.status == UNCERTAIN):
        raise ValueError(f"{record.video_id} is {record.status}: still in progress, nothing to resubmit")
    at = iso(now)
    return resubmission(record, at=at, by=BY_OPERATOR, note="resubmitted by an operator", queued_at=at)
