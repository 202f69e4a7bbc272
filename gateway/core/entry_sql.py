"""The entry's columns as SQLAlchemy declarations, for the gateway's and the collector's tables.

Declarations only (no engine, no I/O): the one place where an entry field's type becomes a
column type, so the two tables cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Float, Integer, String
from sqlalchemy.types import TypeEngine

from gateway.core.entry_schema import ENTRY_COLUMNS, EntryColumn

_TYPES: dict[type, TypeEngine[Any]] = {
    bool: Boolean(),
    float: Float(),
    datetime: DateTime(timezone=True),
    list: JSON(),
}


def column_type(column: EntryColumn) -> TypeEngine[Any]:
    if column.type is int:
        return BigInteger() if column.rules.big else Integer()
    if column.type is str or issubclass(column.type, StrEnum):
        return String(column.rules.max_length) if column.rules.max_length else String()
    return _TYPES[column.type]


def entry_columns() -> list[Column[Any]]:
    """New `Column`s of every entry field; `id` is the primary key."""
    return [
        Column(
            column.name,
            column_type(column),
            primary_key=column.name == "id",
            nullable=column.nullable,
        )
        for column in ENTRY_COLUMNS
    ]
