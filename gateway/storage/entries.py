"""Keyword-only data access for entries. The caller's session owns the transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlmodel import Session, col

from gateway.core.errors import EntryNotFoundError
from gateway.core.values import (
    Backlog,
    CodeCheck,
    CodeStatus,
    Decision,
    Direction,
    Entry,
    NewEntry,
    Override,
)
from gateway.storage.tables import CounterRow, EntryRow, OutboxRow

ENTRY_SEQ = "entry_seq"


def next_seq(session: Session) -> int:
    """Take the next entry sequence number; it is never handed out again."""
    counter = session.get(CounterRow, ENTRY_SEQ)
    if counter is None:
        counter = CounterRow(name=ENTRY_SEQ, value=0)
    counter.value += 1
    session.add(counter)
    session.flush()
    return counter.value


def add_entry(session: Session, *, entry: NewEntry) -> Entry:
    """Insert an entry and its outbox row in the session's transaction."""
    seq = next_seq(session)
    row = EntryRow(
        id=entry.id,
        seq=seq,
        gate=entry.gate,
        site=entry.site,
        lane=entry.lane,
        direction=entry.direction.value,
        occurred_at=entry.occurred_at,
        clock_synced=entry.clock_synced,
        boot_id=entry.boot_id,
        monotonic_ns=entry.monotonic_ns,
        code_format=entry.code_format,
        code_check=entry.code_check.value,
        code_status=entry.code_status.value,
        subject=entry.subject,
        subject_label=entry.subject_label,
        payload_digest=entry.payload_digest,
        temperature_c=entry.temperature_c,
        temperature_source=entry.temperature_source,
        remeasured=entry.remeasured,
        decision=entry.decision.value,
        reasons=list(entry.reasons),
        override_by=entry.override.by if entry.override else None,
        override_reason=entry.override.reason if entry.override else None,
        confirmed_by=entry.confirmed_by,
    )
    session.add(row)
    session.add(OutboxRow(seq=seq, entry_id=entry.id))
    session.flush()
    return to_entry(row)


def salvage_rows(session: Session, *, rows: Sequence[dict[str, object]], highest_seq: int) -> int:
    """Re-record entry rows read from a damaged database, keeping ids, seqs and sync state.

    The sequence continues above `highest_seq`, so no number handed out before is reused.
    """
    count = 0
    highest = highest_seq
    for raw in rows:
        values = {name: raw.get(name) for name in EntryRow.model_fields}
        if isinstance(values["reasons"], str):
            values["reasons"] = json.loads(values["reasons"])
        row = EntryRow.model_validate(values)
        if session.get(EntryRow, row.id) is not None:
            continue
        session.add(row)
        if row.synced_at is None:
            session.add(OutboxRow(seq=row.seq, entry_id=row.id))
        highest = max(highest, row.seq)
        count += 1
    counter = session.get(CounterRow, ENTRY_SEQ) or CounterRow(name=ENTRY_SEQ, value=0)
    counter.value = max(counter.value, highest)
    session.add(counter)
    session.flush()
    return count


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
    row = session.get(EntryRow, entry_id)
    if row is None:
        raise EntryNotFoundError(f"no entry {entry_id}")
    row.decision = decision.value
    row.reasons = list(reasons)
    if code_status is not None:
        row.code_status = code_status.value
    if confirmed_by is not None:
        row.confirmed_by = confirmed_by
    if override is not None:
        row.override_by, row.override_reason = override.by, override.reason
    row.revision += 1
    row.synced_at = None
    session.add(row)
    if session.get(OutboxRow, row.seq) is None:
        session.add(OutboxRow(seq=row.seq, entry_id=row.id))
    session.flush()
    return to_entry(row)


def admitted_since(
    session: Session, *, subject: str, direction: Direction, since: datetime
) -> bool:
    """Whether this subject was admitted in this direction since `since` (pass-back)."""
    found = session.execute(
        select(col(EntryRow.id))
        .where(
            col(EntryRow.subject) == subject,
            col(EntryRow.direction) == direction.value,
            col(EntryRow.occurred_at) >= since,
            col(EntryRow.decision) == Decision.ADMIT.value,
        )
        .limit(1)
    ).first()
    return found is not None


