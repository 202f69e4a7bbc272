"""Payloads on the wire (DESIGN 4.3): encoders, and strict decoders mirroring sync/schemas/."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
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
    DeviceHealth,
    DeviceState,
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


def dumps(document: Mapping[str, object]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class SendClock:
    """The gateway's boot and monotonic time at the moment a batch is sent."""

    boot_id: str
    monotonic_ns: int


def encode_ack(ids: Iterable[str], revisions: Iterable[int] | None = None) -> bytes:
    revised = {} if revisions is None else {"revisions": list(revisions)}
    return dumps({"schema": SCHEMA_VERSION, "ids": list(ids), **revised})


def encode_state(state: GatewayState) -> bytes:
    return dumps(
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
    return dumps({"state": "offline"})


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
