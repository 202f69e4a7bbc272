"""The typed bundle of services the composition root hands to the web app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.values import Entry
from gateway.service.events import EventBus
from gateway.service.guard_actions import GuardActions
from gateway.service.manual_entries import ManualEntries
from gateway.service.status import GatewayStatus
from gateway.web.access import AccessControl
from gateway.web.logbuffer import LogRing
from gateway.web.records import Records


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    """One line of the `doctor` results as the technician page shows it."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class WebServices:
    """Everything the routes need, handed over by the composition root."""

    bus: EventBus
    status: Callable[[], GatewayStatus]
    recent: Callable[[int], list[Entry]]
    metrics: Callable[[], bytes]
    stopping: asyncio.Event
    access: AccessControl
    guard_actions: GuardActions
    manual: ManualEntries
    records: Records
    thermal_names: frozenset[str] = frozenset()  # which devices are thermal sources
    settings: Callable[[], Mapping[str, Any]] = dict  # the config in force, as plain values
    doctor: Callable[[], Sequence[DoctorCheck]] | None = None
    logs: LogRing | None = None
    kiosk_localhost: bool = True  # the verdict view is open without sign-in on this computer
