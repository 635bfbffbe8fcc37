"""Ingest: one created object becomes at most one metered ``upload_url`` call and a record that says
what happened to it.

The record is the idempotency guard. Claiming it is a conditional write: a new record, or one that
waits for a retry, becomes SUBMITTING with a lease; a live lease means another delivery is on it
right now; an expired lease means an attempt died during the call, which may have been billed, so
the record becomes UNCERTAIN instead of calling again. Powertools' Idempotency utility would retry
that case and could pay twice, and would add a second table with a second truth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from functions.core.clock import iso
from functions.core.contract import (
    Accepted,
    OptionalFields,
    UploadRequest,
    trace_tag,
    validate_optional_fields,
)
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
    StaleRecord,
)
from functions.core.objects import ObjectRef, is_video_key
from functions.core.ports import Clock, Metrics, ObjectStore, Provider, RateLimiter, StatusStore
from functions.core.settings import SQS_MAX_DELAY_SECONDS
from functions.core.signing import callback_url, video_id_for
from functions.core.status import (
    BY_INGEST,
    REJECTED,
    RETRY_WAIT,
    SUBMITTING,
    UNCERTAIN,
    UNPARSE,
    Transition,
    VideoRecord,
    rank,
)

# Longer waits take several hops.
MAX_DEFER_SECONDS = SQS_MAX_DELAY_SECONDS
_WRITE_TRIES = 8


class Kind(StrEnum):
    SKIPPED = "skipped"
    REJECTED = "rejected"
    SUBMITTED = "submitted"
    DUPLICATE = "duplicate"
    DEFERRED = "deferred"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Kind
    detail: str
    video_id: str | None = None
    video_no: str | None = None
    delay_seconds: int = 0
    reserved_slot: float | None = None


@dataclass(frozen=True, slots=True)
class IngestConfig:
    unique_id: str
    callback_base_url: str
    presigned_url_ttl_seconds: int
    video_suffixes: tuple[str, ...]
    max_object_bytes: int
    defaults: OptionalFields
    # Longer than the provider call can take (connect + read timeouts + the inline wait for a slot).
    lease_seconds: float
    max_inline_wait_seconds: float = 5.0
    retry_base_seconds: float = 30.0
    # Bad key or no credit: nothing to gain from trying sooner than this.
    retry_max_seconds: float = MAX_DEFER_SECONDS
    max_transient_errors: int = 3


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
        limiter: RateLimiter,
        signing_key: Callable[[], bytes],
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._store = store
        self._objects = objects
        self._provider = provider
        self._limiter = limiter
        self._signing_key = signing_key
        self._clock = clock
        self._metrics = metrics

    def handle(self, ref: ObjectRef, reserved_slot: float | None = None) -> Outcome:
        if ref.is_folder_marker or ref.size == 0:
            self._metrics.count("ObjectsSkipped")
            return Outcome(Kind.SKIPPED, "folder marker" if ref.is_folder_marker else "empty object")
        video_id = video_id_for(ref.bucket, ref.key, ref.object_version)
        if not is_video_key(ref.key, self._config.video_suffixes):
            suffixes = " ".join(self._config.video_suffixes)
            return self._refuse(ref, video_id, f"not a video: the key does not end with one of {suffixes}")
        if ref.size > self._config.max_object_bytes:
            return self._refuse(
                ref, video_id, f"too large: {ref.size} bytes, the limit is {self._config.max_object_bytes}"
            )
        if reserved_slot is not None:
            wait = reserved_slot - self._clock.now()
            if wait > self._config.max_inline_wait_seconds:
                # Still early for its slot: another hop, without touching the record.
                seconds = max(1, min(MAX_DEFER_SECONDS, round(wait)))
                return Outcome(
                    Kind.DEFERRED,
                    "waiting for its upload slot",
                    video_id,
                    delay_seconds=seconds,
                    reserved_slot=reserved_slot,
                )
        claimed = self._claim(ref, video_id)
        if isinstance(claimed, Outcome):
            return claimed
        try:
            prepared = self._prepare(claimed, ref, reserved_slot)
        except Exception:
            # Nothing was sent: give the record back so the redelivered message can claim it again.
            self._write(
                claimed, lambda r: self._moved(r, RETRY_WAIT, "internal error before the call; retried")
            )
            raise
        if isinstance(prepared, Outcome):
            return prepared
        return self._submit(claimed, prepared)

    # -- steps -------------------------------------------------------------------------------------

    def _claim(self, ref: ObjectRef, video_id: str) -> VideoRecord | Outcome:
        for _ in range(_WRITE_TRIES):
            current = self._store.get(video_id)
            now = self._clock.now()
            lease = now + self._config.lease_seconds
            if current is None:
                fresh = self._new_record(ref, video_id, SUBMITTING, None)
                created = replace(fresh, attempts=1, lease_until=lease)
                if self._store.create(created):
                    return replace(created, revision=1)
                continue
            try:
                if current.status == RETRY_WAIT:
                    return self._store.save(
                        current.moved(
                            SUBMITTING,
                            by=BY_INGEST,
                            at=iso(now),
                            attempts=current.attempts + 1,
                            lease_until=lease,
                            reason=None,
                            retry_at=None,
                        )
                    )
                if current.status == SUBMITTING:
                    if current.lease_until is not None and current.lease_until > now:
                        self._metrics.count("DuplicateDeliveries")
                        return Outcome(Kind.DUPLICATE, "another delivery is submitting it now", video_id)
                    note = "an earlier attempt stopped during the provider call; it may have been accepted"
                    self._store.save(self._moved(current, UNCERTAIN, note))
                    self._metrics.count("SubmitUncertain")
                    return Outcome(Kind.UNCERTAIN, note, video_id)
            except StaleRecord:
                continue
            self._metrics.count("DuplicateDeliveries")
            return Outcome(Kind.DUPLICATE, f"already {current.status}", video_id, current.video_no)
        raise StaleRecord(f"could not claim {video_id} after {_WRITE_TRIES} tries")

    def _prepare(
        self, record: VideoRecord, ref: ObjectRef, reserved_slot: float | None
    ) -> UploadRequest | Outcome:
        info = self._objects.head(ref.bucket, ref.key, ref.version_id)
        if info is None:
            return self._finish_rejected(record, "the object no longer exists")
        options = self._config.defaults.overlay(fields_from_metadata(info.metadata))
        problems = validate_optional_fields(options)
        if problems:
            reason = "invalid metadata: " + "; ".join(f"{name} {why}" for name, why in problems)
            return self._finish_rejected(record, reason)
        now = self._clock.now()
        slot = reserved_slot if reserved_slot is not None else self._limiter.reserve(now)
        wait = slot - now
        if wait > self._config.max_inline_wait_seconds:
            return self._defer(record, wait, "waiting for an upload slot (account rate limit)", slot)
        if wait > 0:
            self._clock.sleep(wait)
        url = self._objects.presign_get(
            ref.bucket, ref.key, ref.version_id, self._config.presigned_url_ttl_seconds
        )
        return UploadRequest(
            url=url,
            callback=callback_url(self._config.callback_base_url, self._signing_key(), record.video_id),
            unique_id=self._config.unique_id,
            options=options,
            extra_tags=(trace_tag(record.video_id),),
        )

    def _submit(self, record: VideoRecord, request: UploadRequest) -> Outcome:
        try:
            accepted = self._provider.upload_url(request)
        except ProviderRejected as exc:
            return self._finish_rejected(record, f"memories.ai refused it ({exc.code}): {exc.detail}")
        except ProviderTransient as exc:
            errors = record.transient_errors + 1
            if errors >= self._config.max_transient_errors:
                return self._finish_rejected(
                    record, f"memories.ai refused it {errors} times ({exc.code}): {exc.detail}"
                )
            return self._defer(
                record, self._backoff(errors), f"memories.ai {exc.code}: {exc.detail}", errors=errors
            )
        except ProviderRateLimited as exc:
            self._metrics.count("ProviderRateLimited")
            delay = self._backoff(record.attempts)
            self._limiter.hold_off(self._clock.now() + delay)
            return self._defer(record, delay, f"memories.ai rate limit ({exc.code})")
        except ProviderAuthFailure as exc:
            self._metrics.count("ProviderAuthFailure")
            self._provider.forget_credentials()
            return self._defer(
                record,
                self._config.retry_max_seconds,
                f"memories.ai refused the API key ({exc.code}): {exc.detail}",
            )
        except ProviderBalanceExhausted as exc:
            self._metrics.count("ProviderBalanceExhausted")
            return self._defer(
                record, self._config.retry_max_seconds, f"memories.ai account out of credit ({exc.code})"
            )
        except ProviderUnavailable as exc:
            self._metrics.count("ProviderUnavailable")
            return self._defer(
                record, self._backoff(record.attempts), f"memories.ai unavailable ({exc.code})"
            )
        except (ProviderDuplicate, AmbiguousSubmit) as exc:
            self._metrics.count("SubmitUncertain")
            note = f"{exc.detail} ({exc.code}); waiting for the callback or the reconciler"
            self._write(
                record,
                lambda r: self._moved(r, UNCERTAIN, note) if rank(r.status) < rank(UNCERTAIN) else None,
            )
            return Outcome(Kind.UNCERTAIN, note, record.video_id)
        except ProviderError as exc:  # pragma: no cover - every code maps to a subclass above
            return self._defer(
                record, self._backoff(record.attempts), f"memories.ai {exc.code}: {exc.detail}"
            )
        return self._accepted(record, accepted)

    # -- record writes -----------------------------------------------------------------------------

    def _accepted(self, record: VideoRecord, accepted: Accepted) -> Outcome:
        def apply(current: VideoRecord) -> VideoRecord:
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
        self._metrics.count("VideosSubmitted")
        return Outcome(Kind.SUBMITTED, "accepted by memories.ai", record.video_id, accepted.video_no)

    def _finish_rejected(self, record: VideoRecord, reason: str) -> Outcome:
        self._write(
            record, lambda r: self._moved(r, REJECTED, reason) if rank(r.status) < rank(UNPARSE) else None
        )
        self._metrics.count("VideosRejected")
        return Outcome(Kind.REJECTED, reason, record.video_id)

    def _defer(
        self,
        record: VideoRecord,
        delay: float,
        reason: str,
        slot: float | None = None,
        errors: int | None = None,
    ) -> Outcome:
        seconds = max(1, min(MAX_DEFER_SECONDS, round(delay)))
        retry_at = iso(self._clock.now() + seconds)

        def apply(current: VideoRecord) -> VideoRecord | None:
            if current.status != SUBMITTING:
                return None  # a callback proved it arrived after all
            moved = self._moved(current, RETRY_WAIT, reason, retry_at=retry_at)
            return replace(moved, transient_errors=errors) if errors is not None else moved

        self._write(record, apply)
        self._metrics.count("SubmitDeferred")
        return Outcome(Kind.DEFERRED, reason, record.video_id, delay_seconds=seconds, reserved_slot=slot)

    def _refuse(self, ref: ObjectRef, video_id: str, reason: str) -> Outcome:
        record = self._new_record(ref, video_id, REJECTED, reason)
        if not self._store.create(record):
            existing = self._store.get(video_id)
            if existing is None or existing.status != RETRY_WAIT:
                self._metrics.count("DuplicateDeliveries")
                return Outcome(Kind.DUPLICATE, "already recorded", video_id)
            # An operator resubmitted it, but it is still not something the provider can take.
            self._write(
                existing, lambda r: self._moved(r, REJECTED, reason) if r.status == RETRY_WAIT else None
            )
        self._metrics.count("VideosRejected")
        return Outcome(Kind.REJECTED, reason, video_id)

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
