"""The status table, its line of waiting videos, and the shared upload gate, on DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import MISSING, asdict, fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from functions.core import table
from functions.core.errors import RecordNotFound, StaleRecord
from functions.core.gate import GateState, slot_for, slot_interval
from functions.core.ports import LineEntry
from functions.core.status import FIRST_REVISION, HISTORY_LIMIT, Advance, Transition, VideoRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_RECORD_FIELDS: Final = tuple(f.name for f in fields(VideoRecord))
# The attributes every video record has (its fields without a default).
_REQUIRED_FIELDS: Final = tuple(
    f.name for f in fields(VideoRecord) if f.default is MISSING and f.default_factory is MISSING
)
_CONDITIONAL_FAILED: Final = "ConditionalCheckFailedException"
# The pointer item of an unversioned key: which record is its newest (functions.core.deletes).
_LATEST: Final = "latest_video_id"

RATE_SLOT_ID: Final = "#rate-limit#upload_url"
_SLOT_ATTRIBUTE: Final = "next_free_at"
_INTERVAL_ATTRIBUTE: Final = "interval_seconds"
_HELD_UNTIL_ATTRIBUTE: Final = "held_until"
_HELD_REASON_ATTRIBUTE: Final = "held_reason"
_SLOT_TTL_SECONDS: Final = 86400
_GATE_TRIES: Final = 50


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
    item = {k: _serializer.serialize(v) for k, v in plain.items()}
    # The by-object index's key, on every PutItem: a record written before the index gains it then.
    item[table.OBJECT_INDEX_PARTITION_KEY] = {"S": table.object_ref(record.bucket, record.key)}
    position = record.line_position
    if position is not None:
        # Only a QUEUED record carries the line index's keys: every other write drops them.
        item[table.LINE_INDEX_PARTITION_KEY] = {"S": table.LINE_PARTITION_VALUE}
        item[table.LINE_INDEX_SORT_KEY] = {"S": position}
    return item


def item_to_record(item: Mapping[str, Any]) -> VideoRecord:
    plain = {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}
    values = {k: plain[k] for k in _RECORD_FIELDS if k in plain}
    # None values are not stored (DynamoDB attributes are absent instead), so they come back as defaults.
    values["history"] = tuple(
        Transition(**{"from_status": None, **step}) for step in plain.get("history", [])
    )
    for name in ("lease_until", "not_before"):
        if name in values:
            values[name] = float(values[name])
    return VideoRecord(**values)


def image_to_record(image: Mapping[str, Any] | None) -> VideoRecord | None:
    """A stream image (or any item) as a video record; None for no image, the upload gate's item and
    anything else that is not a record."""
    if not image or image.get(table.PARTITION_KEY) == {"S": RATE_SLOT_ID}:
        return None
    if not all(name in image for name in _REQUIRED_FIELDS):
        return None
    return item_to_record(image)


def _conditional_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == _CONDITIONAL_FAILED)


def _folder_condition(in_folders: Sequence[str | None], values: dict[str, Any]) -> str:
    """The record is in one of the folders the provider confirmed the status in (``#f``, values
    added to ``values``); a record without one is in the default folder (None)."""
    named = [folder for folder in in_folders if folder is not None]
    for number, folder in enumerate(named):
        values[f":f{number}"] = {"S": folder}
    tests = [f"#f IN ({', '.join(f':f{n}' for n in range(len(named)))})"] if named else []
    if None in in_folders:
        tests.append("attribute_not_exists(#f)")
    return " OR ".join(tests) or "attribute_not_exists(#f)"


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
                Item=record_to_item(replace(record, revision=FIRST_REVISION)),
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

    def advance(self, video_id: str, change: Advance) -> VideoRecord | None:
        """``Advance.applied_to`` as one conditional UpdateItem; a refusal returns the stored item
        (ReturnValuesOnConditionCheckFailure), so the caller decides without another read."""
        step = replace(change.step, from_status=change.from_status)
        names = {
            "#s": "status",
            "#u": "updated_at",
            "#h": "history",
            "#t": "transitions",
            "#c": "callbacks",
            "#r": "revision",
            "#v": "video_no",
            "#hint": "hinted_video_no",
            "#lease": "lease_until",
            "#reason": "reason",
            "#line": table.LINE_INDEX_PARTITION_KEY,
            "#pos": table.LINE_INDEX_SORT_KEY,
        }
        values: dict[str, Any] = {
            ":from": {"S": change.from_status},
            ":to": {"S": step.to_status},
            ":at": {"S": step.at},
            ":step": {"L": [_serializer.serialize(_to_dynamo(asdict(step)))]},
            ":one": {"N": "1"},
            ":v": {"S": change.video_no},
            ":limit": {"N": str(HISTORY_LIMIT)},
        }
        names["#f"] = "unique_id"
        in_folder = _folder_condition(change.in_folders, values)
        sets = "#s = :to, #u = :at, #h = list_append(#h, :step), #t = #t + :one, #c = #c + :one"
        sets += ", #r = #r + :one, #v = :v"
        removes = ["#hint", "#lease", "#line", "#pos"]
        if change.reason is None:
            removes.append("#reason")
        else:
            sets += ", #reason = :reason"
            values[":reason"] = {"S": change.reason}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={table.PARTITION_KEY: {"S": video_id}},
                UpdateExpression=f"SET {sets} REMOVE {', '.join(removes)}",
                ConditionExpression=(
                    f"#s = :from AND (attribute_not_exists(#v) OR #v = :v) AND size(#h) < :limit AND ({in_folder})"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            item: Any = exc.response.get("Item")
            if not item:
                raise RecordNotFound("no such video") from exc
            return item_to_record(item)
        return None

    def remember_latest(self, bucket: str, key: str, video_id: str) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={table.PARTITION_KEY: {"S": table.latest_item_id(bucket, key)}, _LATEST: {"S": video_id}},
        )

    def latest(self, bucket: str, key: str) -> str | None:
        response = self._client.get_item(
            TableName=self._table,
            Key={table.PARTITION_KEY: {"S": table.latest_item_id(bucket, key)}},
            ConsistentRead=True,
        )
        value = response.get("Item", {}).get(_LATEST, {}).get("S")
        return str(value) if value else None

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
                # Oldest first (the sort key, ISO-8601 UTC in one format, sorts as time does), the
                # default made explicit: the port promises this order (StatusStore.by_status).
                "ScanIndexForward": True,
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

    def index_objects(self, *, dry_run: bool = False) -> tuple[int, int]:
        """Give every record written before the ``by-object`` index its ``object_ref`` (an operator's
        upgrade step): one Scan of the table and one conditional UpdateItem per such record, which
        changes nothing else (no status, no revision: a writer racing it is not disturbed, and the
        status events see no change). Returns (records without it, records given it)."""
        missing = given = 0
        for item in self._records_without_object_ref():
            missing += 1
            if dry_run:
                continue
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={table.PARTITION_KEY: item[table.PARTITION_KEY]},
                    UpdateExpression="SET #o = :o",
                    ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(#o)",
                    ExpressionAttributeNames={
                        "#o": table.OBJECT_INDEX_PARTITION_KEY,
                        "#pk": table.PARTITION_KEY,
                    },
                    ExpressionAttributeValues={
                        ":o": {"S": table.object_ref(item["bucket"]["S"], item["key"]["S"])}
                    },
                )
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
                continue  # written meanwhile (it has the attribute now), or gone
            given += 1
        return missing, given

    def _records_without_object_ref(self) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "FilterExpression": "attribute_exists(#b) AND attribute_exists(#k) AND attribute_not_exists(#o)",
                "ExpressionAttributeNames": {
                    "#b": "bucket",
                    "#k": "key",
                    "#o": table.OBJECT_INDEX_PARTITION_KEY,
                },
                "ProjectionExpression": "#pk, #b, #k",
            }
            kwargs["ExpressionAttributeNames"]["#pk"] = table.PARTITION_KEY
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self._client.scan(**kwargs)
            yield from response.get("Items", [])
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def by_object(self, bucket: str, key: str, limit: int) -> Sequence[str]:
        ids: list[str] = []
        start: dict[str, Any] | None = None
        while len(ids) < limit:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": table.OBJECT_INDEX,
                "KeyConditionExpression": "#o = :o",
                "ExpressionAttributeNames": {"#o": table.OBJECT_INDEX_PARTITION_KEY},
                "ExpressionAttributeValues": {":o": {"S": table.object_ref(bucket, key)}},
                "ScanIndexForward": False,
                "Limit": limit - len(ids),
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self._client.query(**kwargs)
            ids.extend(item[table.PARTITION_KEY]["S"] for item in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        return ids

    def line(self, limit: int) -> Sequence[LineEntry]:
        response = self._client.query(
            TableName=self._table,
            IndexName=table.LINE_INDEX,
            KeyConditionExpression="#l = :l",
            ExpressionAttributeNames={"#l": table.LINE_INDEX_PARTITION_KEY},
            ExpressionAttributeValues={":l": {"S": table.LINE_PARTITION_VALUE}},
            Limit=limit,
        )
        return [
            LineEntry(
                video_id=item[table.PARTITION_KEY]["S"],
                position=item[table.LINE_INDEX_SORT_KEY]["S"],
                not_before=float(item["not_before"]["N"]) if "not_before" in item else None,
            )
            for item in response.get("Items", [])
        ]

    def line_length(self, before: str | None = None) -> int:
        condition = "#l = :l"
        names = {"#l": table.LINE_INDEX_PARTITION_KEY}
        values: dict[str, Any] = {":l": {"S": table.LINE_PARTITION_VALUE}}
        if before is not None:
            condition += " AND #p < :p"
            names["#p"] = table.LINE_INDEX_SORT_KEY
            values[":p"] = {"S": before}
        count = 0
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": table.LINE_INDEX,
                "KeyConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "Select": "COUNT",
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self._client.query(**kwargs)
            count += response.get("Count", 0)
            start = response.get("LastEvaluatedKey")
            if not start:
                return count


class DynamoUploadGate:
    """One item in the status table holds the account's next free upload slot (``functions.core.gate``).

    Every ingest instance reserves from it with a conditional write, so the provider's per-account
    limit holds however many instances run. The item also records the spacing in use and why the
    line is held, for operators.
    """

    def __init__(self, client: DynamoDBClient, table_name: str, uploads_per_minute: float) -> None:
        self._client = client
        self._table = table_name
        self.interval = slot_interval(uploads_per_minute)
        # The next free slot as this instance last saw it: it only moves later, so while it is
        # ahead a reservation reads the gate first; otherwise it tries the slot at once.
        self._seen_next_free: float | None = None

    def state(self) -> GateState:
        response = self._client.get_item(
            TableName=self._table, Key={table.PARTITION_KEY: {"S": RATE_SLOT_ID}}, ConsistentRead=True
        )
        item = response.get("Item") or {}

        def number(name: str) -> float | None:
            return float(item[name]["N"]) if name in item else None

        self._seen_next_free = number(_SLOT_ATTRIBUTE)
        return GateState(
            next_free=self._seen_next_free,
            interval=number(_INTERVAL_ATTRIBUTE),
            held_until=number(_HELD_UNTIL_ATTRIBUTE),
            held_reason=item[_HELD_REASON_ATTRIBUTE]["S"] if _HELD_REASON_ATTRIBUTE in item else None,
        )

    def _move(
        self, expected: float | None, value: float, extra: Mapping[str, Any], *, free_by: float | None = None
    ) -> tuple[bool, float | None]:
        """Set the next free slot to ``value`` if it is still ``expected`` (None: no item yet), or,
        with ``free_by``, if it is not after that time. Refused: DynamoDB hands back the stored next
        free slot, so the caller tries again without reading."""
        sets = {
            _SLOT_ATTRIBUTE: {"N": repr(value)},
            _INTERVAL_ATTRIBUTE: {"N": repr(self.interval)},
            table.TTL_ATTRIBUTE: {"N": str(int(value) + _SLOT_TTL_SECONDS)},
            **extra,
        }
        names = {f"#a{i}": name for i, name in enumerate(sets)}
        values = {f":v{i}": value for i, value in enumerate(sets.values())}
        if free_by is not None:
            condition = "attribute_not_exists(#a0) OR #a0 <= :free_by"
            values[":free_by"] = {"N": repr(free_by)}
        elif expected is None:
            condition = "attribute_not_exists(#pk)"
            names["#pk"] = table.PARTITION_KEY
        else:
            condition = "#a0 = :expected"
            values[":expected"] = {"N": repr(expected)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={table.PARTITION_KEY: {"S": RATE_SLOT_ID}},
                UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(sets))),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                item: Any = exc.response.get("Item") or {}
                stored = float(item[_SLOT_ATTRIBUTE]["N"]) if _SLOT_ATTRIBUTE in item else None
                self._seen_next_free = stored
                return False, stored
            raise
        self._seen_next_free = value
        return True, value

    def reserve(self, now: float, latest: float) -> float | None:
        current: float | None
        if now <= latest and (self._seen_next_free is None or self._seen_next_free <= now):
            # Free now, as far as this instance saw: one conditional write takes the slot, no read.
            taken, current = self._move(None, now + self.interval, {}, free_by=now)
            if taken:
                return now
        else:
            current = self.state().next_free
        for _ in range(_GATE_TRIES):
            slot = slot_for(current, now, latest)
            if slot is None:
                return None
            taken, current = self._move(current, slot + self.interval, {})
            if taken:
                return slot
        raise StaleRecord("could not reserve an upload slot: too much contention")

    def hold_off(self, until: float, reason: str) -> None:
        held = {_HELD_UNTIL_ATTRIBUTE: {"N": repr(until)}, _HELD_REASON_ATTRIBUTE: {"S": reason}}
        for _ in range(_GATE_TRIES):
            current = self.state().next_free
            if current is not None and current >= until:
                return
            if self._move(current, until, held)[0]:
                return
