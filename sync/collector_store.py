"""The collector's database: entries of all gates and the last known state of each gate.

Dialect-neutral (SQLite or PostgreSQL) except for the idempotent upsert. The tables live in
their own `MetaData`, apart from the gateway's, with the gateway's column names so one export
reads both. A PostgreSQL `entries` table partitioned by day (deploy/postgresql/) is used as
found: its key is (id, occurred_at), as PostgreSQL wants the partition column in it.

An entry arrives again when a batch is resent (stored once: nothing changes) or when a guard
acted on it after recording (a higher `revision`: its decision and what led to it are
updated). Its identity, its times and the collector's receive times never change.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Insert,
    Integer,
    LargeBinary,
    String,
    Table,
    and_,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import registry
from sqlalchemy.sql.elements import TextClause
from sqlmodel import Field, Session, SQLModel

from gateway.core.entry_schema import ENTRY_COLUMNS, FIXED_NAMES, GROUP_COLUMNS
from gateway.core.entry_sql import entry_columns
from gateway.core.errors import CheckpointError, StorageError
from sync.batch import EntriesBatch, WireEntry
from sync.bundle import EntriesBundle
from sync.timing import corrected_time
from sync.wire import StateMessage

collector_registry = registry()


class CollectorTable(SQLModel, registry=collector_registry):
    """Base of the collector's tables: `CollectorTable.metadata` is theirs alone."""


ENTRIES = Table(
    "entries",
    CollectorTable.metadata,
    *entry_columns(),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # occurred_at on the collector's clock, for entries of a gate whose clock was not
    # synchronised (sync/timing.py); occurred_at itself is kept as the gate recorded it.
    Column("corrected_at", DateTime(timezone=True), nullable=True),
    Index("ix_entries_occurred_at", "occurred_at"),
    # Who went in and out (gateway.storage.lookups): a person's passages, and a gate's.
    Index("ix_entries_subject", "subject", "occurred_at"),
    Index("ix_entries_site_gate_occurred_at", "site", "gate", "occurred_at"),
)
"""Entries as received from the gateways (their columns: `gateway.core.entry_schema`);
`seq` is per gateway, so not unique here."""

LAST_PASSAGES = Table(
    "last_passages",
    CollectorTable.metadata,
    Column("subject", String, primary_key=True),
    # No index on the time: a person's row is then updated in place (a HOT update), and
    # reading one row per person is cheap next to the entries.
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("site", String, nullable=False),
    Column("gate", String, nullable=False),
    Column("direction", String, nullable=False),
    Column("subject_label", String, nullable=True),
)
"""Each person's last passage at any gate, kept with the entries in the same transaction, so
that the persons not seen lately are found without reading every entry (gateway.storage.lookups)."""
_LAST = ("subject", "occurred_at", "site", "gate", "direction", "subject_label")

REFUSED = Table(
    "refused_entries",
    CollectorTable.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String, nullable=False),
    Column("gate", String, nullable=False),
    Column("entry_id", String(36), nullable=True),
    Column("revision", Integer, nullable=True),
    Column("reason", String, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
)
"""Entries a gateway sent that are no valid entry (e.g. a newer gateway's): kept as sent,
with the reason, for a person to look at; acknowledged, so they do not block the gate."""

