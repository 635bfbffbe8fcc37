"""The upgrade step for the status API's by-object index, on DynamoDB Local: records an earlier
release wrote (no ``object_ref``) get it, nothing else about them changes, and a second run finds none."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devstack.resources import create_table
from functions.adapters.dynamo import DynamoStatusStore, DynamoUploadGate
from functions.core import table
from functions.core.status import PARSE, UNPARSE
from ops.cli import cmd_index_objects
from tests.samples import video_record

pytestmark = pytest.mark.integration


@pytest.fixture
def store(dynamodb_client: Any) -> DynamoStatusStore:
    name = f"index-objects-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb_client, name)
    return DynamoStatusStore(dynamodb_client, name)


def _as_an_earlier_release_wrote_it(store: DynamoStatusStore, video_id: str) -> None:
    store._client.update_item(
        TableName=store._table,
        Key={table.PARTITION_KEY: {"S": video_id}},
        UpdateExpression="REMOVE #o",
        ExpressionAttributeNames={"#o": table.OBJECT_INDEX_PARTITION_KEY},
    )


def test_old_records_gain_the_index_key_once_and_nothing_else_changes(
    store: DynamoStatusStore, dynamodb_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two records from before the index (one with an awkward key), one from after it, the
    # upload gate's item and an unversioned key's latest-video item
    old = [
        video_record("a" * 32, status=PARSE, key="in/Family trip + beach – día 1.mp4", video_no="VI1"),
        video_record("b" * 32, status=UNPARSE, key="in/b.mp4", video_no="VI2"),
    ]
    new = video_record("c" * 32, status=PARSE, key="in/c.mp4", video_no="VI3")
    for record in (*old, new):
        assert store.create(record)
    for record in old:
        _as_an_earlier_release_wrote_it(store, record.video_id)
    DynamoUploadGate(dynamodb_client, store._table, 1.0).reserve(0.0, 1.0)
    store.remember_latest("uploads", "in/c.mp4", new.video_id)
    before = {r.video_id: store.get(r.video_id) for r in old}
    assert store.by_object("uploads", old[0].key, 10) == []

    # When the operator counts them, then runs the step, then runs it again
    assert cmd_index_objects(store, dry_run=True) == 0
    assert "without an object index entry: 2 (dry run" in capsys.readouterr().out
    assert store.by_object("uploads", old[0].key, 10) == []
    assert store.index_objects() == (2, 2)
    assert store.index_objects() == (0, 0)

    # Then the old records are found by bucket and key, each exactly as it was
    for record in old:
        assert store.by_object("uploads", record.key, 10) == [record.video_id]
        assert store.get(record.video_id) == before[record.video_id]
    assert store.by_object("uploads", new.key, 10) == [new.video_id]
