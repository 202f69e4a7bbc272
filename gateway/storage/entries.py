"""Keyword-only data access for entries. The caller's session owns the transaction.

An entry's wire JSON is written into its outbox row in the transaction that records or
amends it, so the publisher reads bytes ready to send (`pending`) and nothing is reshaped
on the way out.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlmodel import Session

from gateway.core.entry_schema import COLUMN_NAMES, from_columns, to_columns, wire_json
from gateway.core.errors import EntryNotFoundError
from gateway.core.ports import ANY_REVISION, OutboxItem
from gateway.core.values import (
    Backlog,
    CodeStatus,
    Decision,
    Direction,
    Entry,
    NewEntry,
    Override,
)
from gateway.storage.tables import ENTRIES, OUTBOX, CounterRow

ENTRY_SEQ = "entry_seq"
_NEW_FIELDS = tuple(spec.name for spec in fields(NewEntry))

_PENDING = "SELECT seq, entry_id, revision, wire FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?"
# Settling an ack: the outbox rows it names, in a revision no newer than the one the
# collector stored, leave the outbox (by rowid); the parameter is a JSON object of
# entry id -> revision stored.
_SETTLE = (
    "DELETE FROM outbox WHERE seq IN (SELECT outbox.seq FROM json_each(?) AS acked "
    "JOIN outbox ON outbox.entry_id = acked.key WHERE outbox.revision <= acked.value)"
)


_COUNTERS = CounterRow.__table__  # type: ignore[attr-defined]
_TAKE_SEQ = (
    sqlite_insert(_COUNTERS)
    .values(name=ENTRY_SEQ, value=1)
    .on_conflict_do_update(index_elements=["name"], set_={"value": _COUNTERS.c.value + 1})
    .returning(_COUNTERS.c.value)
)
_INSERT_ENTRY = insert(ENTRIES)
_QUEUE = sqlite_insert(OUTBOX)
_QUEUE = _QUEUE.on_conflict_do_update(
    index_elements=[OUTBOX.c.seq],
    set_={"revision": _QUEUE.excluded.revision, "wire": _QUEUE.excluded.wire},
)


def next_seq(session: Session) -> int:
    """Take the next entry sequence number; it is never handed out again."""
    return int(session.execute(_TAKE_SEQ).scalar_one())


def add_entry(session: Session, *, entry: NewEntry) -> Entry:
    """Insert an entry and its outbox row (with its wire JSON) in the session's transaction."""
    recorded = Entry(**{name: getattr(entry, name) for name in _NEW_FIELDS}, seq=next_seq(session))
    # Values as parameters, not in the statement: the compiled statement is reused.
    session.execute(_INSERT_ENTRY, to_columns(recorded))
    _queue(session, recorded)
    return recorded


