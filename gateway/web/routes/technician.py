"""The technician's API: device previews, config in force (secrets hidden), doctor results,
log tail."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response

from gateway.web.deps import Services, Technician
from gateway.web.schemas import (
    ConfigPublic,
    DoctorCheckPublic,
    DoctorPublic,
    ErrorPublic,
    LogLinePublic,
)

router = APIRouter(
    prefix="/api",
    tags=["technician"],
    responses={401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}},
)

HIDDEN = "********"
_SECRET_WORDS = ("password", "secret", "token", "key")
_URL_PASSWORD = re.compile(r"(://[^/:@\s]+:)[^/@\s]+@")


@router.get(
    "/devices/{name}/preview",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The newest frame as JPEG"},
        404: {"model": ErrorPublic, "description": "no-preview or no-recent-frame"},
    },
)
async def device_preview(
    name: Annotated[str, Path(description="a device's name", examples=["scanner-1"])],
    svc: Services,
    technician: Technician,
) -> Response:
    """What a camera or thermal camera sees now: the codes it found outlined, or the measured
    face, its temperature and the reference in false colour. Fetch it again to refresh."""
    render = svc.previews.get(name)
    if render is None:
        raise HTTPException(404, detail="no-preview")
    jpeg = await asyncio.to_thread(render)
    if jpeg is None:
        raise HTTPException(404, detail="no-recent-frame")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/config", response_model=ConfigPublic)
async def config(svc: Services, technician: Technician) -> ConfigPublic:
    """The configuration in force, with passwords and key files hidden."""
    return ConfigPublic(settings=hide_secrets(svc.settings()))


@router.get("/doctor", response_model=DoctorPublic)
async def doctor(svc: Services, technician: Technician) -> DoctorPublic:
    """Runs the `checkpoint doctor` checks now."""
    if svc.doctor is None:
        return DoctorPublic(available=False, checks=[])
    checks = await asyncio.to_thread(svc.doctor)
    return DoctorPublic(
        available=True,
        checks=[
            DoctorCheckPublic(name=c.name, status=c.status, detail=c.detail, advice=c.advice)
            for c in checks
        ],
    )


@router.get("/logs", response_model=list[LogLinePublic])
async def logs(
    svc: Services, technician: Technician, limit: Annotated[int, Query(ge=1, le=500)] = 200
) -> list[LogLinePublic]:
    """The newest log lines of this process, oldest first."""
    lines = svc.logs.tail(limit) if svc.logs is not None else []
    return [LogLinePublic.from_line(line) for line in lines]


def hide_secrets(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a config tree with every secret-looking value that is set replaced."""
    return {key: _hidden(key, value) for key, value in tree.items()}


def _hidden(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return hide_secrets(value)
    if isinstance(value, list):
        return [_hidden(key, item) for item in value]
    if value not in (None, "") and any(word in key.lower() for word in _SECRET_WORDS):
        return HIDDEN
    if isinstance(value, str):
        # A camera URL may carry its password: rtsp://user:password@host/...
        return _URL_PASSWORD.sub(rf"\1{HIDDEN}@", value)
    return value
