"""The account-wide upload gate: when the next upload may start, whoever asks.

The provider limits uploads per account, so every caller reserves its start time from one shared
value, the next free slot. A reservation succeeds only when that slot falls within the caller's time
budget, so nobody holds a turn it cannot use: a caller that cannot wait simply leaves, and the video
stays in line. Only the next slot is stored, so a new ``UPLOADS_PER_MINUTE`` applies from the next
reservation to everyone waiting. A ``0429`` pushes the slot back; an unusable account holds it (the
whole line pauses) until a time, after which it resumes by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# A call leaves a little after its slot starts (presign, connect), by a varying amount; spacing the
# slots a little wider than the limit keeps two calls from ever landing closer than it at the provider.
SLOT_MARGIN_RATIO: Final = 0.05
SLOT_MARGIN_MAX_SECONDS: Final = 2.0


def slot_interval(uploads_per_minute: float) -> float:
    """Seconds between two upload slots: the limit's spacing plus the margin."""
    base = 60.0 / uploads_per_minute
    return base + min(base * SLOT_MARGIN_RATIO, SLOT_MARGIN_MAX_SECONDS)


def slot_for(next_free: float | None, now: float, latest: float) -> float | None:
    """The slot a caller gets now, or None when the next free one starts after ``latest``."""
    slot = max(now, next_free or 0.0)
    return slot if slot <= latest else None


@dataclass(frozen=True, slots=True)
class GateState:
    """What the gate holds: the next free slot, the spacing last used, and a hold's reason."""

    next_free: float | None
    interval: float | None
    held_until: float | None = None
    held_reason: str | None = None

    def held(self, now: float) -> str | None:
        """The reason the line is paused, while it is."""
        return self.held_reason if self.held_until is not None and self.held_until > now else None


def estimated_start(state: GateState, place: int, now: float, interval: float) -> float:
    """When the video at ``place`` (1 = head of the line) should go, at the current rate."""
    return max(now, state.next_free or now) + (place - 1) * interval
