"""Payloads on the wire (DESIGN 4.3): encoders, and strict decoders mirroring sync/schemas/."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from gateway.core.errors import CheckpointError
from gateway.core.values import (
    CodeCheck,
    CodeStatus,
    Decision,
    DeviceHealth,
    DeviceState,
    Direction,
    Entry,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMA_NAMES = ("entries", "ack", "state")

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class WireError(CheckpointError):
    """A payload is not a valid message of the expected kind."""


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a payload kind: one of `SCHEMA_NAMES`."""
    if name not in SCHEMA_NAMES:
        raise ValueError(f"no schema named {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    text = (resources.files("sync") / "schemas" / f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _rfc3339(value: object) -> object:
    # The schemas pin one spelling: a string in RFC 3339 form (pydantic alone would also take
    # e.g. a space for 'T', or a number); the string is then parsed in lax mode.
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise ValueError("must be an RFC 3339 timestamp, e.g. 2024-05-01T08:30:00+00:00")
    return value


Timestamp = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_rfc3339)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
EntryId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


_M = TypeVar("_M", bound=_Strict)


class WireOverride(_Strict):
    by: str
    reason: str


class WireEntry(_Strict):
    """One entry as `Entry.to_wire()` sends it, with its revision and the guard who confirmed.

    The fields of `to_wire()` are required (null where allowed); `revision` and `confirmed_by`
    came later and default to an entry never changed after recording.
    """

    id: EntryId
    seq: int = Field(ge=1)
    gate: Slug
    site: Slug
    lane: str = Field(min_length=1, max_length=16)
    direction: Direction
    occurred_at: Timestamp
    clock_synced: bool
    boot_id: str = Field(min_length=1)
    monotonic_ns: int = Field(ge=0)
    code_format: str = Field(min_length=1)
    code_check: CodeCheck
    code_status: CodeStatus
    subject: str | None
    subject_label: str | None
    payload_digest: Digest | None
    temperature_c: Annotated[float | None, AfterValidator(_finite)]
    temperature_source: str | None
    remeasured: bool
    decision: Decision
    reasons: list[str]
    override: WireOverride | None
    revision: int = Field(default=0, ge=0)
    confirmed_by: str | None = None


