"""Keyword-only data access for a guard's handheld-thermometer reading on a recorded entry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from gateway.core.values import Decision, Entry
from gateway.storage import entries


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
    changes = {
        "temperature_c": celsius,
        "temperature_source": source,
        "remeasured": True,
        "decision": decision,
        "reasons": tuple(reasons),
    }
    return entries.amend(session, entry_id=entry_id, changes=changes)
