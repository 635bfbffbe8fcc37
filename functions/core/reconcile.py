"""Reconciliation: callbacks can be lost, so records that wait too long are checked with the provider.

- UNPARSE older than ``reconcile_after``: ask ``get_metadata``; apply what it says. A videoNo the
  provider does not know is flagged on the record (reason) and counted, never dropped.
- UNCERTAIN: the provider may hold (and have billed) the upload, and the tag lookup cannot see it
  until it has parsed. So: list the videos that are not parsed (``status`` filter, not a metadata
  filter) and keep those created around the ambiguous call that no other record holds
  (candidates); then look the trace tag up. Tagged: adopt its videoNo and status. A candidate left:
  wait. Neither, once ``reconcile_after`` has passed since the ambiguous call: the provider never
  accepted it, so it is resubmitted: back in line (QUEUED) at its old place, for the ingest function.
  UNCERTAIN longer than ``uncertain_alarm_after`` is counted (``VideosUncertainTooLong``, alarmed)
  and left for an operator.
- SUBMITTING whose lease ran out long ago: the attempt stopped during the call, which may have been
  billed; it becomes UNCERTAIN, and the rule above settles it.
- QUEUED is never touched: a video in line waits for the ingest function, which always comes back
  to the line (after each batch and every minute), so it is never an orphan.
- Every provider question names the folder the record was submitted under
  (``record.folder(default)``): get_metadata per record, and the listings per folder, once per pass
  for each folder that holds an UNCERTAIN record.
- Every run counts the videos that have not reached a final state within ``stuck_after`` (those in
  line excluded: a long line is expected at the provider's rate) and how many wait in line. A video
  counts in the status the pass left it in: one the pass finished, or put back in line, is not
  stuck; one it moved between the statuses it checks (SUBMITTING -> UNCERTAIN, UNCERTAIN ->
  UNPARSE) still is, its age counting from its drop.
- A pass lists each status it checks once (the records last written before the pass began, oldest
  first, at most ``batch_limit``): the checks take those older than ``reconcile_after`` from that
  listing, and the stuck count reads the same listing: three Queries of the status index and the
  line's count per pass, beside what the checks read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from functions.core.clock import epoch, iso
from functions.core.contract import PROVIDER_FAILURE_STATUSES, TRACE_TAG_PREFIX, ListedVideo, trace_tag
from functions.core.errors import ProviderAuthFailure, ProviderBalanceExhausted, ProviderError, StaleRecord
from functions.core.metrics import Metric
from functions.core.ports import Clock, Metrics, Provider, StatusStore
from functions.core.status import (
    BY_OPERATOR,
    BY_RECONCILE,
    QUEUED,
    RECONCILED,
    SKIPPED,
    SUBMITTING,
    UNCERTAIN,
    UNPARSE,
    VideoRecord,
    is_final,
    normalize_provider_status,
    rank,
)

# Statuses in which an accepted upload is invisible to the tag lookup (a metadata filter).
CANDIDATE_STATUSES = (UNPARSE, *PROVIDER_FAILURE_STATUSES)
# The provider's create_time and our clock may disagree by this much.
CLOCK_SKEW_SECONDS = 120
# When the history no longer shows the claim before the ambiguous call (only 20 steps are kept).
UNKNOWN_CLAIM_LOOKBACK_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    unique_id: str
    reconcile_after_seconds: int
    stuck_after_seconds: int
    batch_limit: int = 200
    # An accepted upload normally parses within minutes; UNCERTAIN for longer is alarmed.
    uncertain_alarm_after_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class AmbiguousCall:
    """When the call that left the record UNCERTAIN may have been made (epoch seconds)."""

    sent_after: float
    uncertain_since: float


def ambiguous_call(record: VideoRecord) -> AmbiguousCall:
    """From the history: the last move to UNCERTAIN, and the claim (SUBMITTING) before it."""
    steps = record.history
    last = max((i for i, step in enumerate(steps) if step.to_status == UNCERTAIN), default=None)
    if last is None:
        since = epoch(record.updated_at)
        return AmbiguousCall(since - UNKNOWN_CLAIM_LOOKBACK_SECONDS, since)
    since = epoch(steps[last].at)
    claims = [epoch(step.at) for step in steps[:last] if step.to_status == SUBMITTING]
    return AmbiguousCall(claims[-1] if claims else since - UNKNOWN_CLAIM_LOOKBACK_SECONDS, since)


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
        # Per pass: the provider's unparsed videos in each folder asked, and which record holds a videoNo.
        self._listed: dict[str, list[ListedVideo]] = {}
        self._holders: dict[str, str | None] = {}
        # Per pass: the table's listing of each status checked, and the status this pass left each
        # record it wrote in (by video_id).
        self._listings: dict[str, Sequence[VideoRecord]] = {}
        self._left_in: dict[str, str] = {}

    def run(self) -> Counter[str]:
        """One pass; returns what it did, by action."""
        self._listed = {}
        self._holders = {}
        self._listings = {}
        self._left_in = {}
        now = self._clock.now()
        cutoff = iso(now - self._config.reconcile_after_seconds)
        actions: Counter[str] = Counter()
        try:
            self._check_all(cutoff, now, actions)
        except (ProviderAuthFailure, ProviderBalanceExhausted):
            actions["account-unusable"] += 1  # no point asking about the rest; the next run tries again
        self._metrics.count(Metric.VIDEOS_UNCERTAIN_TOO_LONG, actions["uncertain-too-long"])
        stuck = self._count_stuck(now)
        self._metrics.count(Metric.VIDEOS_STUCK, stuck)
        actions["stuck"] = stuck
        waiting = self._store.line_length()
        self._metrics.count(Metric.VIDEOS_WAITING, waiting)
        actions["waiting-in-line"] = waiting
        return actions

    def _listing(self, status: str, now: float) -> Sequence[VideoRecord]:
        """The pass's one listing of ``status``: the records last written before ``now``, oldest first
        (``by_status`` reads the by-status index forward: its sort key is ``updated_at``), at most
        ``batch_limit``. Made when the checks reach the status (as its own listing used to be), or
        by the stuck count when an unusable account stopped them first."""
        if status not in self._listings:
            self._listings[status] = self._store.by_status(status, iso(now), self._config.batch_limit)
        return self._listings[status]

    def _check_all(self, cutoff: str, now: float, actions: Counter[str]) -> None:
        for status in RECONCILED:
            # Oldest first, so the records written before the cutoff are a prefix of the listing:
            # exactly those ``by_status(status, cutoff, batch_limit)`` returns, under the limit too
            # (the first min(limit, older) of the same order), as each pass checked before.
            for record in self._listing(status, now):
                if record.updated_at >= cutoff:
                    continue  # (all the rest too, by the order)
                try:
                    actions[self._check(record, now)] += 1
                except (ProviderAuthFailure, ProviderBalanceExhausted):
                    self._metrics.count(Metric.RECONCILE_PROVIDER_ERRORS)
                    raise
                except ProviderError:
                    actions["provider-error"] += 1
                    self._metrics.count(Metric.RECONCILE_PROVIDER_ERRORS)
                except StaleRecord:
                    actions["raced"] += 1  # somebody else moved it; nothing to do

    def _check(self, record: VideoRecord, now: float) -> str:
        if record.status == UNPARSE:
            return self._check_accepted(record)
        if record.status == UNCERTAIN:
            return self._check_uncertain(record)
        if record.status == SUBMITTING and (record.lease_until or 0) < now:
            note = "the attempt submitting it stopped; it may have been accepted"
            self._save(
                record.moved(
                    UNCERTAIN, by=BY_RECONCILE, at=iso(now), note=note, reason=note, lease_until=None
                )
            )
            return "orphan-uncertain"
        return "waiting"

    def _check_accepted(self, record: VideoRecord) -> str:
        assert record.video_no is not None
        status = self._provider.video_status(record.video_no, record.folder(self._config.unique_id))
        if status is None:
            note = f"memories.ai does not know videoNo {record.video_no}"
            self._metrics.count(Metric.VIDEOS_UNKNOWN_TO_PROVIDER)
            if record.reason != note:
                self._save(replace(record, reason=note))
            return "unknown-to-provider"
        return self._adopt(record, record.video_no, status)

    def _check_uncertain(self, record: VideoRecord) -> str:
        """Adopt the upload if the provider shows it; resubmit only when it cannot be there.

        Candidates (videos listed by status, which sees videos still parsing) are read before the
        tag lookup (which sees only parsed ones): a video that finishes parsing between the two
        queries leaves the first only after it has entered the second.
        """
        call = ambiguous_call(record)
        folder = record.folder(self._config.unique_id)
        candidates = [v for v in self._candidates(folder) if self._may_be(record, v, call)]
        tag = trace_tag(record.video_id)
        tagged = self._provider.find_by_tag(folder, tag)
        own = tagged or [v for v in candidates if tag in v.tags]
        if own:
            return self._adopt(record, own[0].video_no, own[0].status)
        now = self._clock.now()
        if candidates:
            if now - call.uncertain_since > self._config.uncertain_alarm_after_seconds:
                return "uncertain-too-long"  # counted and alarmed; a person decides (resubmit --force)
            return "waiting-candidate"
        if call.uncertain_since > now - self._config.reconcile_after_seconds:
            return "waiting"
        note = (
            "memories.ai holds no upload that may be it (none tagged, none unclaimed still parsing); "
            "resubmitted (back in line at its place)"
        )
        self._save(
            resubmission(
                record, at=iso(now), by=BY_RECONCILE, note=note, queued_at=record.queued_at or iso(now)
            )
        )
        self._metrics.count(Metric.VIDEOS_RESUBMITTED)
        return "resubmitted"

    def _candidates(self, folder: str) -> list[ListedVideo]:
        """The folder's videos that are not parsed (pending or failed): listed once per pass."""
        if folder not in self._listed:
            self._listed[folder] = [
                video
                for status in CANDIDATE_STATUSES
                for video in self._provider.find_by_status(folder, status)
            ]
        return self._listed[folder]

    def _may_be(self, record: VideoRecord, video: ListedVideo, call: AmbiguousCall) -> bool:
        """Created around the ambiguous call, and neither tagged for nor held by another record."""
        if video.create_time_ms is not None and not (
            call.sent_after - CLOCK_SKEW_SECONDS
            <= video.create_time_ms / 1000
            <= call.uncertain_since + CLOCK_SKEW_SECONDS
        ):
            return False
        if any(t.startswith(TRACE_TAG_PREFIX) and t != trace_tag(record.video_id) for t in video.tags):
            return False
        if video.video_no not in self._holders:
            holder = self._store.by_video_no(video.video_no)
            self._holders[video.video_no] = holder.video_id if holder is not None else None
        return self._holders[video.video_no] in (None, record.video_id)

    def _adopt(self, record: VideoRecord, video_no: str, provider_status: str) -> str:
        status = normalize_provider_status(provider_status)
        if rank(status) <= rank(record.status) and record.video_no == video_no:
            return "unchanged"
        note = f"memories.ai get_metadata/list_videos says {provider_status}"
        moved = record.moved(
            status, by=BY_RECONCILE, at=iso(self._clock.now()), note=note, video_no=video_no, lease_until=None
        )
        self._save(moved)
        self._metrics.count(Metric.VIDEOS_RECONCILED)
        return "updated"

    def _save(self, record: VideoRecord) -> None:
        self._store.save(record)
        self._left_in[record.video_id] = record.status

    def _count_stuck(self, now: float) -> int:
        """The videos not final ``stuck_after`` after their drop, from the pass's listings (at most
        ``batch_limit`` per status, as the checks), each in the status this pass left it in.

        Age counts from creation: a video bouncing between attempts for hours is stuck too, and so
        is one this pass moved between the statuses it checks (SUBMITTING -> UNCERTAIN, UNCERTAIN
        -> UNPARSE): it is no nearer its end. Not counted: those this pass finished (``is_final``)
        or put back in line (QUEUED: those in line are not stuck). A record another writer moved
        during the pass counts as it was listed (the next pass sees the move).
        """
        stuck_cutoff = now - self._config.stuck_after_seconds
        listed: dict[str, VideoRecord] = {}
        for status in RECONCILED:
            for record in self._listing(status, now):
                listed[record.video_id] = record  # one moved by another writer meanwhile counts once
        stuck = 0
        for record in listed.values():
            status = self._left_in.get(record.video_id, record.status)
            if not is_final(status) and status != QUEUED and epoch(record.created_at) < stuck_cutoff:
                stuck += 1
        return stuck


def operator_resubmit(record: VideoRecord, *, now: float) -> VideoRecord:
    """An operator asks for another try: only for records that are final, or stuck uncertain."""
    if record.status == SKIPPED:
        raise ValueError(f"{record.video_id} was skipped ({record.reason}): nothing to submit")
    if not (is_final(record.status) or record.status == UNCERTAIN):
        raise ValueError(f"{record.video_id} is {record.status}: still in progress, nothing to resubmit")
    at = iso(now)
    return resubmission(record, at=at, by=BY_OPERATOR, note="resubmitted by an operator", queued_at=at)
