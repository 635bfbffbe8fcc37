"""The provider's documented answers (tests/fixtures/provider/*.json) and two ways to hold code to them.

- ``documented(name)``: the fixture as nested read-only mappings that fail the test when code looks
  up a key the document does not have, so a client that reads an undocumented field fails.
- ``shape(value)``: the keys of every object, recursively (list items merged), so an answer can be
  compared with the documented one field for field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "provider"


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class UndocumentedField(AssertionError):
    pass


class Documented(Mapping[str, Any]):
    """A JSON object that only answers for the keys it was documented with."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self._data = {key: _wrap(value, f"{where}.{key}") for key, value in data.items()}
        self._where = where

    def __getitem__(self, key: str) -> Any:
        if key not in self._data:
            raise UndocumentedField(f"read {self._where}.{key}, which the reference does not document")
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _wrap(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return Documented(value, where)
    if isinstance(value, list):
        return [_wrap(item, f"{where}[]") for item in value]
    return value


def documented(name: str) -> Any:
    return _wrap(load(name), name)


def shape(value: Any) -> Any:
    """{key: shape} for objects, [merged item shape] for lists, the type name for scalars (null: None)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict):
                merged.update(shape(item))
        return [merged] if merged else []
    return None