def salvage_rows(
    session: Session,
    *,
    rows: Sequence[dict[str, object]],
    highest_seq: int,
    synced: Collection[int],
) -> int:
    """Re-record entry rows read from a damaged database, keeping ids and seqs; only the
    seqs in `synced` (known to be synced there) stay out of the outbox.

    The sequence continues above `highest_seq`, so no number handed out before is reused.
    Columns a damaged file of an older schema lacks take their defaults.
    """
    count = 0
    highest = highest_seq
    for raw in rows:
        values: dict[str, Any] = {name: raw.get(name) for name in COLUMN_NAMES}
        values["revision"] = values["revision"] or 0
        if isinstance(values["occurred_at"], str):
            values["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
        entry = from_columns(values)
        if _row(session, entry.id) is not None:
            continue
        session.execute(_INSERT_ENTRY, to_columns(entry))
        if entry.seq not in synced:
            _queue(session, entry)
        highest = max(highest, entry.seq)
        count += 1
    counter = session.get(CounterRow, ENTRY_SEQ) or CounterRow(name=ENTRY_SEQ, value=0)
    counter.value = max(counter.value, highest)
    session.add(counter)
    session.flush()
    return count


def fill_wire(session: Session) -> int:
    """Write the wire JSON of outbox rows queued before it was kept there; how many."""
    rows = session.execute(
        select(ENTRIES).join(OUTBOX, OUTBOX.c.seq == ENTRIES.c.seq).where(OUTBOX.c.wire.is_(None))
    ).mappings()
    filled = 0
    for row in rows.all():
        _queue(session, from_columns(row))
        filled += 1
    return filled


def amend_entry(
    session: Session,
    *,
    entry_id: str,
    decision: Decision,
    reasons: Sequence[str],
    code_status: CodeStatus | None = None,
    confirmed_by: str | None = None,
    override: Override | None = None,
) -> Entry:
    """Record a guard's action on an entry: a new revision, to be synced again."""
    changes: dict[str, Any] = {"decision": decision, "reasons": tuple(reasons)}
    if code_status is not None:
        changes["code_status"] = code_status
    if confirmed_by is not None:
        changes["confirmed_by"] = confirmed_by
    if override is not None:
        changes["override"] = override
    return amend(session, entry_id=entry_id, changes=changes)


def amend(session: Session, *, entry_id: str, changes: Mapping[str, Any]) -> Entry:
    """Change an entry's fields as a new revision (queued to be synced again)."""
    current = get_entry(session, entry_id=entry_id)
    amended = replace(current, **changes, revision=current.revision + 1)
    session.execute(update(ENTRIES).where(ENTRIES.c.id == entry_id).values(to_columns(amended)))
    _queue(session, amended)
    return amended


def _queue(session: Session, entry: Entry) -> None:
    """Put this revision of the entry in the outbox, replacing an older one waiting there."""
    values = {"seq": entry.seq, "entry_id": entry.id, "revision": entry.revision}
    session.execute(_QUEUE, {**values, "wire": wire_json(entry)})


def admitted_since(
    session: Session, *, subject: str, direction: Direction, since: datetime
) -> bool:
    """Whether this subject was admitted in this direction since `since` (pass-back)."""
    found = session.execute(
        select(ENTRIES.c.id)
        .where(
            ENTRIES.c.subject == subject,
            ENTRIES.c.direction == direction.value,
            ENTRIES.c.occurred_at >= since,
            ENTRIES.c.decision == Decision.ADMIT.value,
        )
        .limit(1)
    ).first()
    return found is not None


def get_entry(session: Session, *, entry_id: str) -> Entry:
    row = _row(session, entry_id)
    if row is None:
        raise EntryNotFoundError(f"no entry {entry_id}")
    return from_columns(row)


def _row(session: Session, entry_id: str) -> Mapping[Any, Any] | None:
    return session.execute(select(ENTRIES).where(ENTRIES.c.id == entry_id)).mappings().first()


def pending(cursor: DBAPICursor, *, after_seq: int, limit: int) -> list[OutboxItem]:
    """Unacknowledged entries above `after_seq`, in `seq` order, as their wire JSON."""
    cursor.execute(_PENDING, (after_seq, limit))
    return [OutboxItem._make(row) for row in cursor.fetchall()]


def mark_synced(
    connection: Connection, *, ids: Sequence[str], revisions: Sequence[int] | None = None
) -> int:
    """Mark acknowledged entries synced (their outbox rows go); how many were still pending.

    With `revisions` (one per id), an entry is settled only if the acknowledged revision is
    at least its own: a guard's newer revision stays queued. One statement, whatever the
    number of entries.
    """
    acked: dict[str, int] = {}
    for entry_id, revision in zip(ids, revisions or [ANY_REVISION] * len(ids), strict=True):
        acked[entry_id] = max(revision, acked.get(entry_id, revision))
    if not acked:
        return 0
    settled = connection.exec_driver_sql(_SETTLE, (json.dumps(acked),))
    return int(settled.rowcount)


def backlog(session: Session) -> Backlog:
    count = session.execute(select(func.count()).select_from(OUTBOX)).scalar_one()
    oldest = session.execute(
        select(ENTRIES.c.occurred_at)
        .join(OUTBOX, OUTBOX.c.seq == ENTRIES.c.seq)
        .order_by(OUTBOX.c.seq)
        .limit(1)
    ).scalar_one_or_none()
    return Backlog(count=int(count), oldest=_utc(oldest) if oldest else None)


def recent_entries(session: Session, *, limit: int) -> list[Entry]:
    rows = session.execute(select(ENTRIES).order_by(ENTRIES.c.seq.desc()).limit(limit))
    return [from_columns(row) for row in rows.mappings()]


def _utc(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
