"""The entries of a gateway or a collector database (both have the `entries` table with the
export's columns): rows in time order, the managers' statistics and search, each gate's sync
state, and the lookups of a person.

Days are the manager's local days: the browser says its UTC offset.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, create_engine, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.core.records import COLUMNS, DayStats, GateSync, Period, Stats
from gateway.storage.engine import translated
from gateway.storage.lookups import Lookups

_VISITOR = "visitor"


def database_url(value: str | Path) -> str:
    """Accept a URL, or a plain path to a SQLite file."""
    text = str(value)
    if "://" in text:
        return text.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{Path(text).resolve()}"


def iter_rows(
    url: str, *, date_from: date | None = None, date_to: date | None = None
) -> Iterator[dict[str, Any]]:
    """Entries in time order, as plain values in `COLUMNS` order (days are UTC, inclusive)."""
    engine = create_engine(url)
    try:
        with translated("reading the entries"):
            yield from _rows(engine, date_from, date_to)
    finally:
        engine.dispose()


def _rows(engine: Engine, date_from: date | None, date_to: date | None) -> Iterator[dict[str, Any]]:
    table = Table("entries", MetaData(), autoload_with=engine)
    query = select(*(table.c[name] for name in COLUMNS)).order_by(
        table.c.occurred_at, table.c.gate, table.c.seq
    )
    if date_from is not None:
        query = query.where(table.c.occurred_at >= _day_start(date_from))
    if date_to is not None:
        query = query.where(table.c.occurred_at < _day_start(date_to + timedelta(days=1)))
    with engine.connect() as connection:
        for row in connection.execute(query):
            yield {name: _plain(row._mapping[name]) for name in COLUMNS}


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

    def lookups(self) -> Lookups:
        """The lookups of a person on this database (close them after use)."""
        return Lookups(self.url)

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


def day_stats(url: str, day: date) -> DayStats:
    decisions: Counter[str] = Counter()
    directions: Counter[str] = Counter()
    hours: Counter[int] = Counter()
    fever = colour = total = 0
    for row in iter_rows(url, date_from=day, date_to=day):
        total += 1
        decisions[row["decision"]] += 1
        directions[row["direction"]] += 1
        hours[datetime.fromisoformat(row["occurred_at"]).hour] += 1
        reasons = json.loads(row["reasons"])
        fever += "fever" in reasons
        colour += row["code_status"] in ("red", "yellow")
    return DayStats(day, total, dict(decisions), dict(directions), dict(hours), fever, colour)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value
