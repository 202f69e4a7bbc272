"""Frozen domain values that flow from the devices through the decision to the record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gateway.core.fields import rules


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
    PARTIAL = "partial"  # a chunk of a multi-part code, waiting for the rest: not a passage
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


UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
SHA256_HEX = r"^[0-9a-f]{64}$"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEntry:
    """An entry as the service builds it, before storage gives it a sequence number.

    With `Entry`, the one definition of an entry's fields (DESIGN section 3): tables, wire
    form, JSON schema and export columns are derived from these fields and their `rules`.
    """

    id: str = field(metadata=rules(pattern=UUID, max_length=36, fixed=True))
    gate: str = field(metadata=rules(pattern=SLUG, fixed=True))
    site: str = field(metadata=rules(pattern=SLUG, fixed=True))
    lane: str = field(metadata=rules(min_length=1, max_length=16))
    direction: Direction
    occurred_at: datetime = field(metadata=rules(fixed=True))
    clock_synced: bool = field(metadata=rules(fixed=True))
    boot_id: str = field(metadata=rules(min_length=1, fixed=True))
    monotonic_ns: int = field(metadata=rules(minimum=0, big=True, fixed=True))
    code_format: str = field(metadata=rules(min_length=1))
    code_check: CodeCheck
    code_status: CodeStatus
    subject: str | None
    subject_label: str | None
    payload_digest: str | None = field(
        metadata=rules(
            pattern=SHA256_HEX,
            description="SHA-256 of the raw payload, hex; the payload itself never leaves the gate",
        )
    )
    temperature_c: float | None
    temperature_source: str | None
    remeasured: bool
    decision: Decision
    reasons: tuple[str, ...] = ()
    override: Override | None = None
    confirmed_by: str | None = field(
        default=None,  # the guard who read an unverifiable code's colour
        metadata=rules(
            wire_default=None,
            description="The guard who read the colour off an unverifiable code (absent: null)",
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry(NewEntry):
    """A recorded entry: a `NewEntry` with its sequence number and local sync state."""

    seq: int = field(metadata=rules(minimum=1, big=True, fixed=True))
    revision: int = field(
        default=0,  # raised by every guard action after recording
        metadata=rules(
            minimum=0,
            wire_default=0,
            description=(
                "Raised by every guard action after recording; the collector keeps the "
                "highest (absent: 0)"
            ),
        ),
    )


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


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One line of the audit log: who did what, when, to which entry."""

    at: datetime
    actor: str
    role: str
    action: str
    entry_id: str | None
    detail: str
