"""The status table's schema: key, index and attribute names, shared by the store adapter and the stack."""

from __future__ import annotations

from typing import Final

PARTITION_KEY: Final = "video_id"

# Status queries ("everything in UNPARSE older than an hour") and the reconciler use this index.
STATUS_INDEX: Final = "by-status"
STATUS_INDEX_PARTITION_KEY: Final = "status"
STATUS_INDEX_SORT_KEY: Final = "updated_at"

# Operators look a video up by the provider's number.
VIDEO_NO_INDEX: Final = "by-video-no"
VIDEO_NO_INDEX_PARTITION_KEY: Final = "video_no"

# Items that only exist to coordinate (the shared upload-rate slot) expire through this attribute.
TTL_ATTRIBUTE: Final = "expires_at"