class EntriesBatch(_Strict):
    """A batch; `boot_id` and `sent_monotonic_ns` (both or neither) date the sending on the
    gateway's monotonic clock, which lets the collector place entries of a gate whose wall
    clock is wrong."""

    schema_version: Literal[1] = Field(alias="schema")
    gate: Slug
    site: Slug
    sent_at: Timestamp
    boot_id: str | None = Field(default=None, min_length=1)
    sent_monotonic_ns: int | None = Field(default=None, ge=0)
    entries: list[WireEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _monotonic_with_its_boot(self) -> EntriesBatch:
        if (self.boot_id is None) != (self.sent_monotonic_ns is None):
            raise ValueError("boot_id and sent_monotonic_ns go together")
        return self

    @property
    def ids(self) -> list[str]:
        return [entry.id for entry in self.entries]

    @property
    def revisions(self) -> list[int]:
        return [entry.revision for entry in self.entries]


class Ack(_Strict):
    """The collector stored these entries. `revisions[i]`, when given, is the revision of
    `ids[i]` that was stored: an ack of an older revision does not settle a newer one that a
    guard made meanwhile. Without `revisions` (an older collector) an ack settles any."""

    schema_version: Literal[1] = Field(alias="schema")
    ids: list[EntryId] = Field(min_length=1)
    revisions: list[Annotated[int, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _one_revision_per_id(self) -> Ack:
        if self.revisions is not None and len(self.revisions) != len(self.ids):
            raise ValueError("revisions must give one revision per id")
        return self


class WireDevice(_Strict):
    kind: str
    state: DeviceState
    reason: str


class WireHealth(_Strict):
    """The gateway's health figures, as its /metrics shows them."""

    disk_free_bytes: int = Field(ge=0)
    disk_level: Literal["ok", "warn", "critical"]
    unrecorded: int = Field(ge=0)
    clock_synced: bool
    policy_source: str
    policy_problem: str


class StateMessage(_Strict):
    """A gateway's state; the last will carries only `state: offline`."""

    state: Literal["online", "offline"]
    version: str | None = Field(default=None, min_length=1)
    backlog: int | None = Field(default=None, ge=0)
    oldest_unsynced: Timestamp | None = None
    devices: dict[str, WireDevice] | None = None
    health: WireHealth | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_explicit_nulls(cls, data: object) -> object:
        # The schema allows null only for oldest_unsynced; the others are absent or set.
        if isinstance(data, Mapping):
            nulls = [k for k in ("version", "backlog", "devices") if k in data and data[k] is None]
            if nulls:
                raise ValueError(f"{', '.join(nulls)} must not be null")
        return data

    @model_validator(mode="after")
    def _online_is_complete(self) -> StateMessage:
        if self.state == "online":
            missing = [
                name
                for name in ("version", "backlog", "oldest_unsynced", "devices")
                if name not in self.model_fields_set
            ]
            if missing:
                raise ValueError(f"an online state needs {', '.join(missing)}")
        return self


@dataclass(frozen=True, slots=True)
class GatewayState:
    """What the gateway reports about itself on its retained state topic."""

    online: bool
    version: str
    backlog: int
    oldest_unsynced: datetime | None
    devices: tuple[DeviceHealth, ...] = ()
    health: Mapping[str, object] | None = None  # WireHealth's fields


def _dumps(document: Mapping[str, object]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class SendClock:
    """The gateway's boot and monotonic time at the moment a batch is sent."""

    boot_id: str
    monotonic_ns: int


def _wire_entry(entry: Entry) -> dict[str, object]:
    fields = {**entry.to_wire(), "revision": entry.revision, "confirmed_by": entry.confirmed_by}
    if entry.temperature_c is not None and not math.isfinite(entry.temperature_c):
        # JSON has no NaN; an entry that cannot be encoded would block the outbox forever.
        logger.warning("entry %s has a non-finite temperature; sent as null", entry.id)
        fields["temperature_c"] = None
    return fields


def encode_batch(
    *,
    site: str,
    gate: str,
    entries: Sequence[Entry],
    sent_at: datetime,
    clock: SendClock | None = None,
) -> bytes:
    """An entries batch; `entries` must not be empty."""
    return encode_wire_batch(
        site=site,
        gate=gate,
        entries=[encode_entry(entry) for entry in entries],
        sent_at=sent_at,
        clock=clock,
    )


def encode_entry(entry: Entry) -> bytes:
    """One entry as it appears inside a batch (JSON), so batches can be sized before sending."""
    return _dumps(_wire_entry(entry))


def encode_wire_batch(
    *,
    site: str,
    gate: str,
    entries: Sequence[bytes],
    sent_at: datetime,
    clock: SendClock | None = None,
) -> bytes:
    """A batch of entries already encoded with `encode_entry`; `entries` must not be empty."""
    if not entries:
        raise ValueError("a batch needs at least one entry")
    envelope: dict[str, object] = {
        "schema": SCHEMA_VERSION,
        "gate": gate,
        "site": site,
        "sent_at": sent_at.isoformat(),
    }
    if clock is not None:
        envelope["boot_id"] = clock.boot_id
        envelope["sent_monotonic_ns"] = clock.monotonic_ns
    head = _dumps(envelope)[:-1]  # without the closing brace
    return head + b',"entries":[' + b",".join(entries) + b"]}"


def batch_overhead(*, site: str, gate: str, boot_id: str | None) -> int:
    """Bytes a batch adds around its entries, at most (sent_at and monotonic time vary)."""
    envelope = encode_wire_batch(
        site=site,
        gate=gate,
        entries=[b""],
        sent_at=datetime.max.replace(tzinfo=UTC),
        clock=None if boot_id is None else SendClock(boot_id=boot_id, monotonic_ns=2**64),
    )
    return len(envelope)


def encode_ack(ids: Iterable[str], revisions: Iterable[int] | None = None) -> bytes:
    revised = {} if revisions is None else {"revisions": list(revisions)}
    return _dumps({"schema": SCHEMA_VERSION, "ids": list(ids), **revised})


def encode_state(state: GatewayState) -> bytes:
    return _dumps(
        {
            "state": "online" if state.online else "offline",
            "version": state.version,
            "backlog": state.backlog,
            "oldest_unsynced": (
                state.oldest_unsynced.isoformat() if state.oldest_unsynced else None
            ),
            "devices": {
                device.name: {
                    "kind": device.kind,
                    "state": device.state.value,
                    "reason": device.reason,
                }
                for device in state.devices
            },
            **({"health": dict(state.health)} if state.health is not None else {}),
        }
    )


def offline_will() -> bytes:
    """The last-will payload: a state message saying only that the gateway is offline."""
    return _dumps({"state": "offline"})


def decode_batch(payload: bytes) -> EntriesBatch:
    return _decode(EntriesBatch, payload, "entries batch")


def decode_ack(payload: bytes) -> Ack:
    return _decode(Ack, payload, "ack")


def decode_state(payload: bytes) -> StateMessage:
    return _decode(StateMessage, payload, "state message")


def _decode(model: type[_M], payload: bytes, what: str) -> _M:
    try:
        return model.model_validate_json(payload)
    except ValidationError as error:
        raise WireError(f"invalid {what}: {_summary(error)}") from None


def _summary(error: ValidationError, limit: int = 3) -> str:
    # Say where and what, never echo the input: it may hold personal data.
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'payload'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    ]
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more
