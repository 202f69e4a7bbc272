"""Setup on first run, sign-in and sign-out, who am I."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, Response

from gateway.service.access import GUARD_ACCOUNT, Principal
from gateway.web.deps import SESSION_COOKIE, Access, MaybePrincipal, is_local, may_watch
from gateway.web.schemas import (
    ChangeSecretRequest,
    ErrorPublic,
    MePublic,
    PinRequest,
    SetupRequest,
    SignInRequest,
)

router = APIRouter(
    prefix="/api/auth",
    tags=["access"],
    responses={400: {"model": ErrorPublic}, 401: {"model": ErrorPublic}},
)


@router.get("/me", response_model=MePublic)
async def me(request: Request, access: Access, principal: MaybePrincipal) -> MePublic:
    """Who this browser is signed in as, and whether the accounts still need setting up."""
    return MePublic(
        signed_in=principal is not None,
        role=principal.role.value if principal else None,
        name=principal.actor if principal else None,
        needs_setup=await asyncio.to_thread(access.needs_setup),
        local=is_local(request),
        kiosk=may_watch(request, None),
        roles=[role.value for role in access.roles],
    )


@router.post("/setup", status_code=204, responses={403: {"model": ErrorPublic}})
async def setup(request: Request, body: SetupRequest, access: Access) -> Response:
    """First run: the manager's and technician's accounts and the guard PIN. Only from the
    gateway's own computer, and only while they are not set."""
    if not is_local(request):
        raise HTTPException(403, detail="setup-local-only")
    await asyncio.to_thread(
        access.set_up,
        manager=body.manager,
        manager_password=body.manager_password,
        technician=body.technician,
        technician_password=body.technician_password,
        guard_pin=body.guard_pin,
    )
    return Response(status_code=204)


@router.post("/sign-in", response_model=MePublic, responses={429: {"model": ErrorPublic}})
async def sign_in(
    request: Request, response: Response, body: SignInRequest, access: Access
) -> MePublic:
    """A manager or technician signs in with name and password (sets the session cookie)."""
    token, principal = await asyncio.to_thread(
        access.sign_in,
        username=body.username.strip().lower(),
        secret=body.password,
        client=_client(request),
    )
    return _signed_in(request, response, token, principal)


@router.post("/pin", response_model=MePublic, responses={429: {"model": ErrorPublic}})
async def guard_pin(
    request: Request, response: Response, body: PinRequest, access: Access
) -> MePublic:
    """A guard signs in with the guard PIN and their name (which their actions carry)."""
    token, principal = await asyncio.to_thread(
        access.sign_in,
        username=GUARD_ACCOUNT,
        secret=body.pin,
        client=_client(request),
        actor=body.name,
    )
    return _signed_in(request, response, token, principal)


@router.post("/sign-out", status_code=204)
async def sign_out(request: Request, access: Access) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        await asyncio.to_thread(access.sign_out, token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/secret", status_code=204, responses={403: {"model": ErrorPublic}})
async def change_secret(
    body: ChangeSecretRequest, access: Access, principal: MaybePrincipal
) -> Response:
    """Change one's own password, or (a manager) the guard PIN. That account is signed out
    everywhere."""
    if principal is None:
        raise HTTPException(401, detail="sign-in-needed")
    await asyncio.to_thread(
        access.change_secret, principal, username=body.username, secret=body.secret
    )
    return Response(status_code=204)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _signed_in(request: Request, response: Response, token: str, principal: Principal) -> MePublic:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(int((principal.expires_at - datetime.now(UTC)).total_seconds()), 0),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return MePublic(
        signed_in=True,
        role=principal.role.value,
        name=principal.actor,
        needs_setup=False,
        local=is_local(request),
        kiosk=may_watch(request, principal),
        roles=[],
    )
