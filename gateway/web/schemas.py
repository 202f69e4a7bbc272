"""Public shapes returned by the API: internal fields (pseudonyms, digests) never leave."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.core.records import GateSync, Period, Stats
from gateway.core.values import AuditRecord, NewEntry
from gateway.service.events import PassageEvent
from gateway.service.status import GatewayStatus
from gateway.web.logbuffer import LogLine


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
    code_format: str
    revision: int = 0  # raised by every guard action after recording
    override_by: str | None = None
    override_reason: str | None = None
    confirmed_by: str | None = None

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
            code_format=entry.code_format,
            revision=getattr(entry, "revision", 0),
            override_by=entry.override.by if entry.override else None,
            override_reason=entry.override.reason if entry.override else None,
            confirmed_by=entry.confirmed_by,
        )

    @classmethod
    def from_event(cls, event: PassageEvent) -> PassagePublic:
        return cls.from_entry(event.entry, recorded=event.recorded, kind=event.kind)


class DevicePublic(BaseModel):
    name: str
    kind: str
    role: Literal["scanner", "thermal"]
    state: str
    reason: str
    preview: bool = Field(description="whether /api/devices/{name}/preview shows its frames")


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
    lists_age_h: float | None
    lists_outdated: bool
    disk_free_bytes: int
    disk_level: str
    database_problem: str
    policy_problem: str

    @classmethod
    def from_status(
        cls,
        status: GatewayStatus,
        thermal_names: Collection[str] = (),
        preview_names: Collection[str] = (),
    ) -> StatusPublic:
        return cls(
            site=status.site,
            gate=status.gate,
            gate_name=status.gate_name,
            devices=[
                DevicePublic(
                    name=d.name,
                    kind=d.kind,
                    role="thermal" if d.name in thermal_names else "scanner",
                    state=d.state.value,
                    reason=d.reason,
                    preview=d.name in preview_names,
                )
                for d in status.devices
            ],
            mqtt_enabled=status.mqtt_enabled,
            mqtt_connected=status.mqtt_connected,
            backlog=status.backlog,
            oldest_unsynced=status.oldest_unsynced,
            unrecorded=status.unrecorded,
            clock_synced=status.clock_synced,
            lists_age_h=status.lists_age_h,
            lists_outdated=status.lists_outdated,
            disk_free_bytes=status.disk_free_bytes,
            disk_level=status.disk_level.value,
            database_problem=status.database_problem,
            policy_problem=status.policy_problem,
        )


# -- access ------------------------------------------------------------------------------


class ErrorPublic(BaseModel):
    """A refusal: `detail` is a message key the pages translate (`errors.<detail>`)."""

    detail: str
    message: str = ""


class MePublic(BaseModel):
    """Who this browser is signed in as, and what the pages should offer."""

    signed_in: bool
    role: str | None
    name: str | None
    needs_setup: bool
    local: bool  # on the gateway's own computer (setup is only offered there)
    kiosk: bool  # the verdict view is open here without signing in
    roles: list[str]  # the roles this server has pages for (setup asks for their secrets)


class SetupRequest(BaseModel):
    """The first accounts; a collector (managers only) leaves out the technician and PIN."""

    manager: str = Field(max_length=32)
    manager_password: str = Field(max_length=128)
    technician: str = Field("", max_length=32)
    technician_password: str = Field("", max_length=128)
    guard_pin: str = Field("", max_length=12)


class SignInRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=128)


class PinRequest(BaseModel):
    pin: str = Field(max_length=12)
    name: str = Field("", max_length=32, description="the guard on duty, recorded with actions")


class ChangeSecretRequest(BaseModel):
    username: str = Field(max_length=64)
    secret: str = Field(max_length=128)


# -- guard actions -----------------------------------------------------------------------


class ConfirmRequest(BaseModel):
    colour: Literal["green", "yellow", "red"]


class OverrideRequest(BaseModel):
    decision: Literal["admit", "refer", "deny"]
    reason: str = Field(min_length=1, max_length=200)


class HandheldRequest(BaseModel):
    celsius: float = Field(ge=20.0, le=50.0)


class VisitorRequest(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    phone: str = Field(min_length=4, max_length=20)
    unit: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=40)
    direction: Literal["in", "out"] = "in"
    celsius: float | None = Field(None, ge=20.0, le=50.0)


# -- manager ---------------------------------------------------------------------------


class StatsPublic(BaseModel):
    first: str
    last: str
    total: int
    admit: int
    refer: int
    deny: int
    entering: int
    leaving: int
    fever: int
    red: int
    yellow: int
    overrides: int
    visitors: int
    hourly_in: list[int]
    hourly_out: list[int]

    @classmethod
    def from_stats(cls, stats: Stats, period: Period) -> StatsPublic:
        return cls(
            first=period.first.isoformat(),
            last=period.last.isoformat(),
            total=stats.total,
            admit=stats.admit,
            refer=stats.refer,
            deny=stats.deny,
            entering=stats.entering,
            leaving=stats.leaving,
            fever=stats.fever,
            red=stats.red,
            yellow=stats.yellow,
            overrides=stats.overrides,
            visitors=stats.visitors,
            hourly_in=stats.hourly_in,
            hourly_out=stats.hourly_out,
        )


class RecordPublic(BaseModel):
    """One entry in the manager's list (no pseudonym, no payload digest)."""

    id: str
    seq: int
    gate: str
    site: str
    lane: str
    direction: str
    occurred_at: datetime
    decision: str
    reasons: list[str]
    temperature_c: float | None
    temperature_source: str | None
    code_format: str
    code_check: str
    code_status: str
    label: str | None
    override_by: str | None
    override_reason: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RecordPublic:
        return cls(
            id=row["id"],
            seq=row["seq"],
            gate=row["gate"],
            site=row["site"],
            lane=row["lane"],
            direction=row["direction"],
            occurred_at=datetime.fromisoformat(row["occurred_at"]),
            decision=row["decision"],
            reasons=json.loads(row["reasons"]),
            temperature_c=row["temperature_c"],
            temperature_source=row["temperature_source"],
            code_format=row["code_format"],
            code_check=row["code_check"],
            code_status=row["code_status"],
            label=row["subject_label"],
            override_by=row["override_by"],
            override_reason=row["override_reason"],
        )


