"""The manager's API: statistics, the record list, exports and sync status."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from gateway.core.records import Period
from gateway.service.spreadsheets import XLSX_MEDIA_TYPE, csv_bytes, xlsx_bytes
from gateway.web.deps import Board, Manager
from gateway.web.schemas import (
    AuditPublic,
    ErrorPublic,
    GateSyncPublic,
    RecordPage,
    RecordPublic,
    StatsPublic,
)

router = APIRouter(
    prefix="/api",
    tags=["manager"],
    responses={401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}},
)
_MAX_DAYS = 366


def period(
    first: Annotated[date | None, Query(description="first local day; default today")] = None,
    last: Annotated[date | None, Query(description="last local day; default `first`")] = None,
    tz: Annotated[
        int, Query(ge=-840, le=840, description="the browser's offset east of UTC, minutes")
    ] = 0,
) -> Period:
    today = (datetime.now(UTC) + timedelta(minutes=tz)).date()
    start = first or today
    end = last or start
    if end < start or (end - start).days >= _MAX_DAYS:
        raise HTTPException(422, detail="bad-period")
    return Period(start, end, tz)


Days = Annotated[Period, Depends(period)]


@router.get("/stats", response_model=StatsPublic)
async def stats(board: Board, days: Days, manager: Manager) -> StatsPublic:
    """Entries in and out by hour, decisions, fever alerts, red and yellow codes, overrides,
    visitors, for local days."""
    return StatsPublic.from_stats(await asyncio.to_thread(board.records.stats, days), days)


@router.get("/records", response_model=RecordPage)
async def records(
    board: Board,
    days: Days,
    manager: Manager,
    q: Annotated[str, Query(max_length=100, description="text to look for")] = "",
    decision: Literal["admit", "refer", "deny"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RecordPage:
    """The entries of the period, newest first, filtered by text and decision."""
    total, rows = await asyncio.to_thread(
        lambda: board.records.search(days, text=q, decision=decision, limit=limit, offset=offset)
    )
    return RecordPage(total=total, offset=offset, items=[RecordPublic.from_row(r) for r in rows])


_EXPORT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/csv": {}}, "description": "the entries as `checkpoint export` writes"}
}


@router.get("/export.csv", response_class=Response, responses=_EXPORT_RESPONSES)
async def export_csv(board: Board, days: Days, manager: Manager) -> Response:
    """The entries of the period as CSV, with the columns of `checkpoint export`."""
    count, body = await asyncio.to_thread(lambda: csv_bytes(board.records.rows(days)))
    await asyncio.to_thread(
        board.access.audited, manager, "export", detail=_what("csv", days, count)
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{_name(days)}.csv"'},
    )


@router.get(
    "/export.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "the entries as a workbook"}},
)
async def export_xlsx(board: Board, days: Days, manager: Manager) -> Response:
    """The entries of the period as an XLSX workbook, with the columns of `checkpoint export`."""
    count, body = await asyncio.to_thread(lambda: xlsx_bytes(board.records.rows(days)))
    await asyncio.to_thread(
        board.access.audited, manager, "export", detail=_what("xlsx", days, count)
    )
    return Response(
        body,
        media_type=XLSX_MEDIA_TYPE,
        headers={"content-disposition": f'attachment; filename="{_name(days)}.xlsx"'},
    )


@router.get("/sync", response_model=list[GateSyncPublic])
async def sync_status(board: Board, manager: Manager) -> list[GateSyncPublic]:
    """Each gate's connection to the community server and its backlog of unsynced entries."""
    gates = await asyncio.to_thread(board.gates)
    return [GateSyncPublic.from_gate(g) for g in gates]


@router.get("/audit", response_model=list[AuditPublic])
async def audit_log(
    board: Board,
    manager: Manager,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    action: Annotated[str | None, Query(max_length=32)] = None,
) -> list[AuditPublic]:
    """Who exported, overrode, confirmed, registered or signed in, newest first."""
    records = await asyncio.to_thread(
        lambda: board.access.audit_log(limit=limit, action=action or None)
    )
    return [AuditPublic.from_record(r) for r in records]


def _what(fmt: str, days: Period, count: int) -> str:
    return f"{fmt} {days.first}..{days.last} ({count} entries)"


def _name(days: Period) -> str:
    span = f"{days.first}" if days.first == days.last else f"{days.first}_{days.last}"
    return f"entries-{span}"
