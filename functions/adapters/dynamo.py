"""The status table and the shared upload-rate slot, on DynamoDB."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from functions.core import table
from functions.core.errors import StaleRecord
from functions.core.status import Transition, VideoRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_RECORD_FIELDS: Final = tuple(f.name for f in fields(VideoRecord))
_CONDITIONAL_FAILED: Final = "ConditionalCheckFailedException"

RATE_SLOT_ID: Final = "#rate-limit#upload_url"
_SLOT_ATTRIBUTE: Final = "next_free_at"
_SLOT_TTL_SECONDS: Final = 86400
# A call leaves a little after its slot starts (presign, connect), by a varying amount; spacing the
# slots a little wider than the limit keeps two calls from ever landing closer than it at the provider.
_SLOT_MARGIN_RATIO: Final = 0.05
_SLOT_MARGIN_MAX_SECONDS: Final = 2.0


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def record_to_item(record: VideoRecord) -> dict[str, Any]:
    plain = _to_dynamo(asdict(record))
    return {k: _serializer.serialize(v) for k, v in plain.items()}


def item_to_record(item: Mapping[str, Any]) -> VideoRecord:
    plain = {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}
    values = {k: plain[k] for k in _RECORD_FIELDS if k in plain}
    # None values are not stored (DynamoDB attributes are absent instead), so they come back as defaults.
    values["history"] = tuple(
        Transition(**{"from_status": None, **step}) for step in plain.get("history", [])
    )
    if "lease_until" in values:
        values["lease_until"] = float(values["lease_until"])
    return VideoRecord(**values)


def _conditional_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == _CONDITIONAL_FAILED)


class DynamoStatusStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, video_id: str) -> VideoRecord | None:
        response = self._client.get_item(
            TableName=self._table, Key={table.PARTITION_KEY: {"S": video_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return item_to_record(item) if item else None

    def create(self, record: VideoRecord) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=record_to_item(replace(record, revision=1)),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": table.PARTITION_KEY},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def save(self, record: VideoRecord) -> VideoRecord:
        stored = replace(record, revision=record.revision + 1)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=record_to_item(stored),
                ConditionExpression="#rev = :expected",
                ExpressionAttributeNames={"#rev": "revision"},
                ExpressionAttributeValues={":expected": {"N": str(record.revision)}},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise StaleRecord(
                    f"record {record.video_id} changed since revision {record.revision}"
                ) from exc
            raise
        return stored

    def by_status(self, status: str, updated_before: str, limit: int) -> Sequence[VideoRecord]:
        records: list[VideoRecord] = []
        start: dict[str, Any] | None = None
        while len(records) < limit:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": table.STATUS_INDEX,
                "KeyConditionExpression": "#s = :s AND #u < :u",
                "ExpressionAttributeNames": {
                    "#s": table.STATUS_INDEX_PARTITION_KEY,
                    "#u": table.STATUS_INDEX_SORT_KEY,
                },
                "ExpressionAttributeValues": {":s": {"S": status}, ":u": {"S": updated_before}},
                "Limit": min(100, limit - len(records)),
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self._client.query(**kwargs)
            # The indexes project whole records. Index reads may lag a write; every write this
            # project makes checks the revision, so acting on a stale copy loses the race cleanly.
            records.extend(item_to_record(item) for item in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        return records

    def by_video_no(self, video_no: str) -> VideoRecord | None:
        response = self._client.query(
            TableName=self._table,
            IndexName=table.VIDEO_NO_INDEX,
            KeyConditionExpression="#v = :v",
            ExpressionAttributeNames={"#v": table.VIDEO_NO_INDEX_PARTITION_KEY},
            ExpressionAttributeValues={":v": {"S": video_no}},
            Limit=1,
        )
        items = response.get("Items", [])
        return item_to_record(items[0]) if items else None


class DynamoRateLimiter:
    """One item in the status table holds the account's next free upload slot.

    Every ingest instance reserves slots from it with a conditional write, so the provider's
    per-account limit holds however many instances run; a reservation is a time, handed back to the
    message that waits for it, so waiting costs no polling.
    """

    def __init__(self, client: DynamoDBClient, table_name: str, uploads_per_minute: float) -> None:
        self._client = client
        self._table = table_name
        base = 60.0 / uploads_per_minute
        self._interval = base + min(base * _SLOT_MARGIN_RATIO, _SLOT_MARGIN_MAX_SECONDS)

    def _read(self) -> float | None:
        response = self._client.get_item(
            TableName=self._table, Key={table.PARTITION_KEY: {"S": RATE_SLOT_ID}}, ConsistentRead=True
        )
        item = response.get("Item")
        return float(item[_SLOT_ATTRIBUTE]["N"]) if item else None

    def _write(self, value: float, expected: float | None, now: float) -> bool:
        item = {
            table.PARTITION_KEY: {"S": RATE_SLOT_ID},
            _SLOT_ATTRIBUTE: {"N": repr(value)},
            table.TTL_ATTRIBUTE: {"N": str(int(max(value, now)) + _SLOT_TTL_SECONDS)},
        }
        try:
            if expected is None:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": table.PARTITION_KEY},
                )
            else:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="#slot = :expected",
                    ExpressionAttributeNames={"#slot": _SLOT_ATTRIBUTE},
                    ExpressionAttributeValues={":expected": {"N": repr(expected)}},
                )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def reserve(self, now: float) -> float:
        for _ in range(50):
            current = self._read()
            slot = max(now, current or 0.0)
            if self._write(slot + self._interval, current, now):
                return slot
        raise StaleRecord("could not reserve an upload slot: too much contention")

    def hold_off(self, until: float) -> None:
        for _ in range(50):
            current = self._read()
            if current is not None and current >= until:
                return
            if self._write(until, current, until):
                return
