"""Rows as CSV and Excel: files for `checkpoint export` and the lookups, downloads for the
managers' pages."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from gateway.core.records import COLUMNS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
