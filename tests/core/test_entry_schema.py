"""Every shape of an entry is derived from `Entry`: a test here fails if any of them drifts."""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from sqlalchemy import create_engine, inspect

from gateway.core.entry_schema import (
    COLUMN_NAMES,
    ENTRY_COLUMNS,
    from_columns,
    to_columns,
    wire_json,
)
from gateway.core.records import COLUMNS as EXPORT_COLUMNS
from gateway.core.values import Entry, Override
from gateway.storage.migrate import upgrade
from gateway.storage.tables import ENTRIES as GATEWAY_ENTRIES
from sync.batch import WireEntry
from sync.collector_store import ENTRIES as COLLECTOR_ENTRIES
from sync.collector_store import create_collector_engine, create_tables
from sync.entry_json_schema import entry_schema
from sync.wire import load_schema
from tests.sync.conftest import new_entry

REPO = Path(__file__).resolve().parents[2]
AT_COLLECTOR = {"sent_at", "received_at", "corrected_at"}


def recorded(**changes: object) -> Entry:
    new = new_entry(1)
    entry = Entry(**{spec.name: getattr(new, spec.name) for spec in fields(new)}, seq=7)
    return replace(entry, **changes)


def test_the_columns_are_the_entry_fields_with_value_objects_flattened() -> None:
    names = [spec.name for spec in fields(Entry)]
    flattened = [n for name in names for n in ([f"{name}_by", f"{name}_reason"] if name == "override" else [name])]  # fmt: skip  # noqa: E501

    assert list(COLUMN_NAMES) == flattened


def test_columns_round_trip_an_entry() -> None:
    for entry in (recorded(), recorded(override=Override(by="guard-2", reason="known"))):
        assert from_columns(to_columns(entry)) == entry


def test_the_migrated_gateway_database_has_the_derived_table(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    upgrade(engine)
    try:
        columns = inspect(engine).get_columns("entries")
        outbox = inspect(engine).get_columns("outbox")
    finally:
        engine.dispose()

    assert {(c["name"], c["nullable"]) for c in columns} == {
        (c.name, c.nullable) for c in GATEWAY_ENTRIES.columns
    }
    assert {c["name"] for c in outbox} == {"seq", "entry_id", "revision", "wire"}


def test_the_collector_table_is_the_wire_columns_and_its_receive_times(tmp_path: Path) -> None:
    engine = create_collector_engine(f"sqlite:///{tmp_path / 'collector.db'}")
    create_tables(engine)
    try:
        created = {c["name"] for c in inspect(engine).get_columns("entries")}
    finally:
        engine.dispose()

    expected = {c.name for c in ENTRY_COLUMNS} | AT_COLLECTOR
    assert created == expected == {c.name for c in COLLECTOR_ENTRIES.columns}


def test_the_partitioned_postgresql_table_has_the_collectors_columns() -> None:
    ddl = (REPO / "deploy" / "postgresql" / "entries_by_day.sql").read_text()
    body = ddl.split("CREATE TABLE entries (", 1)[1].split(") PARTITION BY", 1)[0]
    names = {m.group(1) for m in re.finditer(r"^\s+(\w+)\s+\w", body, re.MULTILINE)} - {"PRIMARY"}

    assert names == {c.name for c in COLLECTOR_ENTRIES.columns}


def test_the_published_json_schema_is_the_derived_one() -> None:
    published = load_schema("entries")["$defs"]["entry"]

    assert published == entry_schema(), json.dumps(entry_schema(), indent=2)


def test_the_wire_form_is_what_the_decoder_and_the_schema_name() -> None:
    entry = recorded(override=Override(by="g", reason="r"))
    document = json.loads(wire_json(entry))
    decoded = msgspec.json.decode(wire_json(entry), type=WireEntry)

    assert set(document) == set(entry_schema()["properties"])
    assert set(document) == set(WireEntry.__struct_fields__)
    assert json.loads(msgspec.json.encode(decoded)) == document
    assert document["override"] == {"by": "g", "reason": "r"}


def test_the_export_has_every_wire_column_once_the_contracts_first() -> None:
    assert sorted(EXPORT_COLUMNS) == sorted(c.name for c in ENTRY_COLUMNS)
    assert EXPORT_COLUMNS[:7] == (
        "id",
        "seq",
        "gate",
        "site",
        "occurred_at",
        "direction",
        "decision",
    )


def test_naive_database_times_are_read_as_utc() -> None:
    values = to_columns(recorded())
    values["occurred_at"] = datetime(2024, 5, 1, 8, 0, 1)
    values["reasons"] = '["ok"]'  # a JSON column read as text

    entry = from_columns(values)

    assert entry.occurred_at == datetime(2024, 5, 1, 8, 0, 1, tzinfo=UTC)
    assert entry.reasons == ("ok",)
