"""Dependencies of the routes: the services bundle, who is signed in, and role checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from gateway.service.access import AccessControl, Principal, Role
from gateway.web.services import Dashboard, WebServices

SESSION_COOKIE = "checkpoint_session"
_LOCAL_CLIENTS = {"127.0.0.1", "::1", "localhost"}


def _services(request: Request) -> WebServices:
    services: WebServices = request.app.state.services
    return services


Services = Annotated[WebServices, Depends(_services)]


def _access(request: Request) -> AccessControl:
    access: AccessControl = request.app.state.access
    return access


Access = Annotated[AccessControl, Depends(_access)]


def _dashboard(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


Board = Annotated[Dashboard, Depends(_dashboard)]


def is_local(request: Request) -> bool:
    """The request comes from this computer (the kiosk screen, or a technician at it)."""
    return request.client is not None and request.client.host in _LOCAL_CLIENTS


async def signed_in(request: Request) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    return await asyncio.to_thread(_access(request).principal, token)


MaybePrincipal = Annotated[Principal | None, Depends(signed_in)]


def require(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the signed-in principal, if their role is one of `roles`.

    401 without a session, 403 with a session of another role.
    """

    async def dependency(request: Request) -> Principal:
        principal = await signed_in(request)
        if principal is None:
            raise HTTPException(401, detail="sign-in-needed")
        if principal.role not in roles:
            raise HTTPException(403, detail="forbidden")
        return principal

    return dependency


Guard = Annotated[Principal, Depends(require(Role.GUARD))]
Manager = Annotated[Principal, Depends(require(Role.MANAGER))]
Technician = Annotated[Principal, Depends(require(Role.TECHNICIAN))]


def may_watch(request: Request, principal: Principal | None) -> bool:
    """Whether the verdict view may be shown: to anyone signed in, or open to the kiosk on
    this computer when so configured (a collector has no verdict view)."""
    services: WebServices | None = getattr(request.app.state, "services", None)
    kiosk = services is not None and services.kiosk_localhost
    return principal is not None or (kiosk and is_local(request))


async def watcher(request: Request, principal: MaybePrincipal) -> None:
    if not may_watch(request, principal):
        raise HTTPException(401, detail="sign-in-needed")


Watcher = Depends(watcher)
