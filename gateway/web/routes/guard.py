"""The guard screen's API: recent passages, status, server push, and the guard's actions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from gateway.core.values import CodeStatus, Decision, Direction
from gateway.web.deps import Guard, Services, Watcher
from gateway.web.schemas import (
    ConfirmRequest,
    ErrorPublic,
    HandheldRequest,
    OverrideRequest,
    PassagePublic,
    StatusPublic,
    VisitorRequest,
)

router = APIRouter(tags=["guard"], responses={401: {"model": ErrorPublic}})
actions = APIRouter(
    prefix="/api",
    tags=["guard actions"],
    responses={
        403: {"model": ErrorPublic},
        404: {"model": ErrorPublic},
        409: {"model": ErrorPublic},
    },
)


@router.get("/api/passages", response_model=list[PassagePublic], dependencies=[Watcher])
async def recent_passages(
    svc: Services, limit: int = Query(10, ge=1, le=100)
) -> list[PassagePublic]:
    """The latest recorded passages, newest first."""
    entries = await asyncio.to_thread(svc.recent, limit)
    return [PassagePublic.from_entry(e, recorded=True) for e in entries]


@router.get("/api/status", response_model=StatusPublic, dependencies=[Watcher])
async def status(svc: Services) -> StatusPublic:
    """Devices, sync and clock health, as the guard banner shows them."""
    return StatusPublic.from_status(
        await asyncio.to_thread(svc.status), svc.thermal_names, svc.previews.keys()
    )


@router.get("/api/events", response_class=EventSourceResponse, dependencies=[Watcher])
async def events(svc: Services) -> AsyncIterator[ServerSentEvent]:
    """Server push of each passage as it is decided, re-measured or amended by a guard."""
    async with svc.bus.subscribe() as queue:
        # Tells the client it is subscribed: no verdict decided from here on can be missed.
        yield ServerSentEvent(comment="subscribed")
        while not svc.stopping.is_set():
            try:
                event = await asyncio.wait_for(queue.get(), timeout=1.0)
            except TimeoutError:
                continue
            yield ServerSentEvent(
                data=PassagePublic.from_event(event).model_dump(mode="json"),
                event="passage",
            )


@actions.post("/passages/{entry_id}/confirm", response_model=PassagePublic)
async def confirm_colour(
    entry_id: str, body: ConfirmRequest, svc: Services, guard: Guard
) -> PassagePublic:
    """The colour the guard read off the phone of a code that cannot be checked offline."""
    entry = await svc.guard_actions.confirm_colour(
        entry_id=entry_id, colour=CodeStatus(body.colour), guard=guard.actor
    )
    await asyncio.to_thread(
        svc.access.audited, guard, "confirm-colour", entry_id=entry_id, detail=body.colour
    )
    return PassagePublic.from_entry(entry, recorded=True, kind="amended")


@actions.post("/passages/{entry_id}/override", response_model=PassagePublic)
async def override(
    entry_id: str, body: OverrideRequest, svc: Services, guard: Guard
) -> PassagePublic:
    """The guard's deliberate change of a deny or refer, recorded with who and why."""
    entry = await svc.guard_actions.override(
        entry_id=entry_id, decision=Decision(body.decision), guard=guard.actor, reason=body.reason
    )
    await asyncio.to_thread(
        svc.access.audited,
        guard,
        "override",
        entry_id=entry_id,
        detail=f"{body.decision}: {body.reason.strip()}",
    )
    return PassagePublic.from_entry(entry, recorded=True, kind="amended")


@actions.post("/passages/{entry_id}/remeasure", response_model=PassagePublic)
async def remeasure(entry_id: str, svc: Services, guard: Guard) -> PassagePublic:
    """Show the re-measure prompt for a passage held up by its temperature."""
    entry = await svc.manual.ask_to_remeasure(entry_id=entry_id)
    await asyncio.to_thread(svc.access.audited, guard, "remeasure", entry_id=entry_id)
    return PassagePublic.from_entry(entry, recorded=True, kind="remeasure")


@actions.post("/passages/{entry_id}/handheld", response_model=PassagePublic)
async def handheld(
    entry_id: str, body: HandheldRequest, svc: Services, guard: Guard
) -> PassagePublic:
    """A handheld-thermometer reading for a passage held up by its temperature."""
    entry = await svc.manual.handheld_reading(entry_id=entry_id, celsius=body.celsius)
    await asyncio.to_thread(
        svc.access.audited, guard, "handheld", entry_id=entry_id, detail=f"{body.celsius:.1f}"
    )
    return PassagePublic.from_entry(entry, recorded=True, kind="amended")


@actions.post("/visitors", response_model=PassagePublic, status_code=201)
async def register_visitor(body: VisitorRequest, svc: Services, guard: Guard) -> PassagePublic:
    """Record a visitor without a code: masked name, last four phone digits, unit, reason."""
    entry = await svc.manual.register_visitor(
        name=body.name,
        phone=body.phone,
        unit=body.unit,
        reason=body.reason,
        guard=guard.actor,
        direction=Direction(body.direction),
        celsius=body.celsius,
    )
    await asyncio.to_thread(svc.access.audited, guard, "visitor", entry_id=entry.id)
    return PassagePublic.from_entry(entry, recorded=True)
