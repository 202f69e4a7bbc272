"""The manager's view of the entries: statistics, search and export, on a gateway or a
collector database (both have the `entries` table with the export's columns).

Days are the manager's local days: the browser says its UTC offset.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.export import csv_bytes, iter_rows, xlsx_bytes

_VISITOR = "visitor"


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


class Records:
    """Reads the entries of a database given by URL (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, period: Period) -> Iterator[dict[str, Any]]:
        """Rows of the period in time order, as `checkpoint export` writes them."""
        # Fetch the UTC days around the local ones, then keep the local days exactly.
        rows = iter_rows(
            self.url,
            date_from=period.first - timedelta(days=1),
            date_to=period.last + timedelta(days=1),
        )
        return (row for row in rows if period.covers(row["occurred_at"]))

    def stats(self, period: Period) -> Stats:
        decisions: Counter[str] = Counter()
        hourly = {"in": [0] * 24, "out": [0] * 24}
        fever = red = yellow = overrides = visitors = total = 0
        for row in self.rows(period):
            total += 1
            decisions[row["decision"]] += 1
            hourly.setdefault(row["direction"], [0] * 24)[
                period.local(row["occurred_at"]).hour
            ] += 1
            fever += "fever" in json.loads(row["reasons"])
            red += row["code_status"] == "red"
            yellow += row["code_status"] == "yellow"
            overrides += row["override_by"] is not None
            visitors += row["code_format"] == _VISITOR
        return Stats(
            total=total,
            admit=decisions["admit"],
            refer=decisions["refer"],
            deny=decisions["deny"],
            entering=sum(hourly["in"]),
            leaving=sum(hourly["out"]),
            fever=fever,
            red=red,
            yellow=yellow,
            overrides=overrides,
            visitors=visitors,
            hourly_in=hourly["in"],
            hourly_out=hourly["out"],
        )

    def search(
        self,
        period: Period,
        *,
        text: str = "",
        decision: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Matching rows newest first: how many match, and the page asked for."""
        needle = text.strip().casefold()
        found = [
            row
            for row in self.rows(period)
            if (decision is None or row["decision"] == decision)
            and (not needle or needle in _haystack(row))
        ]
        found.reverse()
        return len(found), found[offset : offset + limit]

    def csv(self, period: Period) -> tuple[int, bytes]:
        return csv_bytes(self.rows(period))

    def xlsx(self, period: Period) -> tuple[int, bytes]:
        return xlsx_bytes(self.rows(period))

    def gates(self) -> list[GateSync]:
        """The gates a collector database knows (empty for a gateway database)."""
        engine = create_engine(self.url)
        try:
            if not inspect(engine).has_table("gates"):
                return []
            table = Table("gates", MetaData(), autoload_with=engine)
            with engine.connect() as connection:
                rows = connection.execute(select(table).order_by(table.c.site, table.c.gate))
                return [
                    GateSync(
                        site=row.site,
                        gate=row.gate,
                        state=row.state,
                        backlog=row.backlog,
                        oldest_unsynced=row.oldest_unsynced,
                        last_seen=row.last_seen,
                    )
                    for row in rows
                ]
        except SQLAlchemyError:
            return []
        finally:
            engine.dispose()


def _haystack(row: dict[str, Any]) -> str:
    fields = ("id", "gate", "lane", "subject_label", "decision", "code_status", "reasons")
    values = [str(row[name] or "") for name in (*fields, "override_by", "override_reason")]
    return " ".join(values).casefold()
