"""The upload gate on DynamoDB Local: what one reservation costs in requests.

A video that does not wait takes its slot with one conditional write (no read); an instance that
last saw the gate ahead reads it first, as before; either way the slots stay distinct."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devstack.resources import create_table
from functions.adapters.dynamo import DynamoUploadGate

NOW = 1_800_000_000.0


class Counted:
    """A DynamoDB client that records the operations made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.operations: list[str] = []

    def get_item(self, **kwargs: Any) -> Any:
        self.operations.append("GetItem")
        return self._client.get_item(**kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        self.operations.append("UpdateItem")
        return self._client.update_item(**kwargs)

    def taken(self) -> list[str]:
        operations, self.operations = self.operations, []
        return operations


@pytest.fixture
def table_name(dynamodb_client: Any) -> str:
    name = f"gate-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb_client, name)
    return name


def test_a_free_slot_is_taken_with_one_conditional_write(dynamodb_client: Any, table_name: str) -> None:
    client = Counted(dynamodb_client)
    gate = DynamoUploadGate(client, table_name, uploads_per_minute=60)  # type: ignore[arg-type]
    assert gate.reserve(NOW, NOW + 5) == NOW
    assert client.taken() == ["UpdateItem"]
    # 2 s later the slot (1.05 s spacing) is free again: still one write.
    assert gate.reserve(NOW + 2, NOW + 7) == NOW + 2
    assert client.taken() == ["UpdateItem"]
    assert gate.state().next_free == pytest.approx(NOW + 2 + 1.05)


def test_a_gate_taken_by_another_instance_is_learnt_from_the_refused_write(
    dynamodb_client: Any, table_name: str
) -> None:
    """Given another instance holds the next slot, then this one's optimistic write is refused and
    DynamoDB's answer gives the next free slot: it reserves that one without reading the gate."""
    other = DynamoUploadGate(dynamodb_client, table_name, uploads_per_minute=60)
    assert other.reserve(NOW, NOW) == NOW
    client = Counted(dynamodb_client)
    gate = DynamoUploadGate(client, table_name, uploads_per_minute=60)  # type: ignore[arg-type]
    assert gate.reserve(NOW, NOW + 5) == pytest.approx(NOW + 1.05)
    assert client.taken() == ["UpdateItem", "UpdateItem"]
    # Now it knows the gate is ahead: it reads first, and reserves nothing beyond its budget.
    assert gate.reserve(NOW + 0.5, NOW + 1) is None
    assert client.taken() == ["GetItem"]


def test_a_held_line_is_not_taken_by_the_optimistic_write(dynamodb_client: Any, table_name: str) -> None:
    DynamoUploadGate(dynamodb_client, table_name, uploads_per_minute=60).hold_off(NOW + 900, "out of credit")
    gate = DynamoUploadGate(dynamodb_client, table_name, uploads_per_minute=60)
    assert gate.reserve(NOW, NOW + 60) is None
    assert gate.reserve(NOW + 900, NOW + 960) == NOW + 900
