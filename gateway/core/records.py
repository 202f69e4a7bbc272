"""The entries as managers see them: the export's columns, periods of local days, the day's
figures, and each gate's sync state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from gateway.core.entry_schema import ENTRY_COLUMNS

# The column contract of DESIGN 4.2: these first, then the rest of the entry.
FIRST = ("id", "seq", "gate", "site", "occurred_at", "direction", "decision")
COLUMNS = (*FIRST, *(c.name for c in ENTRY_COLUMNS if c.name not in FIRST))


@dataclass(frozen=True, slots=True)
class Period:
    """Local days `first`..`last` (inclusive) at `offset_min` minutes east of UTC."""

    first: date
    last: date
    offset_min: int = 0

    def local(self, occurred_at: str) -> datetime:
        return datetime.fromisoformat(occurred_at) + timedelta(minutes=self.offset_min)

    def covers(self, occurred_at: str) -> bool:
        return self.first <= self.local(occurred_at).date() <= self.last


@dataclass(frozen=True, slots=True)
class Stats:
    total: int
    admit: int
    refer: int
    deny: int
    entering: int
    leaving: int
    fever: int
    red: int
    yellow: int
    overrides: int
    visitors: int
    hourly_in: list[int] = field(default_factory=lambda: [0] * 24)
    hourly_out: list[int] = field(default_factory=lambda: [0] * 24)


@dataclass(frozen=True, slots=True)
class GateSync:
    """A gate as the sync status shows it."""

    site: str
    gate: str
    state: str  # online, offline, or local-only (no broker configured)
    backlog: int | None
    oldest_unsynced: datetime | None
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class DayStats:
    day: date
    total: int
    by_decision: dict[str, int]
    by_direction: dict[str, int]
    by_hour: dict[int, int]
    fever: int
    red_or_yellow: int
