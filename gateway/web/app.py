"""The web app factories: the gate's (guard screen, manager dashboard, technician pages) and the
collector's (the manager dashboard across a site), with their API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from gateway.core.errors import ActionNotAllowedError, EntryNotFoundError, NotRecordedError
from gateway.core.records import GateSync
from gateway.service.access import AccessControl, AccessError, Role, SignInThrottled
from gateway.web.deps import Access, Services, is_local, may_watch, signed_in
from gateway.web.i18n import catalog_path
from gateway.web.origin import SameOriginMiddleware
from gateway.web.routes import auth, guard, lookups, manager, technician
from gateway.web.routes.technician import BundleRefusedError
from gateway.web.services import Dashboard, DoctorCheck, WebServices

__all__ = ["Dashboard", "DoctorCheck", "WebServices", "create_app", "create_collector_app"]

STATIC = Path(__file__).parent / "static"

_ACCESS_STATUS = {
    "wrong-credentials": 401,
    "forbidden": 403,
    "already-set-up": 409,
    "no-account": 404,
}


def create_app(services: WebServices) -> FastAPI:
    """The gate's app: guard screen and actions, manager dashboard, technician pages."""
    dashboard = Dashboard(
        services.access,
        services.records,
        lambda: _gates_of(services),
        code_holder=services.code_holder,
    )
    app = _base_app(
        dashboard,
        description="The gate's screens: guard verdicts and actions, manager dashboard, "
        "technician diagnostics. Error bodies carry a message key in `detail`.",
    )
    app.state.services = services
    app.include_router(guard.router)
    app.include_router(guard.actions)
    app.include_router(technician.router)
    app.add_api_route(
        "/technician",
        _role_page("/technician", "technician.html", Role.TECHNICIAN),
        include_in_schema=False,
    )

    @app.get("/", include_in_schema=False)
    async def guard_screen(request: Request) -> Response:
        principal = await signed_in(request)
        if not may_watch(request, principal):
            return RedirectResponse("/login?next=/", status_code=303)
        return FileResponse(STATIC / "guard.html")

    @app.get("/metrics", include_in_schema=False)
    async def metrics(svc: Services) -> Response:
        """Prometheus metrics."""
        body = await asyncio.to_thread(svc.metrics)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


def create_collector_app(dashboard: Dashboard) -> FastAPI:
    """The community server's app: the manager dashboard across all gates of a site."""
    app = _base_app(
        dashboard,
        description="The manager dashboard across all gates of a site. Error bodies carry a "
        "message key in `detail`.",
    )

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/manager", status_code=303)

    return app


def _base_app(dashboard: Dashboard, *, description: str) -> FastAPI:
    """What every app has: sign-in and setup, the manager's pages, catalogs, error bodies."""
    app = FastAPI(title="checkpoint-gateway", version="1", description=description)
    app.state.access = dashboard.access
    app.state.dashboard = dashboard
    app.add_middleware(SameOriginMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_handlers(app)
    app.include_router(auth.router)
    app.include_router(manager.router)
    app.include_router(lookups.router)
    app.add_api_route(
        "/manager", _role_page("/manager", "manager.html", Role.MANAGER), include_in_schema=False
    )

    @app.get("/login", include_in_schema=False)
    async def login(request: Request, access: Access) -> Response:
        if await asyncio.to_thread(access.needs_setup):
            return RedirectResponse("/setup", status_code=303)
        return FileResponse(STATIC / "login.html")

    @app.get("/setup", include_in_schema=False)
    async def setup(request: Request, access: Access) -> Response:
        if not await asyncio.to_thread(access.needs_setup):
            return RedirectResponse("/login", status_code=303)
        # The page itself explains that setup is only possible on this computer.
        return FileResponse(STATIC / "setup.html", status_code=200 if is_local(request) else 403)

    @app.get("/i18n/{language}.json", include_in_schema=False)
    async def catalog(language: str) -> Response:
        path = catalog_path(language)
        if path is None:
            return JSONResponse({"detail": "no-catalog"}, status_code=404)
        return FileResponse(path, media_type="application/json")

    return app


def _role_page(
    path: str, page: str, role: Role
) -> Callable[[Request, AccessControl], Awaitable[Response]]:
    async def serve(request: Request, access: Access) -> Response:
        if await asyncio.to_thread(access.needs_setup):
            return RedirectResponse("/setup", status_code=303)
        principal = await signed_in(request)
        if principal is None:
            return RedirectResponse(f"/login?next={path}", status_code=303)
        if principal.role is not role:
            return FileResponse(STATIC / "forbidden.html", status_code=403)
        return FileResponse(STATIC / page)

    return serve


def _gates_of(services: WebServices) -> list[GateSync]:
    """This gate's link to the community server, as the sync status shows it."""
    status = services.status()
    if not status.mqtt_enabled:
        state = "local-only"
    else:
        state = "online" if status.mqtt_connected else "offline"
    own = GateSync(
        site=status.site,
        gate=status.gate,
        state=state,
        backlog=status.backlog,
        oldest_unsynced=status.oldest_unsynced,
        last_seen=None,
    )
    return [own, *services.records.gates()]


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInThrottled)
    async def throttled(request: Request, exc: SignInThrottled) -> Response:
        return JSONResponse(
            {"detail": exc.code, "message": str(exc), "retry_after": exc.retry_after_s},
            status_code=429,
            headers={"retry-after": str(int(exc.retry_after_s))},
        )

    @app.exception_handler(AccessError)
    async def refused(request: Request, exc: AccessError) -> Response:
        status = _ACCESS_STATUS.get(exc.code, 400)
        return JSONResponse({"detail": exc.code, "message": str(exc)}, status_code=status)

    @app.exception_handler(ActionNotAllowedError)
    async def not_allowed(request: Request, exc: ActionNotAllowedError) -> Response:
        return JSONResponse({"detail": "action-not-allowed", "message": str(exc)}, status_code=409)

    @app.exception_handler(EntryNotFoundError)
    async def not_found(request: Request, exc: EntryNotFoundError) -> Response:
        return JSONResponse({"detail": "no-entry", "message": str(exc)}, status_code=404)

    @app.exception_handler(BundleRefusedError)
    async def bundle_refused(request: Request, exc: BundleRefusedError) -> Response:
        return JSONResponse({"detail": "bundle-refused", "message": str(exc)}, status_code=400)

    @app.exception_handler(NotRecordedError)
    async def not_recorded(request: Request, exc: NotRecordedError) -> Response:
        return JSONResponse({"detail": "not-recorded", "message": str(exc)}, status_code=503)
