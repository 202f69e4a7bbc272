"""Frozen domain values that flow from the devices through the decision to the record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class CodeCheck(StrEnum):
    """Outcome of verifying a code offline."""

    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_ISSUER = "unknown-issuer"
    REVOKED = "revoked"
    UNREADABLE = "unreadable"
    UNVERIFIABLE = "unverifiable"
    NO_CODE = "no-code"


class CodeStatus(StrEnum):
    """The colour a code (or the status list, or a guard) gives its holder."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    UNKNOWN = "unknown"


class Decision(StrEnum):
    ADMIT = "admit"
    REFER = "refer"
    DENY = "deny"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Decision.ADMIT: 0, Decision.REFER: 1, Decision.DENY: 2}


class ReadingQuality(StrEnum):
    """How far a temperature reading can be trusted."""

    GOOD = "good"
    INDICATIVE = "indicative"
    POOR = "poor"


@dataclass(frozen=True, slots=True)
class Scan:
    """One code read by one scanner."""

    payload: bytes
    source: str
    lane: str
    direction: Direction
    monotonic_ns: int
    wall_time: datetime


@dataclass(frozen=True, slots=True)
class ThermalReading:
    """One body-temperature estimate from one thermal source."""

    celsius: float
    source: str
    quality: ReadingQuality
    monotonic_ns: int
    wall_time: datetime


@dataclass(frozen=True, slots=True)
class Credential:
    """What a code says about its holder, and whether that could be checked."""

    format: str
    check: CodeCheck
    status: CodeStatus = CodeStatus.UNKNOWN
    subject: str | None = None
    label: str | None = None
    issuer: str | None = None
    kid: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    detail: str = ""
    confirmed_by: str | None = None  # a guard who read the colour off an unverifiable code

    @property
    def verified(self) -> bool:
        return self.check is CodeCheck.VALID


NO_CODE = Credential(format="none", check=CodeCheck.NO_CODE)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one passage and the reason codes behind it."""

    decision: Decision
    reasons: tuple[str, ...] = ()
    remeasure: bool = False


@dataclass(frozen=True, slots=True)
class Override:
    """A guard's deliberate change of a verdict."""

    by: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEntry:
    """An entry as the service builds it, before storage gives it a sequence number."""

    id: str
    gate: str
    site: str
    lane: str
    direction: Direction
    occurred_at: datetime
    clock_synced: bool
    boot_id: str
    monotonic_ns: int
    code_format: str
    code_check: CodeCheck
    code_status: CodeStatus
    subject: str | None
    subject_label: str | None
    payload_digest: str | None
    temperature_c: float | None
    temperature_source: str | None
    remeasured: bool
    decision: Decision
    reasons: tuple[str, ...] = ()
    override: Override | None = None
    confirmed_by: str | None = None  # the guard who read an unverifiable code's colour


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry(NewEntry):
    """A recorded entry: a `NewEntry` with its sequence number and local sync state."""

    seq: int
    revision: int = 0  # raised by every guard action after recording
    synced_at: datetime | None = None

    def to_wire(self) -> dict[str, object]:
        """The entry as it travels to the community server (local-only fields left out)."""
        return {
            "id": self.id,
            "seq": self.seq,
            "gate": self.gate,
            "site": self.site,
            "lane": self.lane,
            "direction": self.direction.value,
            "occurred_at": self.occurred_at.isoformat(),
            "clock_synced": self.clock_synced,
            "boot_id": self.boot_id,
            "monotonic_ns": self.monotonic_ns,
            "code_format": self.code_format,
            "code_check": self.code_check.value,
            "code_status": self.code_status.value,
            "subject": self.subject,
            "subject_label": self.subject_label,
            "payload_digest": self.payload_digest,
            "temperature_c": self.temperature_c,
            "temperature_source": self.temperature_source,
            "remeasured": self.remeasured,
            "decision": self.decision.value,
            "reasons": list(self.reasons),
            "override": (
                None
                if self.override is None
                else {"by": self.override.by, "reason": self.override.reason}
            ),
        }


@dataclass(frozen=True, slots=True)
class Backlog:
    """How much is waiting to be synced."""

    count: int
    oldest: datetime | None


class DeviceState(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    name: str
    kind: str
    state: DeviceState
    reason: str = ""
