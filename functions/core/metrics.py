"""Every metric the functions emit, named once: the core counts them, the stack alarms and draws them.

Powertools publishes them as CloudWatch embedded metrics in the namespace the settings name, with the
``service`` dimension (and the extra dimension a call gives, e.g. ``result`` or ``as``).
"""

from __future__ import annotations

from enum import StrEnum


class Metric(StrEnum):
    CALLBACKS_CONFLICTING = "CallbacksConflicting"
    CALLBACKS_EXPIRED = "CallbacksExpired"
    CALLBACKS_FORGED = "CallbacksForged"
    CALLBACKS_RECEIVED = "CallbacksReceived"
    CALLBACKS_RECEIVED_AS = "CallbacksReceivedAs"
    CALLBACKS_UNCONFIRMED = "CallbacksUnconfirmed"
    DELETES_UNMATCHED = "DeletesUnmatched"
    DUPLICATE_DELIVERIES = "DuplicateDeliveries"
    OBJECTS_SKIPPED = "ObjectsSkipped"
    PROVIDER_AUTH_FAILURE = "ProviderAuthFailure"
    PROVIDER_BALANCE_EXHAUSTED = "ProviderBalanceExhausted"
    PROVIDER_RATE_LIMITED = "ProviderRateLimited"
    PROVIDER_UNAVAILABLE = "ProviderUnavailable"
    RECONCILE_PROVIDER_ERRORS = "ReconcileProviderErrors"
    RESULTS_DEFERRED = "ResultsDeferred"
    RESULTS_FAILED = "ResultsFailed"
    RESULTS_NOT_READY = "ResultsNotReady"
    RESULTS_SKIPPED = "ResultsSkipped"
    RESULTS_WRITTEN = "ResultsWritten"
    STATUS_EVENTS_NOT_PUBLISHED = "StatusEventsNotPublished"
    STATUS_EVENTS_PUBLISHED = "StatusEventsPublished"
    STATUS_READS = "StatusReads"
    STATUS_READS_REFUSED = "StatusReadsRefused"
    SUBMIT_DEFERRED = "SubmitDeferred"
    SUBMIT_UNCERTAIN = "SubmitUncertain"
    VIDEOS_DELETED = "VideosDeleted"
    VIDEOS_DELETED_AT_PROVIDER = "VideosDeletedAtProvider"
    VIDEOS_FAILED = "VideosFailed"
    VIDEOS_INDEXING = "VideosIndexing"
    VIDEOS_PARSED = "VideosParsed"
    VIDEOS_RECONCILED = "VideosReconciled"
    VIDEOS_REJECTED = "VideosRejected"
    VIDEOS_RESUBMITTED = "VideosResubmitted"
    VIDEOS_STUCK = "VideosStuck"
    VIDEOS_SUBMITTED = "VideosSubmitted"
    VIDEOS_UNCERTAIN_TOO_LONG = "VideosUncertainTooLong"
    VIDEOS_UNKNOWN_TO_PROVIDER = "VideosUnknownToProvider"
    VIDEOS_WAITING = "VideosWaiting"
