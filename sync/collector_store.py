"""The collector's database: entries of all gates and the last known state of each gate.

Dialect-neutral (SQLite or PostgreSQL) except for the idempotent upsert. The tables live in
their own `MetaData`, apart from the gateway's, with the gateway's column names so one export
reads both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Index,
    Insert,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel

from sync.wire import EntriesBatch, StateMessage

collector_registry = registry()


class CollectorTable(SQLModel, registry=collector_registry):
    """Base of the collector's tables: `CollectorTable.metadata` is theirs alone."""


class CollectedEntry(CollectorTable, table=True):
    """An entry as received from a gateway; `seq` is per gateway, so not unique here."""

    __tablename__ = "entries"
    __table_args__ = (Index("ix_entries_site_gate_seq", "site", "gate", "seq"),)

    id: str = Field(primary_key=True, max_length=36)
    seq: int
    gate: str
    site: str
    lane: str
    direction: str
    occurred_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
    clock_synced: bool
    boot_id: str
    monotonic_ns: int
    code_format: str
    code_check: str
    code_status: str
    subject: str | None = None
    subject_label: str | None = None
    payload_digest: str | None = None
    temperature_c: float | None = None
    temperature_source: str | None = None
    remeasured: bool = False
    decision: str = Field(index=True)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    override_by: str | None = None
    override_reason: str | None = None
    sent_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class GateState(CollectorTable, table=True):
    """The last state a gate reported (or its last will)."""

    __tablename__ = "gates"

    site: str = Field(primary_key=True)
    gate: str = Field(primary_key=True)
    state: str
    last_seen: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    version: str | None = None
    backlog: int | None = None
    oldest_unsynced: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    devices: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


def engine_url(database_url: str) -> str:
    """`postgresql://` means psycopg 3; any other URL is taken as given."""
    if database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + database_url[len("postgresql://") :]
    return database_url


def create_collector_engine(database_url: str) -> Engine:
    """An engine for the URL; SQLite files get WAL and synchronous=FULL on every connection."""
    url = make_url(engine_url(database_url))
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"the collector stores into SQLite or PostgreSQL, not {backend}")
    # Errors are logged: keep entry values (personal data) out of their messages.
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, hide_parameters=True, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def create_tables(engine: Engine) -> None:
    CollectorTable.metadata.create_all(engine)


def store_batch(session: Session, *, batch: EntriesBatch, received_at: datetime) -> None:
    """Insert the batch's entries, skipping ids already stored. The caller commits."""
    rows = [
        {
            **entry.model_dump(exclude={"override"}),
            "occurred_at": _utc(entry.occurred_at),
            "direction": entry.direction.value,
            "code_check": entry.code_check.value,
            "code_status": entry.code_status.value,
            "decision": entry.decision.value,
            "override_by": entry.override.by if entry.override else None,
            "override_reason": entry.override.reason if entry.override else None,
            "sent_at": _utc(batch.sent_at),
            "received_at": _utc(received_at),
        }
        for entry in batch.entries
    ]
    session.execute(_insert_ignoring_duplicates(session), rows)


def _insert_ignoring_duplicates(session: Session) -> Insert:
    dialect = session.get_bind().dialect.name
    table = CollectedEntry.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["id"])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=["id"])


def save_state(
    session: Session, *, site: str, gate: str, message: StateMessage, seen_at: datetime | None
) -> None:
    """Record a gate's state; fields the message leaves out (a last will) keep their values.

    `seen_at` is when the gate was last heard live; None (a retained message) keeps the old one.
    """
    row = session.get(GateState, (site, gate))
    if row is None:
        row = GateState(site=site, gate=gate, state=message.state)
    row.state = message.state
    if seen_at is not None:
        row.last_seen = _utc(seen_at)
    fields = message.model_fields_set
    if "version" in fields:
        row.version = message.version
    if "backlog" in fields:
        row.backlog = message.backlog
    if "oldest_unsynced" in fields:
        oldest = message.oldest_unsynced
        row.oldest_unsynced = _utc(oldest) if oldest else None
    if "devices" in fields and message.devices is not None:
        row.devices = {name: dev.model_dump(mode="json") for name, dev in message.devices.items()}
    session.add(row)


def entry_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(CollectedEntry)).scalar_one())


def gate_states(session: Session) -> Sequence[GateState]:
    return list(session.execute(select(GateState)).scalars())


def _utc(value: datetime) -> datetime:
    # SQLite keeps the wall time and drops the offset, so store everything in UTC.
    return value.astimezone(UTC)
