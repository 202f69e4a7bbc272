"""Who went in and out: a person's passages, their contacts at the gates, and the persons not
seen lately, from a gateway or a collector database (SQLite or PostgreSQL).

A person is their pseudonym (`subject`), the form in which the gates store them; lists show
the masked label the gate recorded (e.g. "张*华 3-2-501"), never a code. The queries use the
indexes on (subject, occurred_at) and (site, gate, occurred_at).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, MetaData, Table, and_, create_engine, func, inspect, select
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

from gateway.core.lookups import (
    DEFAULT_OUT_HOURS,
    DEFAULT_WINDOW_MIN,
    FEVER,
    Absence,
    Contact,
    LookupFailed,
    Passage,
)

LAST_PASSAGES = "last_passages"  # a collector's: each person's last passage


class Lookups:
    """The three lookups on one database; `close` releases its connections."""

    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(url)
        try:
            self._entries = Table("entries", MetaData(), autoload_with=self._engine)
            self._last: Table | None = (
                Table(LAST_PASSAGES, MetaData(), autoload_with=self._engine)
                if inspect(self._engine).has_table(LAST_PASSAGES)
                else None
            )
        except (NoSuchTableError, SQLAlchemyError) as exc:
            self._engine.dispose()
            raise LookupFailed(f"no entries table to look in: {_brief(exc)}") from None

    def close(self) -> None:
        self._engine.dispose()

    def subject_of(self, entry_id: str) -> str | None:
        """The pseudonym of the person an entry names (None: no entry, or nobody known)."""
        e = self._entries.c
        rows = self._rows(select(e.subject).where(e.id == entry_id).limit(1))
        return rows[0].subject if rows else None

    def trace(self, subject: str, start: datetime, end: datetime) -> list[Passage]:
        """Every passage of `subject` at any gate from `start` to `end`, in time order."""
        e = self._entries.c
        wanted = ("occurred_at", "site", "gate", "direction", "decision", "temperature_c")
        query = (
            select(*(e[name] for name in wanted), e.reasons, e.subject_label)
            .where(e.subject == subject, e.occurred_at >= start, e.occurred_at <= end)
            .order_by(e.occurred_at)
        )
        return [
            Passage(
                occurred_at=_utc(row.occurred_at),
                site=row.site,
                gate=row.gate,
                direction=row.direction,
                decision=row.decision,
                temperature_c=row.temperature_c,
                fever=_fever(row.reasons),
                label=row.subject_label,
            )
            for row in self._rows(query)
        ]

    def contacts(
        self,
        subject: str,
        start: datetime,
        end: datetime,
        *,
        window_min: int = DEFAULT_WINDOW_MIN,
    ) -> list[Contact]:
        """Persons who passed a gate within ±`window_min` of a passage of `subject` there,
        most shared passages first."""
        window = timedelta(minutes=window_min)
        passages = self.trace(subject, start, end)
        found: dict[str, _Near] = {}
        for index, passage in enumerate(passages):
            for row in self._near(subject, passage, window):
                near = found.setdefault(row.subject, _Near())
                near.passages.add(index)
                gap = abs((_utc(row.occurred_at) - passage.occurred_at).total_seconds())
                if gap < near.closest_s:
                    near.closest_s, near.entry_id = gap, row.id
                near.fever = near.fever or _fever(row.reasons)
                near.label = row.subject_label or near.label
        contacts = [
            Contact(
                person, near.label, len(near.passages), near.closest_s, near.fever, near.entry_id
            )
            for person, near in found.items()
        ]
        return sorted(contacts, key=lambda c: (-c.shared, c.closest_s, c.subject))

    def absent(
        self, *, days: int, now: datetime, out_hours: int = DEFAULT_OUT_HOURS
    ) -> list[Absence]:
        """Persons whose last passage is more than `days` days before `now`, and persons whose
        last passage was out more than `out_hours` hours ago; longest ago first."""
        unseen, away = now - timedelta(days=days), now - timedelta(hours=out_hours)
        absences: dict[str, Absence] = {}
        for row in self._rows(self._last_passages(before=max(unseen, away))):
            last_at = _utc(row.occurred_at)
            out = row.direction == "out" and last_at < away
            why = "not-seen" if last_at < unseen else "out" if out else None
            if why is not None:
                absences[row.subject] = Absence(
                    row.subject, row.subject_label, last_at, row.site, row.gate, row.direction, why
                )
        return sorted(absences.values(), key=lambda a: (a.last_at, a.subject))

    def _last_passages(self, *, before: datetime) -> Any:
        """Each person's last passage if it is before `before`: from the collector's
        `last_passages` where there is one, else from the entries themselves."""
        if self._last is not None:
            last = self._last.c
            wanted = ("subject", "subject_label", "occurred_at", "site", "gate", "direction")
            return select(*(last[name] for name in wanted)).where(last.occurred_at < before)
        e = self._entries.c
        latest = (
            select(e.subject, func.max(e.occurred_at).label("last_at"))
            .where(e.subject.is_not(None))
            .group_by(e.subject)
            .subquery()
        )
        return (
            select(e.subject, e.subject_label, e.occurred_at, e.site, e.gate, e.direction)
            .join(latest, and_(e.subject == latest.c.subject, e.occurred_at == latest.c.last_at))
            .where(e.occurred_at < before)
        )

    def _near(self, subject: str, passage: Passage, window: timedelta) -> Iterator[Any]:
        e = self._entries.c
        query = select(e.id, e.subject, e.subject_label, e.occurred_at, e.reasons).where(
            e.site == passage.site,
            e.gate == passage.gate,
            e.occurred_at >= passage.occurred_at - window,
            e.occurred_at <= passage.occurred_at + window,
            e.subject.is_not(None),
            e.subject != subject,
        )
        return iter(self._rows(query))

    def _rows(self, query: Any) -> Sequence[Any]:
        try:
            with self._engine.connect() as connection:
                return connection.execute(query).all()
        except SQLAlchemyError as exc:
            raise LookupFailed(f"cannot read the entries: {_brief(exc)}") from None


@dataclass(slots=True)
class _Near:
    """What is known so far of one contact."""

    passages: set[int] = field(default_factory=set)
    closest_s: float = float("inf")
    entry_id: str = ""
    fever: bool = False
    label: str | None = None


def _fever(reasons: Any) -> bool:
    held = json.loads(reasons) if isinstance(reasons, str) else reasons
    return FEVER in (held or ())


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive UTC times.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _brief(exc: Exception) -> str:
    return str(exc).splitlines()[0]
