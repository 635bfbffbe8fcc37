"""Timestamps as the records store them: ISO 8601 UTC with milliseconds, so they sort as strings."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(epoch_seconds: float) -> str:
    return (
        datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def epoch(iso_timestamp: str) -> float:
    return datetime.fromisoformat(iso_timestamp.replace("Z", "+00:00")).timestamp()
