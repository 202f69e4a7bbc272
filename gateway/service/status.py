"""What the screens and the `state` message say about the gateway's health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.core.retention import DiskLevel
from gateway.core.values import DeviceHealth


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
