"""The JSON Schema of an entry on the wire, derived from the entry's columns.

`sync/schemas/entries.schema.json` is the published contract; a test holds it equal to what
this derives, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.core.entry_schema import ENTRY_COLUMNS, GROUP_COLUMNS, EntryColumn
from gateway.core.values import SLUG, UUID

_REFS = {UUID: "#/$defs/uuid", SLUG: "#/$defs/slug"}


def entry_schema() -> dict[str, Any]:
    """The `entry` definition of the entries batch schema."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for column in ENTRY_COLUMNS:
        name = column.group or column.name
        if name in properties:
            continue
        properties[name] = _group(column.group) if column.group else _column(column)
        if column.rules.wire_default is ...:
            required.append(name)
    return {
        "description": (
            "One passage of one person through one gate (DESIGN section 3, local-only fields "
            "left out)"
        ),
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


def _column(column: EntryColumn) -> dict[str, Any]:
    rules = column.rules
    described = {"description": rules.description} if rules.description else {}
    if rules.pattern in _REFS:
        return {**described, "$ref": _REFS[rules.pattern]}
    if column.type is datetime:
        return {**described, "$ref": "#/$defs/timestamp"}
    if isinstance(column.type, type) and issubclass(column.type, StrEnum):
        return {**described, "enum": [member.value for member in column.type]}
    if column.type is list:
        return {**described, "type": "array", "items": {"type": "string"}}
    kind = _KINDS[column.type]
    constraints = {
        "pattern": rules.pattern,
        "minLength": rules.min_length,
        "maxLength": rules.max_length,
        "minimum": rules.minimum,
        "maximum": rules.maximum if column.type is int else None,
    }
    given = {key: value for key, value in constraints.items() if value is not None}
    if column.nullable and kind == "string" and not given:
        return {**described, "$ref": "#/$defs/nullable_string"}
    return {**described, "type": [kind, "null"] if column.nullable else kind, **given}


def _group(group: str) -> dict[str, Any]:
    parts = GROUP_COLUMNS[group]
    return {
        "oneOf": [
            {"type": "null"},
            {
                "type": "object",
                "additionalProperties": False,
                "required": [part.key for part in parts],
                "properties": {part.key: {"type": _KINDS[part.type]} for part in parts},
            },
        ]
    }


_KINDS = {str: "string", int: "integer", float: "number", bool: "boolean"}
