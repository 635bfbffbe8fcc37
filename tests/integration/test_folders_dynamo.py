"""The callback's one conditional write insists on the folder the provider confirmed the change in,
against DynamoDB Local: a record in another folder is refused (and handed back), a record from
before folders (no unique_id attribute) counts as the default folder."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from devstack.resources import create_table
from functions.adapters.dynamo import DynamoStatusStore
from functions.core.clock import iso
from functions.core.status import PARSE, UNPARSE, Advance, Transition, VideoRecord
from tests.samples import video_record

pytestmark = pytest.mark.integration

DEFAULT = "main"


@pytest.fixture
def store(dynamodb_client: Any) -> DynamoStatusStore:
    name = f"status-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb_client, name)
    return DynamoStatusStore(dynamodb_client, name)


def seeded(store: DynamoStatusStore, video_id: str, unique_id: str | None) -> VideoRecord:
    at = iso(1_800_000_000)
    record = video_record(
        video_id,
        status=UNPARSE,
        at=at,
        bucket="b",
        key="k.mp4",
        object_version="v",
        size=1,
        history=False,
        video_no="VI1",
        unique_id=unique_id,
    )
    assert store.create(record)
    stored = store.get(video_id)
    assert stored is not None
    return stored


def confirmed_in(folder: str) -> Advance:
    step = Transition(at=iso(1_800_000_100), from_status=UNPARSE, to_status=PARSE, by="callback")
    in_folders = (folder, None) if folder == DEFAULT else (folder,)
    return Advance(from_status=UNPARSE, step=step, video_no="VI1", in_folders=in_folders)


@pytest.mark.parametrize(
    ("stored_folder", "asked", "applied"),
    [
        ("acme", "acme", True),
        ("acme", DEFAULT, False),
        (DEFAULT, "acme", False),
        (DEFAULT, DEFAULT, True),
        (None, DEFAULT, True),  # a record from before folders: the default folder
        (None, "acme", False),
    ],
)
def test_the_write_applies_only_in_the_folder_confirmed(
    store: DynamoStatusStore, stored_folder: str | None, asked: str, applied: bool
) -> None:
    video_id = uuid.uuid4().hex
    before = seeded(store, video_id, stored_folder)
    change = confirmed_in(asked)
    assert change.applies_to(before) is applied  # the domain's rule and the table's condition agree
    answer = store.advance(video_id, change)
    after = store.get(video_id)
    assert after is not None
    if applied:
        assert answer is None and after.status == PARSE
        assert after == replace(change.applied_to(before), revision=before.revision + 1)
    else:
        assert answer == before and after == before
