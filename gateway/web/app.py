"""The web app factory: guard screen, server push of verdicts, status API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles

from gateway.core.values import Entry
from gateway.service.events import EventBus
from gateway.service.status import GatewayStatus
from gateway.web.schemas import PassagePublic, StatusPublic

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True, slots=True)
class WebServices:
    """Everything the routes need, handed over by the composition root."""

    bus: EventBus
    status: Callable[[], GatewayStatus]
    recent: Callable[[int], list[Entry]]
    metrics: Callable[[], bytes]
    stopping: asyncio.Event


def create_app(services: WebServices) -> FastAPI:
    app = FastAPI(title="checkpoint-gateway", version="1")
    app.state.services = services
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def guard_screen() -> FileResponse:
        return FileResponse(STATIC / "guard.html")

    @app.get("/api/passages", response_model=list[PassagePublic])
    async def recent_passages(svc: Services, limit: int = 10) -> list[PassagePublic]:
        """The latest recorded passages, newest first."""
        entries = await asyncio.to_thread(svc.recent, max(1, min(limit, 100)))
        return [PassagePublic.from_entry(e, recorded=True) for e in entries]

    @app.get("/api/status", response_model=StatusPublic)
    async def status(svc: Services) -> StatusPublic:
        """Devices, sync and clock health, as the guard banner shows them."""
        return StatusPublic.from_status(await asyncio.to_thread(svc.status))

    @app.get("/metrics", include_in_schema=False)
    async def metrics(svc: Services) -> Response:
        """Prometheus metrics."""
        body = await asyncio.to_thread(svc.metrics)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/api/events", response_class=EventSourceResponse)
    async def events(svc: Services) -> AsyncIterator[ServerSentEvent]:
        """Server push of each passage as it is decided."""
        async with svc.bus.subscribe() as queue:
            while not svc.stopping.is_set():
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=1.0)
                except TimeoutError:
                    continue
                yield ServerSentEvent(
                    data=PassagePublic.from_event(event).model_dump(mode="json"),
                    event="passage",
                )

    return app


def _services(request: Request) -> WebServices:
    services: WebServices = request.app.state.services
    return services


Services = Annotated[WebServices, Depends(_services)]
