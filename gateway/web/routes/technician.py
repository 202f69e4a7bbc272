"""The technician's API: device previews, config in force (secrets hidden), doctor results,
log tail."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Mapping
from pathlib import Path as FilePath
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Response

from gateway.core.errors import CheckpointError
from gateway.core.ports import HandCarry
from gateway.web.deps import Services, Technician
from gateway.web.schemas import (
    BundlesPublic,
    ConfigPublic,
    DoctorCheckPublic,
    DoctorPublic,
    ErrorPublic,
    ExportedPublic,
    ListsTakenPublic,
    LogLinePublic,
    SettledPublic,
    StickFileIn,
    StickFilePublic,
    StickIn,
)

router = APIRouter(
    prefix="/api",
    tags=["technician"],
    responses={401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}},
)

T = TypeVar("T")
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


@router.get("/bundles", response_model=BundlesPublic)
async def bundles(svc: Services, technician: Technician) -> BundlesPublic:
    """USB sticks mounted now, and the receipts and lists bundles on them."""
    if svc.hand_carry is None:
        return BundlesPublic(available=False, sticks=[], files=[])
    carry = svc.hand_carry
    sticks, files = await asyncio.to_thread(lambda: (carry.sticks(), carry.stick_files()))
    return BundlesPublic(
        available=True,
        sticks=[str(stick) for stick in sticks],
        files=[
            StickFilePublic(path=str(f), kind="receipt" if f.suffix == ".receipt" else "lists")
            for f in files
        ],
    )


@router.post(
    "/bundles/export", response_model=ExportedPublic, responses={400: {"model": ErrorPublic}}
)
async def export_bundle(body: StickIn, svc: Services, technician: Technician) -> ExportedPublic:
    """Write every entry not yet acknowledged onto the stick, signed and encrypted to the
    collector. Nothing is marked synced until the collector's receipt comes back."""
    carry = _hand_carry(svc.hand_carry)
    exported = await _refusing(asyncio.to_thread(carry.export_to, FilePath(body.stick)))
    svc.access.audited(technician, "bundle-export", detail=f"{exported.entries} entries")
    return ExportedPublic(file=str(exported.path), entries=exported.entries)


@router.post(
    "/bundles/receipt", response_model=SettledPublic, responses={400: {"model": ErrorPublic}}
)
async def take_receipt(body: StickFileIn, svc: Services, technician: Technician) -> SettledPublic:
    """Settle exactly the entries the collector's receipt names."""
    carry = _hand_carry(svc.hand_carry)
    settled = await _refusing(asyncio.to_thread(carry.settle_file, FilePath(body.file)))
    svc.access.audited(
        technician, "bundle-receipt", detail=f"{settled.settled} of {settled.named} settled"
    )
    return SettledPublic(named=settled.named, settled=settled.settled)


@router.post(
    "/bundles/lists", response_model=ListsTakenPublic, responses={400: {"model": ErrorPublic}}
)
async def take_lists(body: StickFileIn, svc: Services, technician: Technician) -> ListsTakenPublic:
    """Put the lists bundle's trust list, status list and policy in force (newer ones only)."""
    carry = _hand_carry(svc.hand_carry)
    lines = await _refusing(carry.import_lists_file(FilePath(body.file)))
    svc.access.audited(technician, "bundle-lists", detail="; ".join(lines))
    return ListsTakenPublic(lines=lines)


def _hand_carry(carry: HandCarry | None) -> HandCarry:
    if carry is None:
        raise HTTPException(404, detail="no-hand-carry")
    return carry


class BundleRefusedError(CheckpointError):
    """Sync by hand refused (a damaged file, a missing certificate): a 400 saying why."""


async def _refusing(work: Awaitable[T]) -> T:
    try:
        return await work
    except (CheckpointError, OSError) as exc:
        raise BundleRefusedError(str(exc)) from None


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
