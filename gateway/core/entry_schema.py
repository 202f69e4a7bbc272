"""The entry's columns, derived once from the `Entry` dataclass and its field rules.

Every other shape of an entry comes from `ENTRY_COLUMNS`: the gateway's and the collector's
tables, the wire form and its JSON schema, the export columns. A nested value object (the
guard's `Override`) becomes one column per field (`override_by`, `override_reason`) and one
object on the wire.
"""

from __future__ import annotations

import json
import logging
import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Union, get_args, get_origin, get_type_hints

from gateway.core.fields import RULES, Rules
from gateway.core.values import Entry

logger = logging.getLogger(__name__)

_NO_RULES = Rules()


@dataclass(frozen=True, slots=True)
class EntryColumn:
    """One column of an entry: a plain value (str, int, float, bool, datetime, a `StrEnum`,
    or `list` for a list of strings), nullable or not."""

    name: str
    type: type
    nullable: bool
    rules: Rules
    group: str | None = None  # the value object it belongs to, e.g. "override"
    key: str = ""  # its name inside the group ("by"), or on the wire when ungrouped

    @property
    def fixed(self) -> bool:
        return self.rules.fixed


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The type inside `X | None`, and whether None was allowed."""
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        return inner[0], len(inner) < len(get_args(annotation))
    return annotation, False


def _plain(annotation: Any) -> type:
    if get_origin(annotation) is tuple:
        return list
    if isinstance(annotation, type):
        return annotation
    raise TypeError(f"an entry field cannot be of type {annotation!r}")


def _columns() -> tuple[tuple[EntryColumn, ...], dict[str, type]]:
    hints = get_type_hints(Entry)
    columns: list[EntryColumn] = []
    groups: dict[str, type] = {}
    for spec in fields(Entry):
        annotation, nullable = _unwrap(hints[spec.name])
        rules = spec.metadata.get(RULES, _NO_RULES)
        if is_dataclass(annotation) and isinstance(annotation, type):
            groups[spec.name] = annotation
            inner = get_type_hints(annotation)
            columns.extend(
                EntryColumn(
                    name=f"{spec.name}_{part.name}",
                    type=_plain(inner[part.name]),
                    nullable=True,
                    rules=rules,
                    group=spec.name,
                    key=part.name,
                )
                for part in fields(annotation)
            )
        else:
            columns.append(
                EntryColumn(spec.name, _plain(annotation), nullable, rules, None, spec.name)
            )
    return tuple(columns), groups


ENTRY_COLUMNS, _GROUPS = _columns()
COLUMN_NAMES = tuple(column.name for column in ENTRY_COLUMNS)
FIXED_NAMES = frozenset(column.name for column in ENTRY_COLUMNS if column.fixed)
GROUP_COLUMNS = {
    group: tuple(column for column in ENTRY_COLUMNS if column.group == group) for group in _GROUPS
}
"""The columns of each value object, e.g. "override": (override_by, override_reason)."""


def to_columns(entry: Entry) -> dict[str, Any]:
    """The entry as plain column values (enums as their values, lists, datetimes)."""
    values: dict[str, Any] = {}
    for column in ENTRY_COLUMNS:
        if column.group is None:
            value = getattr(entry, column.name)
        else:
            holder = getattr(entry, column.group)
            value = None if holder is None else getattr(holder, column.key)
        values[column.name] = _to_plain(value)
    return values


def from_columns(values: Mapping[Any, Any]) -> Entry:
    """An `Entry` from plain column values (as `to_columns` gives, or a database row).

    Naive datetimes are taken as UTC (SQLite keeps no offset).
    """
    arguments: dict[str, Any] = {}
    for column in ENTRY_COLUMNS:
        if column.group is None:
            arguments[column.name] = _from_plain(column, values[column.name])
    for group, kind in _GROUPS.items():
        parts = {c.key: values[c.name] for c in GROUP_COLUMNS[group]}
        present = any(value is not None for value in parts.values())
        arguments[group] = kind(**{k: v or "" for k, v in parts.items()}) if present else None
    return Entry(**arguments)


def wire_document(entry: Entry) -> dict[str, Any]:
    """The entry as it travels to the community server."""
    document: dict[str, Any] = {}
    for column in ENTRY_COLUMNS:
        if column.group is None:
            document[column.name] = _to_wire(getattr(entry, column.name))
        elif column.group not in document:
            holder = getattr(entry, column.group)
            document[column.group] = None if holder is None else _group_document(holder)
    temperature = document.get("temperature_c")
    if isinstance(temperature, float) and not math.isfinite(temperature):
        # JSON has no NaN; an entry that cannot be encoded would block the outbox forever.
        logger.warning("entry %s has a non-finite temperature; sent as null", entry.id)
        document["temperature_c"] = None
    return document


def wire_json(entry: Entry) -> bytes:
    """The entry's wire form as compact UTF-8 JSON: written once, when it is recorded or
    amended, and sent as it is."""
    return json.dumps(
        wire_document(entry), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode()


def _group_document(holder: Any) -> dict[str, Any]:
    return {part.name: _to_wire(getattr(holder, part.name)) for part in fields(holder)}


def _to_plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _to_wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return _to_plain(value)


def _from_plain(column: EntryColumn, value: Any) -> Any:
    if value is None:
        return None
    convert = _CONVERTERS.get(column.type)
    if convert is not None:
        return convert(value)
    if issubclass(column.type, StrEnum):
        return column.type(value)
    return value


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _reasons(value: Any) -> tuple[str, ...]:
    return tuple(json.loads(value) if isinstance(value, str) else value)


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    datetime: _utc,
    list: _reasons,
    bool: bool,
}
