"""Ingest: one created object becomes at most one metered ``upload_url`` call and a record that says
what happened to it.

Two steps, both in the ingest function. ``enqueue`` (an S3 notification arrives): the object's
record is created QUEUED with a conditional write, so a second delivery finds it and changes
nothing; the record is the video's place in line, so the message can go. ``drain`` (after each
batch, and on a schedule): the videos that are due are submitted oldest first, each at an upload
slot reserved from the account-wide gate within the caller's time budget. Taking a turn is a
conditional write (QUEUED becomes SUBMITTING with a lease), so one video is never submitted twice;
an attempt that dies during the call leaves SUBMITTING with an expired lease, which the reconciler
makes UNCERTAIN (maybe billed) instead of calling again. Powertools' Idempotency utility would retry
that case and could pay twice, and would add a second table with a second truth.

A refusal the provider may lift (0429, 5xx, a bad key, no credit) puts the video back in line at
its place and holds the gate, so the whole line waits, not each video on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from functions.core.clock import epoch, iso
from functions.core.content import SNIFF_BYTES
from functions.core.content import refusal as content_refusal
from functions.core.contract import (
    Accepted,
    OptionalFields,
    UploadRequest,
    trace_tag,
    validate_optional_fields,
)
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
    StaleRecord,
)
from functions.core.folders import Folders, pinned
from functions.core.hls import (
    Playlists,
    Refusal,
    is_playlist,
    is_segment_key,
    segment_skip_reason,
    settled_at,
)
from functions.core.metrics import Metric
from functions.core.objects import ObjectRef, is_video_key
from functions.core.ports import Clock, Metrics, ObjectInfo, ObjectStore, Provider, StatusStore, UploadGate
from functions.core.sidecar import SIDECAR_MAX_BYTES, Sidecar, read_sidecar, sidecar_key, sidecar_of
from functions.core.signing import callback_url, video_id_for
from functions.core.status import (
    BY_INGEST,
    DELETED,
    FIRST_REVISION,
    QUEUED,
    REJECTED,
    SKIPPED,
    SKIPPED_TTL_SECONDS,
    SUBMITTING,
    UNCERTAIN,
    UNPARSE,
    Transition,
    VideoRecord,
    rank,
)

_WRITE_TRIES = 8
# How far down the line a drainer looks for a video that is due (past ones backing off on their own).
_LINE_PEEK = 25


class Kind(StrEnum):
    SKIPPED = "skipped"
    REJECTED = "rejected"
    QUEUED = "queued"
    SUBMITTED = "submitted"
    DUPLICATE = "duplicate"
    REQUEUED = "requeued"
    UNCERTAIN = "uncertain"
    # An object removed from the bucket (functions.core.deletes).
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Kind
    detail: str
    video_id: str | None = None
    video_no: str | None = None


@dataclass(frozen=True, slots=True)
class IngestConfig:
    # The one bucket this pipeline submits from: a notification naming another is refused.
    source_bucket: str
    unique_id: str
    callback_base_url: str
    presigned_url_ttl_seconds: int
    video_suffixes: tuple[str, ...]
    max_object_bytes: int
    defaults: OptionalFields
    # Longer than one submission can take (object check, presign, connect + read timeouts); a drainer
    # stops taking turns this long before its deadline.
    lease_seconds: float
    # After a batch of notifications, the longest wait for a slot: a drop below the rate goes at once.
    max_inline_wait_seconds: float = 5.0
    retry_base_seconds: float = 30.0
    # Bad key or no credit: the whole line waits this long before the next try.
    retry_max_seconds: float = 900.0
    max_transient_errors: int = 3
    # DELETE_AT_PROVIDER: a video deleted from S3 while its call was in flight is deleted there too.
    delete_at_provider: bool = False
    # READ_SIDECARS: look for <key>.json beside each video at its turn (one more S3 request each).
    read_sidecars: bool = False
    # PROVIDER_FOLDERS: key prefix -> unique_id, longest first (functions.core.folders).
    provider_folders: tuple[tuple[str, str], ...] = ()

    @property
    def folders(self) -> Folders:
        return Folders(self.unique_id, self.provider_folders)

    # HLS_SETTLE_SECONDS: an .m3u8 waits this long after its upload before its turn, so that the
    # rest of its set (segments, variants, the master) is in the bucket when it is read.
    playlist_settle_seconds: float = 0.0
    # The provider's limit as spacing (60 / UPLOADS_PER_MINUTE): two calls this instance makes are
    # never closer, even when the first left its slot late (a slow ranged GET) and the next leaves on
    # time. Across instances the slots' margin covers that lateness.
    min_call_spacing_seconds: float = 0.0


def unreadable_reason(exc: ObjectUnreadable) -> str:
    """What to fix when S3 refuses the object: the operator resubmits it afterwards."""
    if exc.kms:
        fix = (
            "the object is SSE-KMS encrypted with a key the ingest role may not use: add the key's ARN"
            " to the sourceBucketKmsKeyArns context setting and deploy (and, for a key in another"
            " account, let the ingest role use it in the key policy)"
        )
    else:
        fix = (
            "the ingest role may not read it: check the bucket policy (and any SCP or access point"
            " policy) allows s3:GetObject and s3:GetObjectVersion to the ingest role"
        )
    return (
        f"S3 refused to read the object ({exc.code}: {exc.detail}); {fix}; then memories-ingest resubmit it"
    )


def fields_from_metadata(metadata: Mapping[str, str]) -> OptionalFields:
    """The optional fields given as ``x-amz-meta-<field>`` (hyphens or underscores, any case)."""
    normalized = {k.lower().replace("-", "_"): v for k, v in metadata.items()}
    names = (
        "datetime_taken",
        "camera_model",
        "latitude",
        "longitude",
        "tags",
        "retain_original_video",
        "video_transcription_prompt",
    )
    return OptionalFields.from_strings(**{name: normalized.get(name) for name in names})


class Ingestor:
    def __init__(
        self,
        config: IngestConfig,
        *,
        store: StatusStore,
        objects: ObjectStore,
        provider: Provider,
        gate: UploadGate,
        signing_key: Callable[[], bytes],
        clock: Clock,
        metrics: Metrics,
        playlists: Playlists | None = None,
        ready: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        # Before each slot is reserved: what a call needs is made now (clients, secrets read), so
        # that a cold instance's first call leaves at its slot rather than after a client's making.
        self._ready = ready or (lambda: None)
        # HLS playlists with relative URIs are submitted as derived ones (functions.core.hls).
        self._playlists = playlists
        self._store = store
        self._objects = objects
        self._provider = provider
        self._gate = gate
        self._signing_key = signing_key
        self._clock = clock
        self._metrics = metrics
        self._last_call_at: float | None = None
        # The QUEUED records this instance created since its last drain, as stored: a drop taken in
        # the same invocation is claimed without a read (the claim's conditional write checks it).
        self._created: dict[str, VideoRecord] = {}

    @property
    def inline_wait_seconds(self) -> float:
        return self._config.max_inline_wait_seconds

    def enqueue(self, ref: ObjectRef) -> Outcome:
        """A created object joins the line (or is refused, or was already recorded)."""
        video_id = video_id_for(ref.bucket, ref.key, ref.object_version)
        if ref.is_folder_marker or ref.size == 0:
            return self._skip(ref, video_id, "folder marker" if ref.is_folder_marker else "empty object")
        if ref.bucket != self._config.source_bucket:
            # Only a sender to the private queue could name another bucket: an expiring entry only.
            why = f"another bucket ({ref.bucket!r}), not {self._config.source_bucket!r}"
            return self._skip(ref, video_id, why)
        video_key = sidecar_of(ref.key, self._config.video_suffixes) if self._config.read_sidecars else None
        if video_key is not None:
            return self._skip(ref, video_id, f"sidecar metadata of {video_key}")
        if is_segment_key(ref.key):
            return self._skip(ref, video_id, segment_skip_reason(ref.key))
        refusal = self._refusal(ref.key, ref.size)
        if refusal is not None:
            if not self._store.create(self._new_record(ref, video_id, REJECTED, refusal)):
                return self._duplicate(ref, video_id)
            self._metrics.count(Metric.VIDEOS_REJECTED)
            return Outcome(Kind.REJECTED, refusal, video_id)
        fresh = self._new_record(ref, video_id, QUEUED, "waiting in line for an upload slot")
        # First created, first submitted: S3's own time orders the line, whichever message came first.
        queued_at, folder = ref.event_time or fresh.created_at, self._config.folders.for_key(ref.key)
        settled = settled_at(ref.key, epoch(queued_at), self._config.playlist_settle_seconds)
        fresh = replace(fresh, queued_at=queued_at, unique_id=folder, not_before=settled)
        if not self._store.create(fresh):
            return self._duplicate(ref, video_id)
        self._created[video_id] = replace(fresh, revision=FIRST_REVISION)
        return Outcome(Kind.QUEUED, "waiting in line for an upload slot", video_id)

    def drain(self, *, deadline: float, max_wait_seconds: float) -> list[Outcome]:
        """Submit the videos that are due, first in line first, one per upload slot, as long as a
        slot starts within ``max_wait_seconds`` and the submission can end before ``deadline``."""
        try:
            return self._drain(deadline, max_wait_seconds)
        finally:
            self._created.clear()  # what is left was not its turn: read again when it is

    def _drain(self, deadline: float, max_wait_seconds: float) -> list[Outcome]:
        outcomes: list[Outcome] = []
        while True:
            now = self._clock.now()
            latest = min(now + max_wait_seconds, deadline - self._config.lease_seconds)
            due: list[str] | None = self._due(now) if latest >= now else []
            if not due:
                return outcomes
            self._ready()
            now = self._clock.now()
            slot = self._gate.reserve(now, latest)
            if slot is None:
                return outcomes  # the next slot is someone else's, or the line is paused
            if slot > now:
                self._clock.sleep(slot - now)
                due = None  # the line may have moved while it waited: read it again
            turn = self._take_turn(self._clock.now(), due)
            if turn is None:
                return outcomes  # another drainer took the last due video meanwhile
            outcomes.append(self._submit_turn(turn))

    # -- steps -------------------------------------------------------------------------------------

    def _refusal(self, key: str, size: int) -> str | None:
        return self._key_refusal(key) or self._size_refusal(size)

    def _key_refusal(self, key: str) -> str | None:
        if not is_video_key(key, self._config.video_suffixes):
            suffixes = " ".join(self._config.video_suffixes)
            return f"not a video: the key does not end with one of {suffixes}"
        return None

    def _size_refusal(self, size: int) -> str | None:
        if size == 0:
            return "empty object (S3 reports 0 bytes)"
        if size > self._config.max_object_bytes:
            return f"too large: {size} bytes, the limit is {self._config.max_object_bytes}"
        return None

    def _due(self, now: float) -> list[str]:
        return [
            entry.video_id
            for entry in self._store.line(_LINE_PEEK)
            if entry.not_before is None or entry.not_before <= now
        ]

    def _take_turn(self, now: float, due: Sequence[str] | None = None) -> VideoRecord | None:
        """Claim the first due video in line (a conditional write); None when there is none left.
        ``due``: the line as just read, when nothing waited since (one Query less per submission)."""
        for video_id in self._due(now) if due is None else due:
            claimed = self._claim(video_id, now)
            if claimed is not None:
                return claimed
        # Every one read was taken meanwhile: the line as it is now may hold another.
        return None if due is None else self._take_turn(now)

    def _claim(self, video_id: str, now: float) -> VideoRecord | None:
        """The video moved to SUBMITTING, if it is still QUEUED and due; else None. One this instance
        has just created is claimed as it was stored; if it changed since, the stored one decides."""
        created = self._created.pop(video_id, None)
        if created is not None:
            try:
                return self._claimed(created, now)
            except StaleRecord:
                pass  # changed since it was created here: read it
        try:
            # The line's index may lag: decide on the record itself.
            return self._claimed(self._store.get(video_id), now)
        except StaleRecord:
            return None  # another drainer took it

    def _claimed(self, current: VideoRecord | None, now: float) -> VideoRecord | None:
        if current is None or current.status != QUEUED:
            return None
        if current.not_before is not None and current.not_before > now:
            return None
        return self._store.save(
            current.moved(
                SUBMITTING,
                by=BY_INGEST,
                at=iso(now),
                note="its turn",
                attempts=current.attempts + 1,
                lease_until=now + self._config.lease_seconds,
                reason=None,
                not_before=None,
            )
        )

    def _submit_turn(self, record: VideoRecord) -> Outcome:
        try:
            prepared = self._prepare(record)
        except Exception:
            # Nothing was sent: back to its place in line for the next turn.
            self._requeue(record, "internal error before the call; back in line")
            raise
        if isinstance(prepared, Outcome):
            return prepared
        pinned_record = pinned(self._store, record, prepared.unique_id)
        if pinned_record is None:
            return Outcome(Kind.DELETED, "deleted from S3 before its call: not submitted", record.video_id)
        self._keep_call_spacing()
        return self._submit(pinned_record, prepared)

    def _keep_call_spacing(self) -> None:
        """Wait, if need be, until the limit's spacing has passed since this instance's last call."""
        now = self._clock.now()
        if self._last_call_at is not None:
            earliest = self._last_call_at + self._config.min_call_spacing_seconds
            if now < earliest:
                self._clock.sleep(earliest - now)
                now = self._clock.now()
        self._last_call_at = now

    def _prepare(self, record: VideoRecord) -> UploadRequest | Outcome:
        # Checked again now, on what S3 itself reports: it may have waited days, an operator may have
        # resubmitted it, and a notification's size is only a claim. One ranged GET gives the size,
        # the metadata, the ETag and the first bytes.
        refusal = self._key_refusal(record.key)
        if refusal is not None:
            return self._finish_rejected(record, refusal)
        try:
            info = self._objects.peek(record.bucket, record.key, record.version_id, SNIFF_BYTES)
        except ObjectUnreadable as exc:
            # Not a retry: nothing changes until someone changes a key, a role or a policy.
            return self._finish_rejected(record, unreadable_reason(exc))
        if info is None:
            return self._finish_rejected(record, "the object no longer exists (deleted while in line)")
        if record.version_id is None and info.etag is not None and info.etag != record.object_version:
            # Unversioned bucket: the key now holds other bytes, which came with their own notification.
            return self._finish_rejected(
                record, "the object was replaced while in line; the new one is its own video"
            )
        refusal = self._size_refusal(info.size)
        if refusal is not None:
            return self._finish_rejected(record, refusal)
        # Every upload_url call is billed, and the provider refuses what it cannot parse only after.
        not_a_video = content_refusal(info.head)
        if not_a_video is not None:
            return self._finish_rejected(record, not_a_video)
        try:
            sidecar = self._sidecar(record)
        except ObjectUnreadable as exc:
            return self._finish_rejected(record, unreadable_reason(exc))
        except ValueError as exc:
            return self._finish_rejected(record, f"invalid sidecar {sidecar_key(record.key)}: {exc}")
        # The object's own metadata, then its sidecar, then the deployment's defaults.
        options = self._config.defaults.overlay(sidecar.fields).overlay(fields_from_metadata(info.metadata))
        folder = self._config.folders.choose(record.key, info.metadata, sidecar.unique_id)
        problems = [*validate_optional_fields(options), *folder.problems]
        if problems:
            reason = "invalid metadata: " + "; ".join(f"{name} {why}" for name, why in problems)
            return self._finish_rejected(record, reason)
        url = self._source_url(record, info)
        if isinstance(url, Refusal):
            if url.skip:
                return self._finish_skipped(record, url.reason)
            return self._finish_rejected(record, url.reason)
        return UploadRequest(
            url=url,
            callback=callback_url(
                self._config.callback_base_url,
                self._signing_key(),
                record.video_id,
                issued_at=self._clock.now(),
                **self._config.folders.callback_hint(folder.unique_id),
            ),
            unique_id=folder.unique_id,
            options=options,
            extra_tags=(trace_tag(record.video_id),),
        )

    def _source_url(self, record: VideoRecord, info: ObjectInfo) -> str | Refusal:
        """The URL memories.ai fetches: the object's, or for an HLS playlist with relative URIs
        the derived playlist's."""
        if self._playlists is not None and is_playlist(info.head):
            return self._playlists.url_for(
                record.bucket, record.key, record.version_id, info, record.video_id
            )
        return self._objects.presign_get(
            record.bucket, record.key, record.version_id, self._config.presigned_url_ttl_seconds
        )

    def _sidecar(self, record: VideoRecord) -> Sidecar:
        """What ``<key>.json`` beside the video gives (its newest version), if there is one."""
        if not self._config.read_sidecars:
            return Sidecar()
        info = self._objects.peek(record.bucket, sidecar_key(record.key), None, SIDECAR_MAX_BYTES)
        return Sidecar() if info is None else read_sidecar(info.head, info.size)

    def _submit(self, record: VideoRecord, request: UploadRequest) -> Outcome:
        try:
            accepted = self._provider.upload_url(request)
        except ProviderError as exc:
            return _refusal_action(exc)(self, record, exc)
        return self._accepted(record, accepted)

    # -- what each refusal means (``_REFUSAL_ACTIONS`` maps the error classes to these) -------------

    def _refused(self, record: VideoRecord, exc: ProviderError) -> Outcome:
        return self._finish_rejected(record, f"memories.ai refused it ({exc.code}): {exc.detail}")

    def _transient(self, record: VideoRecord, exc: ProviderError) -> Outcome:
        errors = record.transient_errors + 1
        if errors >= self._config.max_transient_errors:
            return self._finish_rejected(
                record, f"memories.ai refused it {errors} times ({exc.code}): {exc.detail}"
            )
        # This request's own problem: this video waits, the line goes on.
        return self._requeue(
            record,
            f"memories.ai {exc.code}: {exc.detail}",
            not_before=self._clock.now() + self._backoff(errors),
            transient_errors=errors,
        )

    def _rate_limited(self, record: VideoRecord, exc: ProviderError) -> Outcome:
        self._metrics.count(Metric.PROVIDER_RATE_LIMITED)
        return self._hold(record, self._backoff(record.attempts), f"memories.ai rate limit ({exc.code})")

    def _auth_failure(self, record: VideoRecord, exc: ProviderError) -> Outcome:
        self._metrics.count(Metric.PROVIDER_AUTH_FAILURE)
        self._provider.forget_credentials()
        reason = f"memories.ai refused the API key ({exc.code}): {exc.detail}"
        return self._hold(record, self._config.retry_max_seconds, reason)

    def _out_of_credit(self, record: VideoRecord, exc: ProviderError) -> Outcome:
        self._metrics.count(Metric.PROVIDER_BALANCE_EXHAUSTED)
        reason = f"memories.ai account out of credit ({exc.code})"
        return self._hold(record, self._config.retry_max_seconds, reason)

    def _unavailable(self, record: VideoRecord, exc: ProviderError) -> Outcome:
        self._metrics.count(Metric.PROVIDER_UNAVAILABLE)
        return self._hold(record, self._backoff(record.attempts), f"memories.ai unavailable ({exc.code})")

    def _uncertain(self, record: VideoRecord, exc: ProviderError) -> Outcome:
        self._metrics.count(Metric.SUBMIT_UNCERTAIN)
        note = f"{exc.detail} ({exc.code}); waiting for the callback or the reconciler"
        self._write(
            record, lambda r: self._moved(r, UNCERTAIN, note) if rank(r.status) < rank(UNCERTAIN) else None
        )
        return Outcome(Kind.UNCERTAIN, note, record.video_id)

    def _unclassified(self, record: VideoRecord, exc: ProviderError) -> Outcome:
        # Every code maps to a subclass with its own action; a new one waits like an outage would.
        return self._hold(record, self._backoff(record.attempts), f"memories.ai {exc.code}: {exc.detail}")

    # -- record writes -----------------------------------------------------------------------------

    def _accepted(self, record: VideoRecord, accepted: Accepted) -> Outcome:
        deleted_meanwhile = False

        def apply(current: VideoRecord) -> VideoRecord:
            nonlocal deleted_meanwhile
            deleted_meanwhile = current.status == DELETED
            changes = {
                "video_no": current.video_no or accepted.video_no,
                "video_name": accepted.video_name,
                "upload_time": accepted.upload_time,
                "lease_until": None,
                "reason": None,
            }
            if rank(current.status) < rank(UNPARSE):
                return current.moved(UNPARSE, by=BY_INGEST, at=iso(self._clock.now()), **changes)
            # The callback got here first and already moved it on: keep its status.
            return replace(current, **changes)  # type: ignore[arg-type]

        self._write(record, apply)
        if record.version_id is None:
            # Unversioned: its delete events name no ETag; they find the submitted video through this.
            self._store.remember_latest(record.bucket, record.key, record.video_id)
        self._metrics.count(Metric.VIDEOS_SUBMITTED)
        if deleted_meanwhile and self._config.delete_at_provider:
            return self._delete_late(record, accepted.video_no)
        return Outcome(Kind.SUBMITTED, "accepted by memories.ai", record.video_id, accepted.video_no)

    def _delete_late(self, record: VideoRecord, video_no: str) -> Outcome:
        """The object was deleted from S3 during the call: the upload it made goes too."""
        try:
            self._provider.delete_videos([video_no], record.folder(self._config.unique_id))
        except ProviderError as exc:
            detail = f"accepted, but deleted from S3 meanwhile; deleting it at memories.ai failed ({exc})"
            return Outcome(Kind.DELETED, detail, record.video_id, video_no)
        self._metrics.count(Metric.VIDEOS_DELETED_AT_PROVIDER)
        detail = "accepted, but deleted from S3 meanwhile: deleted at memories.ai"
        return Outcome(Kind.DELETED, detail, record.video_id, video_no)

    def _finish_rejected(self, record: VideoRecord, reason: str) -> Outcome:
        self._write(
            record, lambda r: self._moved(r, REJECTED, reason) if rank(r.status) < rank(UNPARSE) else None
        )
        self._metrics.count(Metric.VIDEOS_REJECTED)
        return Outcome(Kind.REJECTED, reason, record.video_id)

    def _finish_skipped(self, record: VideoRecord, why: str) -> Outcome:
        """Not a video of its own after all (an HLS variant submitted with its master)."""
        expires = int(self._clock.now()) + SKIPPED_TTL_SECONDS
        self._write(
            record,
            lambda r: (
                self._moved(r, SKIPPED, f"skipped: {why}", expires_at=expires)
                if rank(r.status) < rank(UNPARSE)
                else None
            ),
        )
        self._metrics.count(Metric.OBJECTS_SKIPPED)
        return Outcome(Kind.SKIPPED, why, record.video_id)

    def _hold(self, record: VideoRecord, seconds: float, reason: str) -> Outcome:
        """The account cannot take uploads now: the whole line waits, this video keeps its place."""
        self._gate.hold_off(self._clock.now() + seconds, reason)
        return self._requeue(record, f"{reason}; back in line, the line waits {seconds:g} s")

    def _requeue(self, record: VideoRecord, reason: str, **changes: object) -> Outcome:
        def apply(current: VideoRecord) -> VideoRecord | None:
            if current.status != SUBMITTING:
                return None  # a callback proved it arrived after all
            return self._moved(current, QUEUED, reason, **changes)

        self._write(record, apply)
        self._metrics.count(Metric.SUBMIT_DEFERRED)
        return Outcome(Kind.REQUEUED, reason, record.video_id)

    def _duplicate(self, ref: ObjectRef, video_id: str) -> Outcome:
        """Delivered again (S3/SQS at least once, or identical bytes re-uploaded to an unversioned
        key): the first time, an expiring SKIPPED entry says so where operators look."""
        self._metrics.count(Metric.DUPLICATE_DELIVERIES)
        existing = self._store.get(video_id)
        state = f", now {existing.status}" if existing is not None else ""
        why = (
            f"same bytes as video {video_id}{state}: delivered again (a duplicate notification or a "
            "re-upload of identical bytes); not submitted again"
        )
        self._store.create(self._skip_record(ref, video_id_for(video_id, ref.key, "again"), why))
        return Outcome(Kind.DUPLICATE, why, video_id)

    def _skip(self, ref: ObjectRef, video_id: str, why: str) -> Outcome:
        """Not a video to submit: one expiring SKIPPED entry per object version (a second delivery
        finds it and writes nothing), so a flood costs one conditional write per object."""
        self._metrics.count(Metric.OBJECTS_SKIPPED)
        self._store.create(self._skip_record(ref, video_id, why))
        return Outcome(Kind.SKIPPED, why, video_id)

    def _skip_record(self, ref: ObjectRef, video_id: str, why: str) -> VideoRecord:
        expires = int(self._clock.now()) + SKIPPED_TTL_SECONDS
        return replace(self._new_record(ref, video_id, SKIPPED, f"skipped: {why}"), expires_at=expires)

    def _new_record(self, ref: ObjectRef, video_id: str, status: str, reason: str | None) -> VideoRecord:
        at = iso(self._clock.now())
        return VideoRecord(
            video_id=video_id,
            bucket=ref.bucket,
            key=ref.key,
            object_version=ref.object_version,
            version_id=ref.version_id,
            size=ref.size,
            status=status,
            created_at=at,
            updated_at=at,
            reason=reason,
            transitions=1,
            history=(Transition(at=at, from_status=None, to_status=status, by=BY_INGEST, note=reason),),
        )

    def _moved(self, record: VideoRecord, status: str, reason: str, **changes: object) -> VideoRecord:
        return record.moved(
            status,
            by=BY_INGEST,
            at=iso(self._clock.now()),
            note=reason,
            reason=reason,
            lease_until=None,
            **changes,
        )

    def _write(self, record: VideoRecord, change: Callable[[VideoRecord], VideoRecord | None]) -> None:
        """Apply ``change`` to the freshest copy of the record; None means there is nothing to write."""
        current: VideoRecord | None = record
        for _ in range(_WRITE_TRIES):
            if current is None:
                raise StaleRecord(f"record {record.video_id} disappeared")
            updated = change(current)
            if updated is None:
                return
            try:
                self._store.save(updated)
                return
            except StaleRecord:
                current = self._store.get(record.video_id)
        raise StaleRecord(f"could not update {record.video_id} after {_WRITE_TRIES} tries")

    def _backoff(self, attempt: int) -> float:
        exponent = max(0, min(attempt - 1, 10))
        return float(min(self._config.retry_max_seconds, self._config.retry_base_seconds * 2**exponent))


_RefusalAction = Callable[[Ingestor, VideoRecord, ProviderError], Outcome]
# What the ingest function does when upload_url fails, by the error's class (functions.core.errors):
# reject, retry this video later, hold the whole line, or wait for evidence (maybe billed).
_REFUSAL_ACTIONS: Final[Mapping[type[ProviderError], _RefusalAction]] = {
    ProviderRejected: Ingestor._refused,
    ProviderTransient: Ingestor._transient,
    ProviderRateLimited: Ingestor._rate_limited,
    ProviderAuthFailure: Ingestor._auth_failure,
    ProviderBalanceExhausted: Ingestor._out_of_credit,
    ProviderUnavailable: Ingestor._unavailable,
    ProviderDuplicate: Ingestor._uncertain,
    AmbiguousSubmit: Ingestor._uncertain,
}


def _refusal_action(exc: ProviderError) -> _RefusalAction:
    return _REFUSAL_ACTIONS.get(type(exc), Ingestor._unclassified)
