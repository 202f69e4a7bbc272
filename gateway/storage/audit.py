"""Keyword-only data access for the audit log. The caller's session owns the transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session, col

from gateway.core.values import AuditRecord
from gateway.storage.tables import AuditRow


def add_audit(
    session: Session,
    *,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    entry_id: str | None = None,
    detail: str = "",
) -> None:
    session.add(
        AuditRow(at=at, actor=actor, role=role, action=action, entry_id=entry_id, detail=detail)
    )
    session.flush()


def recent_audit(session: Session, *, limit: int, action: str | None = None) -> list[AuditRecord]:
    """The newest records first, optionally of one action only."""
    query = select(AuditRow).order_by(col(AuditRow.id).desc()).limit(limit)
    if action is not None:
        query = query.where(col(AuditRow.action) == action)
    return [
        AuditRecord(
            at=row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC),
            actor=row.actor,
            role=row.role,
            action=row.action,
            entry_id=row.entry_id,
            detail=row.detail,
        )
        for row in session.execute(query).scalars()
    ]