BUNDLES = Table(
    "imported_bundles",
    CollectorTable.metadata,
    Column("id", String(36), primary_key=True),
    Column("site", String, nullable=False),
    Column("gate", String, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)
"""Entries bundles carried in by hand (`sync.bundle`): each is imported once."""

# Set once when an entry is first stored; a later revision changes only the other columns.
FIXED_COLUMNS = FIXED_NAMES | {"sent_at", "received_at", "corrected_at"}
DEFAULT_KEY = ("id",)
_CREATE_LOCK = 0x636B7074  # any constant shared by all collectors ("ckpt")


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
    """Create missing tables and the `entries` indexes a newer collector added; an existing
    `entries` table (e.g. partitioned) is kept."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Collectors starting together would race to create the same tables.
            connection.execute(select(func.pg_advisory_xact_lock(_CREATE_LOCK)))
        had_last_passages = inspect(connection).has_table("last_passages")
        CollectorTable.metadata.create_all(connection)
        if not had_last_passages:
            _fill_last_passages(connection)
        present = {index["name"] for index in inspect(connection).get_indexes("entries")}
        for index in ENTRIES.indexes:
            if index.name not in present:
                index.create(connection)


def _fill_last_passages(connection: Connection) -> None:
    """Each person's last passage from the entries stored before the table existed."""
    e = ENTRIES.c
    last = (
        select(e.subject, func.max(e.occurred_at).label("occurred_at"))
        .where(e.subject.is_not(None))
        .group_by(e.subject)
        .subquery()
    )
    rows = select(*(e[name] for name in _LAST)).join(
        last, and_(e.subject == last.c.subject, e.occurred_at == last.c.occurred_at)
    )
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(
        insert(LAST_PASSAGES).from_select(list(_LAST), rows).on_conflict_do_nothing()
    )


def entry_key(engine: Engine) -> tuple[str, ...]:
    """The primary key of the `entries` table as it exists in the database."""
    columns = inspect(engine).get_pk_constraint("entries")["constrained_columns"]
    return tuple(columns) or DEFAULT_KEY


class ReceivedBatch(NamedTuple):
    """A valid entries batch and when the collector received it."""

    batch: EntriesBatch
    received_at: datetime


def store_batches(
    session: Session, received: Sequence[ReceivedBatch], *, key: Sequence[str] = DEFAULT_KEY
) -> None:
    """Upsert the batches' entries (on PostgreSQL in one statement); one stored already is
    updated only by a higher revision. Refused entries are kept aside as sent.

    `key` is the table's primary key (`entry_key`). The caller commits.
    """
    if session.get_bind().dialect.name == "postgresql":
        if any(item.batch.entries for item in received):
            session.execute(_bulk_upsert(tuple(key)), {"entries": _bulk_entries(received)})
    else:
        for batch, received_at in received:
            if batch.entries:
                rows = entry_rows(batch, received_at)
                session.execute(_upsert(session, key), rows)
                if last := _last_passages(rows):  # none when no entry names a person
                    session.execute(_last_passages_upsert(), last)
    refused = [
        {
            "site": batch.site,
            "gate": batch.gate,
            "entry_id": entry.id,
            "revision": entry.revision,
            "reason": entry.reason,
            "payload": entry.raw,
            "received_at": _utc(received_at),
        }
        for batch, received_at in received
        for entry in batch.refused
    ]
    if refused:
        session.execute(insert(REFUSED), refused)


class BundleConflictError(CheckpointError):
    """A bundle id imported before, now with other content: a replay that was changed."""


def store_bundle(
    session: Session,
    *,
    bundle: EntriesBundle,
    received_at: datetime,
    key: Sequence[str] = DEFAULT_KEY,
) -> bool:
    """Store a bundle's batches as if they had come over MQTT; False (storing nothing) when
    this very bundle was imported before. The caller commits."""
    digest = session.execute(
        select(BUNDLES.c.digest).where(BUNDLES.c.id == bundle.bundle_id)
    ).scalar_one_or_none()
    if digest is not None:
        if digest != bundle.digest:
            raise BundleConflictError(
                f"bundle {bundle.bundle_id} was imported before with other content"
            )
        return False
    store_batches(session, [ReceivedBatch(batch, received_at) for batch in bundle.batches], key=key)
    session.execute(
        insert(BUNDLES).values(
            id=bundle.bundle_id,
            site=bundle.site,
            gate=bundle.gate,
            digest=bundle.digest,
            entries=bundle.count,
            imported_at=_utc(received_at),
        )
    )
    return True


def entry_rows(batch: EntriesBatch, received_at: datetime) -> list[dict[str, Any]]:
    """The batch's entries as table rows, one per entry id (its highest revision)."""
    sent_at = _utc(batch.sent_at)
    received = _utc(received_at)
    rows = []
    for entry, _ in _newest([ReceivedBatch(batch, received_at)]):
        row = msgspec.to_builtins(entry)
        for group, parts in GROUP_COLUMNS.items():
            held = row.pop(group)
            for column in parts:
                row[column.name] = None if held is None else held[column.key]
        row["occurred_at"] = datetime.fromisoformat(row["occurred_at"]).astimezone(UTC)
        row["sent_at"] = sent_at
        row["received_at"] = received
        row["corrected_at"] = _utc_or_none(corrected_time(entry, batch, received_at))
        rows.append(row)
    return rows


def _newest(received: Sequence[ReceivedBatch]) -> list[tuple[Any, int]]:
    """Each entry (a `WireEntry`) of the batches once, in its highest revision (a resent id
    may come twice), with the index of the batch it came in."""
    newest: dict[str, tuple[Any, int]] = {}
    for index, (batch, _) in enumerate(received):
        for entry in batch.entries:
            earlier = newest.get(entry.id)
            if earlier is None or earlier[0].revision < entry.revision:
                newest[entry.id] = (entry, index)
    return list(newest.values())


def _last_passages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        subject = row["subject"]
        if subject is not None and (
            subject not in latest or latest[subject]["occurred_at"] < row["occurred_at"]
        ):
            latest[subject] = {name: row[name] for name in _LAST}
    return list(latest.values())


def _last_passages_upsert() -> sqlite.Insert:
    """SQLite: a later passage replaces a person's last one (the same one: its revision)."""
    statement = sqlite.insert(LAST_PASSAGES)
    return statement.on_conflict_do_update(
        index_elements=["subject"],
        set_={name: statement.excluded[name] for name in _LAST if name != "subject"},
        where=LAST_PASSAGES.c.occurred_at <= statement.excluded.occurred_at,
    )


def _insert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _upsert(session: Session, key: Sequence[str]) -> Insert:
    statement = _insert(session, ENTRIES)
    changes = {
        column.name: statement.excluded[column.name]
        for column in ENTRIES.columns
        if column.name not in FIXED_COLUMNS
    }
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_=changes,
        where=ENTRIES.c.revision < statement.excluded.revision,
    )


