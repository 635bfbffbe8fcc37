"""The status events' bus: EventBridge PutEvents, one request per batch of at most 10 entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.core.events import SOURCE, STATUS_CHANGED
from functions.core.publish import MAX_ENTRIES_PER_PUT, StatusEvent

__all__ = ["EventBridgeBus"]


class EventBridgeBus:
    """``bus_name``: ``default`` or a custom bus of this account and region. ``client``: a boto3
    ``events`` client (untyped: the boto3-stubs extras here do not include EventBridge)."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def entry(self, event: StatusEvent) -> dict[str, Any]:
        return {
            "Source": SOURCE,
            "DetailType": STATUS_CHANGED,
            "Detail": event.detail_json,
            "Time": datetime.fromisoformat(event.time.replace("Z", "+00:00")),
            "Resources": list(event.resources),
            "EventBusName": self._bus_name,
        }

    def put(self, events: Sequence[StatusEvent]) -> list[str | None]:
        if len(events) > MAX_ENTRIES_PER_PUT:
            raise ValueError(f"PutEvents takes at most {MAX_ENTRIES_PER_PUT} entries, got {len(events)}")
        try:
            # botocore's standard retries (wiring.AWS_CONFIG) have already run when this raises.
            response = self._client.put_events(Entries=[self.entry(event) for event in events])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reason = f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}"
            return [reason] * len(events)
        except BotoCoreError as exc:  # no answer: connection refused, timed out
            return [f"{type(exc).__name__}: {exc}"] * len(events)
        return [
            f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}" if entry.get("ErrorCode") else None
            for entry in response["Entries"]
        ]
