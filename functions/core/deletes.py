"""Deletes: an object removed from the bucket (a delete, or a delete marker) marks its record
``DELETED``, history kept, and (when ``DELETE_AT_PROVIDER`` says so) deletes the video at memories.ai.

Which record: a delete of one version names that version; a delete marker hides the key's newest
version, which S3 still has and reports (``ObjectStore.latest_version``). An unversioned bucket's
delete events name neither a version nor an ETag (S3 leaves both out of delete events), and its
records are keyed by ETag, so the ingest function notes, for each video it submits from an
unversioned key, that it is the key's newest (``StatusStore.remember_latest``: one small item per
key, written with the accepted answer, after the call, so a submission costs no write more before
it; the last submitted wins). A delete then takes that record, once S3 confirms its bytes are gone
from the key (a HEAD: nothing there, or other bytes); when the key holds that record's bytes again
(re-uploaded since), nothing changes. Still unmatched, counted (``DeletesUnmatched``) and logged,
nothing changed: a key whose video was not submitted yet (waiting in line: at its turn it is
REJECTED, "no longer exists", never billed; or its call still in flight), a key last submitted
before this release, and the rare key submitted twice out of order (the older record is marked).

What the record was doing decides the rest, and nothing is ever submitted because of a delete:
QUEUED (waiting) leaves the line and is never submitted, so never billed; SUBMITTING (its call is
in flight) and UNCERTAIN (maybe accepted) become DELETED and are never resubmitted: the videoNo the
in-flight call brings is kept on the DELETED record (and, with provider deletes on, that upload is
deleted at memories.ai by the ingest function as the answer comes). With provider deletes on, a
known videoNo is deleted at memories.ai first (idempotent: a retried message deletes again,
harmlessly); the record then says so. A re-upload is a new object version, so a new submission.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.core.clock import iso
from functions.core.errors import StaleRecord
from functions.core.ingest import Kind, Outcome
from functions.core.metrics import Metric
from functions.core.objects import DELETE_MARKER_CREATED, ObjectRef
from functions.core.ports import Clock, Metrics, ObjectStore, Provider, StatusStore
from functions.core.signing import video_id_for
from functions.core.status import BY_INGEST, DELETED, QUEUED, SUBMITTING, UNCERTAIN, VideoRecord

_WRITE_TRIES = 8


@dataclass(frozen=True, slots=True)
class DeleteConfig:
    source_bucket: str
    unique_id: str
    # Off by default: an S3 delete is often housekeeping (lifecycle expiry, a move to an archive),
    # and a provider delete cannot be undone: the video would have to be submitted, and paid, again.
    delete_at_provider: bool = False


def _why(status: str) -> str:
    if status == QUEUED:
        return "deleted from S3 while waiting in line: never submitted, not billed"
    if status == SUBMITTING:
        return "deleted from S3 during its submission: it will not be submitted again"
    if status == UNCERTAIN:
        return "deleted from S3 while UNCERTAIN (memories.ai may hold the upload): never resubmitted"
    return f"deleted from S3 (was {status})"


class Deleter:
    def __init__(
        self,
        config: DeleteConfig,
        *,
        store: StatusStore,
        objects: ObjectStore,
        provider: Provider,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._store = store
        self._objects = objects
        self._provider = provider
        self._clock = clock
        self._metrics = metrics

    def remove(self, ref: ObjectRef) -> Outcome:
        """DELETED (the record was marked), DUPLICATE (it already was), or SKIPPED (no record)."""
        if ref.bucket != self._config.source_bucket:
            return self._unmatched(f"another bucket ({ref.bucket!r})")
        version_id = self._removed_version(ref)
        video_id = self._store.latest(ref.bucket, ref.key) if version_id is None else None
        if version_id is not None:
            video_id = video_id_for(ref.bucket, ref.key, version_id)
        elif video_id is None:
            return self._unmatched(
                "the delete names no object version (unversioned bucket) and no record of the key is"
                " noted (dropped before this release, or never ingested)"
            )
        for _ in range(_WRITE_TRIES):
            record = self._store.get(video_id)
            if record is None:
                return self._unmatched("no record for that object version (never ingested)", video_id)
            if record.status == DELETED:
                return Outcome(Kind.DUPLICATE, "already deleted", video_id, record.video_no)
            if version_id is None and self._still_there(record):
                return self._unmatched("the key holds that video's bytes again (uploaded after the delete)")
            try:
                return self._delete(record)
            except StaleRecord:
                continue  # it moved meanwhile (its turn, a callback): decide again on the fresh copy
        raise StaleRecord(f"could not mark {video_id} deleted after {_WRITE_TRIES} tries")

    def _removed_version(self, ref: ObjectRef) -> str | None:
        if ref.event_name == DELETE_MARKER_CREATED:
            # The event's version id is the marker's own; the video is the version it hides.
            return self._objects.latest_version(ref.bucket, ref.key)
        # A version id, or an ETag where a sender gives one (S3's own delete events carry none).
        return ref.object_version or None

    def _still_there(self, record: VideoRecord) -> bool:
        """An unversioned key's record whose bytes S3 still has at the key (same ETag)."""
        info = self._objects.head(record.bucket, record.key, None)
        return info is not None and info.etag is not None and info.etag == record.object_version

    def _delete(self, record: VideoRecord) -> Outcome:
        note = _why(record.status)
        if self._config.delete_at_provider and record.video_no:
            # In the folder it was submitted under (a record from before folders: the default).
            self._provider.delete_videos([record.video_no], record.folder(self._config.unique_id))
            self._metrics.count(Metric.VIDEOS_DELETED_AT_PROVIDER)
            note += f"; deleted at memories.ai ({record.video_no})"
        elif self._config.delete_at_provider and record.status in (SUBMITTING, UNCERTAIN):
            note += "; no videoNo known yet, so nothing was deleted at memories.ai"
        saved = self._store.save(
            record.moved(
                DELETED, by=BY_INGEST, at=iso(self._clock.now()), note=note, reason=note, lease_until=None
            )
        )
        self._metrics.count(Metric.VIDEOS_DELETED)
        return Outcome(Kind.DELETED, note, saved.video_id, saved.video_no)

    def _unmatched(self, detail: str, video_id: str | None = None) -> Outcome:
        self._metrics.count(Metric.DELETES_UNMATCHED)
        return Outcome(Kind.SKIPPED, f"delete not applied: {detail}", video_id)
