"""The typed bundle of services the composition root hands to the web app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.core.ports import EntryRecords, HandCarry
from gateway.core.records import GateSync
from gateway.core.values import Entry
from gateway.service.access import AccessControl
from gateway.service.events import EventBus
from gateway.service.guard_actions import GuardActions
from gateway.service.manual_entries import ManualEntries
from gateway.service.status import GatewayStatus
from gateway.web.logbuffer import LogRing


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    """One finding of the `doctor` checks as the technician page shows it."""

    name: str
    status: str  # pass, warn or fail
    detail: str
    advice: str = ""


# A code's text -> the pseudonym the gates store for its holder (None: it names nobody).
CodeHolder = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What the manager's pages need, at a gate or at the collector: the accounts, the
    entries, each gate's sync state, and a reader of codes for the lookups (None: none)."""

    access: AccessControl
    records: EntryRecords
    gates: Callable[[], list[GateSync]]
    code_holder: CodeHolder | None = None


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
    records: EntryRecords
    thermal_names: frozenset[str] = frozenset()  # which devices are thermal sources
    # The devices that can show what they see: name -> newest frame as JPEG (None: no frame).
    previews: Mapping[str, Callable[[], bytes | None]] = field(default_factory=dict)
    settings: Callable[[], Mapping[str, Any]] = dict  # the config in force, as plain values
    doctor: Callable[[], Sequence[DoctorCheck]] | None = None
    logs: LogRing | None = None
    hand_carry: HandCarry | None = None  # sync by hand on USB sticks, when set up
    code_holder: CodeHolder | None = None  # the gate's code reader, for the manager's lookups
    kiosk_localhost: bool = True  # the verdict view is open without sign-in on this computer
