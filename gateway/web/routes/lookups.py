"""The manager's lookups: a person's movements, their contacts, the persons not seen lately.

Managers only. A person is named by their code (scanned or pasted: turned into the pseudonym
the gates store, never kept) or by one of their entries; a lookup of a person needs a reason.
Every lookup and export is written to the audit log: who, when, whom (pseudonym) and why.
Requests are POSTed, so that no code ends up in a URL or an access log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field, model_validator

from gateway.core.lookups import (
    DEFAULT_OUT_HOURS,
    DEFAULT_WINDOW_MIN,
    Absence,
    Contact,
    LookupFailed,
    Passage,
    columns,
    plain,
)
from gateway.core.ports import PersonLookups
from gateway.service.access import Principal
from gateway.service.spreadsheets import XLSX_MEDIA_TYPE, csv_bytes, xlsx_bytes
from gateway.web.deps import Board, Manager
from gateway.web.schemas import ErrorPublic
from gateway.web.services import Dashboard

router = APIRouter(
    prefix="/api/lookups",
    tags=["manager"],
    responses={401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}},
)
_MAX_DAYS = 366
Format = Literal["json", "csv", "xlsx"]


class PersonQuery(BaseModel):
    """Whom to look up (a code or an entry of theirs), over which local days, and why."""

    code: Annotated[str | None, Field(max_length=8192)] = None
    entry_id: Annotated[str | None, Field(max_length=64)] = None
    reason: Annotated[str, Field(max_length=500)] = ""
    first: date
    last: date
    tz: Annotated[int, Field(ge=-840, le=840, description="offset east of UTC, minutes")] = 0
    window_min: Annotated[int, Field(ge=1, le=24 * 60)] = DEFAULT_WINDOW_MIN
    format: Format = "json"

    @model_validator(mode="after")
    def _one_person(self) -> PersonQuery:
        if (self.code is None) == (self.entry_id is None):
            raise ValueError("give exactly one of code and entry_id")
        return self


class AbsentQuery(BaseModel):
    days: Annotated[int, Field(ge=1, le=_MAX_DAYS)] = 3
    out_hours: Annotated[int, Field(ge=1, le=24 * _MAX_DAYS)] = DEFAULT_OUT_HOURS
    reason: Annotated[str, Field(max_length=500)] = ""
    format: Format = "json"


_DOWNLOADS: dict[int | str, dict[str, Any]] = {200: {"content": {XLSX_MEDIA_TYPE: {}}}}


class TracePublic(BaseModel):
    label: str | None  # the person's masked label, as their latest passage shows it
    items: list[dict[str, Any]]


@router.post("/trace", response_model=TracePublic, responses=_DOWNLOADS)
async def trace(query: PersonQuery, board: Board, manager: Manager) -> Any:
    """Every passage of one person at every gate of the database, in time order."""
    subject = await _subject(board, query)
    start, end = _span(query)
    found = await _look(board, lambda lookups: lookups.trace(subject, start, end))
    detail = f"{subject} {query.first}..{query.last} ({len(found)})"
    await _audit(board, manager, "trace", detail, query.reason, query.format)
    return _answer(found, Passage, query.format, "trace", {"label": _label(found)})


@router.post("/contacts", response_model=TracePublic, responses=_DOWNLOADS)
async def contacts(query: PersonQuery, board: Board, manager: Manager) -> Any:
    """Everyone who passed the same gate within ±`window_min` of one person's passages."""
    subject = await _subject(board, query)
    start, end = _span(query)
    own, found = await _look(
        board,
        lambda lookups: (
            lookups.trace(subject, start, end),
            lookups.contacts(subject, start, end, window_min=query.window_min),
        ),
    )
    span = f"{query.first}..{query.last} ±{query.window_min} min"
    whom = f"{subject} {span} ({len(found)})"
    await _audit(board, manager, "contacts", whom, query.reason, query.format)
    return _answer(found, Contact, query.format, "contacts", {"label": _label(own)})


@router.post("/absent", response_model=TracePublic, responses=_DOWNLOADS)
async def absent(query: AbsentQuery, board: Board, manager: Manager) -> Any:
    """Persons not seen for more than `days` days, and persons gone out and not back in."""
    now = datetime.now(UTC)
    found = await _look(
        board, lambda lookups: lookups.absent(days=query.days, now=now, out_hours=query.out_hours)
    )
    detail = f"--days {query.days} --out-hours {query.out_hours} ({len(found)})"
    await _audit(board, manager, "absent", detail, query.reason, query.format)
    return _answer(found, Absence, query.format, "absent", {"label": None})


def _label(passages: Sequence[Passage]) -> str | None:
    """The person's masked label as their latest passage shows it."""
    return next((p.label for p in reversed(passages) if p.label), None)


async def _subject(board: Dashboard, query: PersonQuery) -> str:
    if not query.reason.strip():
        raise HTTPException(422, detail="lookup-reason-needed")
    if query.code is not None:
        if board.code_holder is None:
            raise HTTPException(409, detail="no-code-reader")
        subject = await asyncio.to_thread(board.code_holder, query.code.strip())
    else:
        entry_id = (query.entry_id or "").strip()
        subject = await _look(board, lambda lookups: lookups.subject_of(entry_id))
    if subject is None:
        raise HTTPException(422, detail="nobody-named")
    return str(subject)


def _span(query: PersonQuery) -> tuple[datetime, datetime]:
    """The local days as UTC instants."""
    if query.last < query.first or (query.last - query.first).days >= _MAX_DAYS:
        raise HTTPException(422, detail="bad-period")
    offset = timedelta(minutes=query.tz)
    start = datetime.combine(query.first, time.min, tzinfo=UTC) - offset
    return start, datetime.combine(query.last, time.max, tzinfo=UTC) - offset


async def _look(board: Dashboard, lookup: Callable[[PersonLookups], Any]) -> Any:
    def run() -> Any:
        lookups = board.records.lookups()
        try:
            return lookup(lookups)
        finally:
            lookups.close()

    try:
        return await asyncio.to_thread(run)
    except LookupFailed:
        raise HTTPException(503, detail="lookup-failed") from None


async def _audit(
    board: Dashboard, manager: Principal, action: str, whom: str, reason: str, fmt: Format
) -> None:
    """Who (the principal), when, whom and why; written before anything is shown."""
    why = " ".join(reason.split())
    exported = "" if fmt == "json" else f"; exported {fmt}"
    detail = f"{whom}{exported}; reason: {why}" if why else f"{whom}{exported}"
    await asyncio.to_thread(board.access.audited, manager, action, detail=detail)


def _answer(
    found: Sequence[Passage | Contact | Absence],
    kind: type[Passage] | type[Contact] | type[Absence],
    fmt: Format,
    name: str,
    extra: dict[str, Any],
) -> Any:
    rows = [plain(item) for item in found]
    if fmt == "json":
        return {**extra, "items": rows}
    if fmt == "csv":
        _, body = csv_bytes(rows, columns(kind))
        media = "text/csv; charset=utf-8"
    else:
        _, body = xlsx_bytes(rows, columns(kind), name)
        media = XLSX_MEDIA_TYPE
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    disposition = f'attachment; filename="{name}-{stamp}.{fmt}"'
    return Response(body, media_type=media, headers={"content-disposition": disposition})
