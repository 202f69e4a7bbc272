"""Public shapes returned by the API: internal fields (pseudonyms, digests) never leave."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from gateway.core.values import NewEntry
from gateway.service.events import PassageEvent
from gateway.service.status import GatewayStatus


class PassagePublic(BaseModel):
    """One decided passage as the guard screen shows it."""

    id: str
    seq: int | None
    kind: str
    recorded: bool
    decision: str
    reasons: list[str]
    temperature_c: float | None
    code_status: str
    code_check: str
    label: str | None
    lane: str
    direction: str
    occurred_at: datetime

    @classmethod
    def from_entry(cls, entry: NewEntry, *, recorded: bool, kind: str = "verdict") -> PassagePublic:
        return cls(
            id=entry.id,
            seq=getattr(entry, "seq", None),
            kind=kind,
            recorded=recorded,
            decision=entry.decision.value,
            reasons=list(entry.reasons),
            temperature_c=entry.temperature_c,
            code_status=entry.code_status.value,
            code_check=entry.code_check.value,
            label=entry.subject_label,
            lane=entry.lane,
            direction=entry.direction.value,
            occurred_at=entry.occurred_at,
        )

    @classmethod
    def from_event(cls, event: PassageEvent) -> PassagePublic:
        return cls.from_entry(event.entry, recorded=event.recorded, kind=event.kind)


class DevicePublic(BaseModel):
    name: str
    kind: str
    state: str
    reason: str


class StatusPublic(BaseModel):
    site: str
    gate: str
    gate_name: str
    devices: list[DevicePublic]
    mqtt_enabled: bool
    mqtt_connected: bool
    backlog: int
    oldest_unsynced: datetime | None
    unrecorded: int
    clock_synced: bool
    disk_free_bytes: int
    disk_level: str
    database_problem: str
    policy_problem: str

    @classmethod
    def from_status(cls, status: GatewayStatus) -> StatusPublic:
        return cls(
            site=status.site,
            gate=status.gate,
            gate_name=status.gate_name,
            devices=[
                DevicePublic(name=d.name, kind=d.kind, state=d.state.value, reason=d.reason)
                for d in status.devices
            ],
            mqtt_enabled=status.mqtt_enabled,
            mqtt_connected=status.mqtt_connected,
            backlog=status.backlog,
            oldest_unsynced=status.oldest_unsynced,
            unrecorded=status.unrecorded,
            clock_synced=status.clock_synced,
            disk_free_bytes=status.disk_free_bytes,
            disk_level=status.disk_level.value,
            database_problem=status.database_problem,
            policy_problem=status.policy_problem,
        )