class RecordPage(BaseModel):
    total: int
    offset: int
    items: list[RecordPublic]


class GateSyncPublic(BaseModel):
    site: str
    gate: str
    state: str
    backlog: int | None
    oldest_unsynced: datetime | None
    last_seen: datetime | None

    @classmethod
    def from_gate(cls, gate: GateSync) -> GateSyncPublic:
        return cls(
            site=gate.site,
            gate=gate.gate,
            state=gate.state,
            backlog=gate.backlog,
            oldest_unsynced=gate.oldest_unsynced,
            last_seen=gate.last_seen,
        )


class AuditPublic(BaseModel):
    at: datetime
    actor: str
    role: str
    action: str
    entry_id: str | None
    detail: str

    @classmethod
    def from_record(cls, record: AuditRecord) -> AuditPublic:
        return cls(
            at=record.at,
            actor=record.actor,
            role=record.role,
            action=record.action,
            entry_id=record.entry_id,
            detail=record.detail,
        )


# -- technician ------------------------------------------------------------------------


class ConfigPublic(BaseModel):
    """The configuration in force; every secret replaced by a mark."""

    settings: dict[str, Any]


class DoctorCheckPublic(BaseModel):
    name: str
    status: Literal["pass", "warn", "fail"]
    detail: str
    advice: str


class DoctorPublic(BaseModel):
    available: bool
    checks: list[DoctorCheckPublic]


class LogLinePublic(BaseModel):
    at: datetime
    level: str
    logger: str
    message: str

    @classmethod
    def from_line(cls, line: LogLine) -> LogLinePublic:
        return cls(at=line.at, level=line.level, logger=line.logger, message=line.message)


class StickFilePublic(BaseModel):
    path: str
    kind: Literal["receipt", "lists"]


class BundlesPublic(BaseModel):
    """Sync by hand: the USB sticks mounted now and the receipts and lists found on them."""

    available: bool = Field(description="false: this gate has no sync by hand configured")
    sticks: list[str]
    files: list[StickFilePublic]


class StickIn(BaseModel):
    stick: str = Field(min_length=1, max_length=4096)


class StickFileIn(BaseModel):
    file: str = Field(min_length=1, max_length=4096)


class ExportedPublic(BaseModel):
    file: str
    entries: int


class SettledPublic(BaseModel):
    named: int = Field(description="entries the receipt names")
    settled: int = Field(description="of them, the ones still waiting here")


class ListsTakenPublic(BaseModel):
    lines: list[str]
