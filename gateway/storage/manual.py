"""Keyword-only data access for a guard's handheld-thermometer reading on a recorded entry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from gateway.core.errors import EntryNotFoundError
from gateway.core.values import Decision, Entry
from gateway.storage import entries
from gateway.storage.tables import EntryRow


def amend_temperature(
    session: Session,
    *,
    entry_id: str,
    celsius: float,
    source: str,
    decision: Decision,
    reasons: Sequence[str],
) -> Entry:
    """Record a new temperature and the decision it leads to: a new revision, synced again."""
    entries.amend_entry(session, entry_id=entry_id, decision=decision, reasons=reasons)
    row = session.get(EntryRow, entry_id)
    if row is None:
        raise EntryNotFoundError(f"no entry {entry_id}")
    row.temperature_c = celsius
    row.temperature_source = source
    row.remeasured = True
    session.add(row)
    session.flush()
    return entries.to_entry(row)
