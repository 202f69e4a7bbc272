"""One-click table and statistics from a gateway or a collector database."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import MetaData, Table, create_engine, select

from gateway.core.entry_schema import ENTRY_COLUMNS

# The column contract of DESIGN 4.2: these first, then the rest of the entry.
FIRST = ("id", "seq", "gate", "site", "occurred_at", "direction", "decision")
COLUMNS = (*FIRST, *(c.name for c in ENTRY_COLUMNS if c.name not in FIRST))


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
    finally:
        engine.dispose()


def write_csv(
    rows: Iterable[dict[str, Any]], out: IO[str], columns: Sequence[str] = COLUMNS
) -> int:
    writer = csv.DictWriter(out, fieldnames=list(columns))
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def write_xlsx(
    rows: Iterable[dict[str, Any]],
    path: Path,
    columns: Sequence[str] = COLUMNS,
    sheet_name: str = "entries",
) -> int:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_name)
    sheet.append(list(columns))
    count = 0
    for row in rows:
        sheet.append([row[name] for name in columns])
        count += 1
    workbook.save(path)
    return count


def csv_bytes(
    rows: Iterable[dict[str, Any]], columns: Sequence[str] = COLUMNS
) -> tuple[int, bytes]:
    """Rows as a CSV download: how many, and the bytes (UTF-8 with a BOM, so that spreadsheet
    programs read the Chinese labels)."""
    out = io.StringIO()
    count = write_csv(rows, out, columns)
    return count, ("\ufeff" + out.getvalue()).encode("utf-8")


def xlsx_bytes(
    rows: Iterable[dict[str, Any]], columns: Sequence[str] = COLUMNS, sheet_name: str = "entries"
) -> tuple[int, bytes]:
    """Rows as an XLSX download: how many, and the bytes."""
    with tempfile.TemporaryDirectory(prefix="checkpoint-export-") as directory:
        path = Path(directory) / f"{sheet_name}.xlsx"
        count = write_xlsx(rows, path, columns, sheet_name)
        return count, path.read_bytes()


@dataclass(frozen=True, slots=True)
class DayStats:
    day: date
    total: int
    by_decision: dict[str, int]
    by_direction: dict[str, int]
    by_hour: dict[int, int]
    fever: int
    red_or_yellow: int


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