def _bulk_entries(received: Sequence[ReceivedBatch]) -> str:
    """The batches' validated entries (`_newest`) as one JSON array of arrays: an entry's
    fields in `WireEntry` order (the defaults of fields an older gateway leaves out filled
    in), then the collector's times as microseconds since the epoch (sent, received, and
    corrected: null unless the gate's clock was not synchronised). Arrays are cheaper for
    the server to take apart than objects, and numbers than times."""
    stamps = [(_micros(batch.sent_at), _micros(received_at)) for batch, received_at in received]
    rows = []
    for entry, index in _newest(received):
        batch, received_at = received[index]
        corrected = None if entry.clock_synced else corrected_time(entry, batch, received_at)
        corrected_us = None if corrected is None else _micros(corrected)
        rows.append((*msgspec.structs.astuple(entry), *stamps[index], corrected_us))
    return msgspec.json.encode(rows).decode()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AT_COLLECTOR = ("sent_at", "received_at", "corrected_at")


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


@functools.cache
def _bulk_upsert(key: tuple[str, ...]) -> TextClause:
    """PostgreSQL: the batches in one statement (one parse, one plan, one executor run). Each
    entry (`_bulk_entries`) is a JSON array whose items become columns by their position; a
    value object becomes its columns. The rows it stores update the persons' last passages."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]

    def sql_type(name: str) -> str:
        return str(ENTRIES.c[name].type.compile(dialect=dialect))

    fields: tuple[str, ...] = WireEntry.__struct_fields__
    taken = {
        name: f"TIMESTAMPTZ 'epoch' + CAST(e ->> {position} AS bigint) * INTERVAL '1 microsecond'"
        for position, name in enumerate(_AT_COLLECTOR, start=len(fields))
    }
    for column in ENTRY_COLUMNS:
        if column.group is not None:
            item = f"e -> {fields.index(column.group)} ->> '{column.key}'"
        elif column.type is list:  # stays JSON
            item = f"e -> {fields.index(column.name)}"
        else:
            item = f"e ->> {fields.index(column.name)}"
        taken[column.name] = f"CAST({item} AS {sql_type(column.name)})"
    names = [column.name for column in ENTRIES.columns]
    changes = ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name not in FIXED_COLUMNS)
    last = ", ".join(_LAST)
    last_changes = ", ".join(f"{name} = EXCLUDED.{name}" for name in _LAST[1:])
    return text(
        f"WITH stored AS (INSERT INTO entries ({', '.join(names)}) "
        f"SELECT {', '.join(taken[name] for name in names)} "
        "FROM jsonb_array_elements(CAST(:entries AS jsonb)) AS e "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {changes} "
        f"WHERE entries.revision < EXCLUDED.revision RETURNING {last}) "
        # Each person's last passage, in the same statement (see LAST_PASSAGES).
        f"INSERT INTO last_passages ({last}) "
        f"SELECT DISTINCT ON (subject) {last} FROM stored WHERE subject IS NOT NULL "
        "ORDER BY subject, occurred_at DESC "
        f"ON CONFLICT (subject) DO UPDATE SET {last_changes} "
        "WHERE last_passages.occurred_at <= EXCLUDED.occurred_at"
    )


def save_state(
    session: Session, *, site: str, gate: str, message: StateMessage, seen_at: datetime | None
) -> None:
    """Record a gate's state; fields the message leaves out (a last will) keep their values.

    `seen_at` is when the gate was last heard live; None (a retained message) keeps the old one.
    Every collector sees every state message, so this is one statement that cannot collide.
    """
    values: dict[str, Any] = {"site": site, "gate": gate, "state": message.state}
    if seen_at is not None:
        values["last_seen"] = _utc(seen_at)
    fields = message.model_fields_set
    if "version" in fields:
        values["version"] = message.version
    if "backlog" in fields:
        values["backlog"] = message.backlog
    if "oldest_unsynced" in fields:
        values["oldest_unsynced"] = _utc_or_none(message.oldest_unsynced)
    if "devices" in fields and message.devices is not None:
        values["devices"] = {
            name: device.model_dump(mode="json") for name, device in message.devices.items()
        }
    insert = _insert(session, GateState.__table__).values(values)  # type: ignore[attr-defined]
    changes = {name: insert.excluded[name] for name in values if name not in ("site", "gate")}
    session.execute(insert.on_conflict_do_update(index_elements=["site", "gate"], set_=changes))


def entry_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(ENTRIES)).scalar_one())


def gate_states(session: Session) -> Sequence[GateState]:
    return list(session.execute(select(GateState)).scalars())


def _utc(value: datetime) -> datetime:
    # SQLite keeps the wall time and drops the offset, so store everything in UTC.
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        detail = exc.orig if isinstance(exc, DBAPIError) else exc
        raise StorageError(f"{what}: {detail}") from exc


def read_gate_states(database_url: str) -> list[GateState]:
    """Each gate as the collector database last heard it."""
    with _translated("reading the gates"):
        engine = create_collector_engine(database_url)
        try:
            with Session(engine) as session:
                return list(gate_states(session))
        finally:
            engine.dispose()


def import_bundle(database_url: str, bundle: EntriesBundle, *, received_at: datetime) -> bool:
    """Store a hand-carried bundle in a collector database (its tables made if missing), in
    one transaction; False when this very bundle was imported before."""
    with _translated("storing the bundle"):
        engine = create_collector_engine(database_url)
        try:
            create_tables(engine)
            with Session(engine) as session, session.begin():
                return store_bundle(
                    session, bundle=bundle, received_at=received_at, key=entry_key(engine)
                )
        finally:
            engine.dispose()


def write_batches(
    engine: Engine, received: Sequence[ReceivedBatch], *, key: tuple[str, ...]
) -> None:
    """Store the batches in one transaction (see `store_batches`)."""
    with _translated("storing batches"), Session(engine) as session, session.begin():
        store_batches(session, received, key=key)


def write_state(
    engine: Engine, *, site: str, gate: str, message: StateMessage, seen_at: datetime | None
) -> None:
    """Store a gate's state message in its own transaction (see `save_state`)."""
    with _translated("storing a gate's state"), Session(engine) as session, session.begin():
        save_state(session, site=site, gate=gate, message=message, seen_at=seen_at)
