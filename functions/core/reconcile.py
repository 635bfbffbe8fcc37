"""Reconciliation: callbacks can be lost, so records that wait too long are checked with the provider.

- UNPARSE older than ``reconcile_after``: ask ``get_metadata``; apply what it says. A videoNo the
  provider does not know is flagged on the record (reason) and counted, never dropped.
- UNCERTAIN: ask ``list_videos`` for the record's trace tag. Found: adopt its videoNo and status.
  Not found once ``reconcile_after`` has passed since the ambiguous call: the provider never accepted
  it, so it is resubmitted (a message back on the queue; the claim makes that safe).
- SUBMITTING whose lease ran out long ago, or RETRY_WAIT long past its retry time: the message that
  carried it may be gone (dead-lettered, expired); put one back. Duplicates cost nothing.
- Every run counts the videos that have not reached a final state within ``stuck_after``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from functions.core.clock import epoch, iso
from functions.core.contract import trace_tag
from functions.core.errors import ProviderAuthFailure, ProviderBalanceExhausted, ProviderError, StaleRecord
from functions.core.objects import ObjectRef, notification_body
from functions.core.ports import Clock, Metrics, Provider, Queue, StatusStore
from functions.core.status import (
    BY_OPERATOR,
    BY_RECONCILE,
    NON_FINAL,
    RETRY_WAIT,
    SUBMITTING,
    UNCERTAIN,
    UNPARSE,
    VideoRecord,
    is_final,
    normalize_provider_status,
    rank,
)

RESUBMIT_EVENT = "ObjectCreated:Resubmit"


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    unique_id: str
    reconcile_after_seconds: int
    stuck_after_seconds: int
    batch_limit: int = 200


def object_ref(record: VideoRecord) -> ObjectRef:
    """The object a record stands for, as a notification would name it."""
    return ObjectRef(
        bucket=record.bucket,
        key=record.key,
        size=record.size,
        version_id=record.version_id,
        etag=None if record.version_id else record.object_version,
        event_name=RESUBMIT_EVENT,
    )


def resubmission(record: VideoRecord, *, at: str, by: str, note: str) -> VideoRecord:
    """The record made claimable again, with a fresh budget for bounded retries."""
    # The old upload's identity goes: the new one brings its own videoNo, and its callbacks must match it.
    return record.moved(
        RETRY_WAIT,
        by=by,
        at=at,
        note=note,
        reason=note,
        lease_until=None,
        transient_errors=0,
        retry_at=at,
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
        queue: Queue,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._store = store
        self._provider = provider
        self._queue = queue
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
        return actions

    def _check_all(self, cutoff: str, now: float, actions: Counter[str]) -> None:
        for status in NON_FINAL:
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
        if record.status == RETRY_WAIT and (
            record.retry_at is None or epoch(record.retry_at) < now - self._config.reconcile_after_seconds
        ):
            self._queue.send(notification_body(object_ref(record)), 0, {})
            return "requeued"
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
        note = "memories.ai holds no upload for it; resubmitted"
        self._store.save(resubmission(record, at=iso(now), by=BY_RECONCILE, note=note))
        self._queue.send(notification_body(object_ref(record)), 0, {})
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
        for status in NON_FINAL:
            # Age counts from creation: a video bouncing in RETRY_WAIT for hours is stuck too.
            for record in self._store.by_status(status, iso(now), self._config.batch_limit):
                if not is_final(record.status) and epoch(record.created_at) < stuck_cutoff:
                    stuck += 1
        return stuck


def operator_resubmit(record: VideoRecord, *, now: float) -> VideoRecord:
    """An operator asks for another try: only for records that are final, or stuck uncertain."""
    if not (is_final(record.status) or record.status == UNCERTAIN):
        raise ValueError(f"{record.video_id} is {record.status}: still in progress, nothing to resubmit")
    return resubmission(record, at=iso(now), by=BY_OPERATOR, note="resubmitted by an operator")