def get_entry(session: Session, *, entry_id: str) -> Entry:
    row = session.get(EntryRow, entry_id)
    if row is None:
        raise EntryNotFoundError(f"no entry {entry_id}")
    return to_entry(row)


def pending_entries(session: Session, *, after_seq: int, limit: int) -> list[Entry]:
    """Unacknowledged entries above `after_seq`, in `seq` order."""
    rows = session.execute(
        select(EntryRow)
        .join(OutboxRow, col(OutboxRow.seq) == col(EntryRow.seq))
        .where(col(OutboxRow.seq) > after_seq)
        .order_by(col(OutboxRow.seq))
        .limit(limit)
    ).scalars()
    return [to_entry(row) for row in rows]


def mark_synced(
    session: Session,
    *,
    ids: Sequence[str],
    at: datetime,
    revisions: Sequence[int] | None = None,
) -> int:
    """Mark acknowledged entries synced and drop them from the outbox.

    With `revisions` (one per id), an entry is settled only if the acknowledged revision is
    at least its own: a guard's newer revision stays queued.
    """
    if revisions is None:
        return _settle(session, ids, at)
    newest: dict[str, int] = {}
    for entry_id, revision in zip(ids, revisions, strict=True):
        newest[entry_id] = max(revision, newest.get(entry_id, revision))
    by_revision: dict[int, list[str]] = {}
    for entry_id, revision in newest.items():
        by_revision.setdefault(revision, []).append(entry_id)
    # Nearly always one group (revision 0); the revision test runs inside SQLite.
    return sum(
        _settle(session, group, at, revision=revision) for revision, group in by_revision.items()
    )


def _settle(session: Session, ids: Sequence[str], at: datetime, revision: int | None = None) -> int:
    """Settle these entries (only those at `revision` or older, if given); how many were
    still in the outbox."""
    if not ids:
        return 0
    chosen: ColumnElement[bool] = col(EntryRow.id).in_(ids)
    if revision is not None:
        chosen = and_(chosen, col(EntryRow.revision) <= revision)
    # By primary key only (a `synced_at IS NULL` filter would scan the whole backlog);
    # an entry synced before keeps its first time.
    settled = session.execute(
        update(EntryRow)
        .where(chosen)
        .values(synced_at=func.coalesce(col(EntryRow.synced_at), at))
        .returning(col(EntryRow.id))
    ).scalars()
    removed = session.execute(delete(OutboxRow).where(col(OutboxRow.entry_id).in_(list(settled))))
    return int(removed.rowcount)  # type: ignore[attr-defined]


def backlog(session: Session) -> Backlog:
    count = session.execute(select(func.count()).select_from(OutboxRow)).scalar_one()
    oldest = session.execute(
        select(col(EntryRow.occurred_at))
        .join(OutboxRow, col(OutboxRow.seq) == col(EntryRow.seq))
        .order_by(col(OutboxRow.seq))
        .limit(1)
    ).scalar_one_or_none()
    return Backlog(count=int(count), oldest=_utc(oldest) if oldest else None)


def recent_entries(session: Session, *, limit: int) -> list[Entry]:
    rows = session.execute(
        select(EntryRow).order_by(col(EntryRow.seq).desc()).limit(limit)
    ).scalars()
    return [to_entry(row) for row in rows]


def to_entry(row: EntryRow) -> Entry:
    override = (
        Override(by=row.override_by, reason=row.override_reason or "") if row.override_by else None
    )
    return Entry(
        id=row.id,
        seq=row.seq,
        gate=row.gate,
        site=row.site,
        lane=row.lane,
        direction=Direction(row.direction),
        occurred_at=_utc(row.occurred_at),
        clock_synced=row.clock_synced,
        boot_id=row.boot_id,
        monotonic_ns=row.monotonic_ns,
        code_format=row.code_format,
        code_check=CodeCheck(row.code_check),
        code_status=CodeStatus(row.code_status),
        subject=row.subject,
        subject_label=row.subject_label,
        payload_digest=row.payload_digest,
        temperature_c=row.temperature_c,
        temperature_source=row.temperature_source,
        remeasured=row.remeasured,
        decision=Decision(row.decision),
        reasons=tuple(row.reasons),
        override=override,
        confirmed_by=row.confirmed_by,
        revision=row.revision,
        synced_at=_utc(row.synced_at) if row.synced_at else None,
    )


def _utc(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
