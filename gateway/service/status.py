"""What the screens and the `state` message say about the gateway's health."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from gateway.codes.status_list import StatusStore
from gateway.codes.trust import TrustStore
from gateway.core.retention import DiskLevel, disk_level
from gateway.core.values import DeviceHealth, DeviceState
from gateway.service.policy_holder import PolicyHolder
from gateway.storage.store import EntryStore


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    site: str
    gate: str
    gate_name: str
    devices: tuple[DeviceHealth, ...]
    mqtt_enabled: bool
    mqtt_connected: bool
    backlog: int
    oldest_unsynced: datetime | None
    unrecorded: int
    clock_synced: bool
    disk_free_bytes: int
    disk_level: DiskLevel
    database_problem: str  # empty, or what happened to a damaged database at startup
    lists_age_h: float | None  # age of the oldest trust/status list in use; None: no list
    lists_outdated: bool  # older than the policy's list_max_age_h: verified codes are referred
    policy_source: str  # "config", or the topic of the remote policy in force
    policy_problem: str  # empty, or why the last remote policy was rejected


class Clock(Protocol):
    def now(self) -> datetime: ...

    def synchronised(self) -> bool: ...


class Broker(Protocol):
    @property
    def connected(self) -> bool: ...


class Recording(Protocol):
    @property
    def unrecorded_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class GateNames:
    site: str
    gate: str
    gate_name: str


class StatusService:
    """The gateway's health, read afresh on each call from the parts that know it.

    The checkpoint service is attached once it exists: it needs the publisher, whose
    `state` message needs this status.
    """

    def __init__(
        self,
        *,
        names: GateNames,
        store: EntryStore,
        devices: Callable[[], Iterable[DeviceHealth]],
        thermal_names: frozenset[str],
        broker: Broker | None,
        clock: Clock,
        lists: Lists,
        policy: PolicyHolder,
        database_dir: Path,
    ) -> None:
        self._names = names
        self._store = store
        self._devices = devices
        self.thermal_names = thermal_names
        self._broker = broker
        self._clock = clock
        self._lists = lists
        self._policy = policy
        self._database_dir = database_dir
        self._recording: Recording | None = None

    def attach(self, recording: Recording) -> None:
        self._recording = recording

    def thermal_available(self) -> bool:
        """Whether a thermal source is up (or warming up) to take temperatures."""
        return any(
            health.state is not DeviceState.DOWN
            for health in self._devices()
            if health.name in self.thermal_names
        )

    def current(self) -> GatewayStatus:
        backlog = self._store.backlog()
        disk = shutil.disk_usage(self._database_dir)
        integrity = self._store.integrity
        issued = self._lists.issued_at()
        lists_age_h = (
            (self._clock.now() - issued).total_seconds() / 3600 if issued is not None else None
        )
        return GatewayStatus(
            site=self._names.site,
            gate=self._names.gate,
            gate_name=self._names.gate_name,
            devices=tuple(self._devices()),
            mqtt_enabled=self._broker is not None,
            mqtt_connected=self._broker is not None and self._broker.connected,
            backlog=backlog.count,
            oldest_unsynced=backlog.oldest,
            unrecorded=self._recording.unrecorded_count if self._recording else 0,
            clock_synced=self._clock.synchronised(),
            disk_free_bytes=disk.free,
            disk_level=disk_level(disk.used, disk.total),
            database_problem=(
                ""
                if integrity.ok
                else f"damaged database kept as {integrity.quarantined}; "
                f"{integrity.salvaged} entries recovered"
            ),
            lists_age_h=lists_age_h,
            lists_outdated=lists_age_h is not None and lists_age_h > self._policy().list_max_age_h,
            policy_source=self._policy.source,
            policy_problem=self._policy.problem,
        )

    def figures(self) -> dict[str, object]:
        """The health figures the retained `state` message carries (those of /metrics)."""
        status = self.current()
        return {
            "disk_free_bytes": status.disk_free_bytes,
            "disk_level": status.disk_level.value,
            "unrecorded": status.unrecorded,
            "clock_synced": status.clock_synced,
            "policy_source": status.policy_source,
            "policy_problem": status.policy_problem,
        }


@dataclass(frozen=True, slots=True)
class Lists:
    """The trust list and status list in force."""

    trust: TrustStore
    status: StatusStore

    def issued_at(self) -> datetime | None:
        """When the oldest list in use was issued (a site without a status list uses none)."""
        times = [self.trust.current.issued_at]
        if self.status.current.version > 0:
            times.append(self.status.current.issued_at)
        known = [t for t in times if t is not None]
        return min(known) if len(known) == len(times) else None
