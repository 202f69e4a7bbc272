"""What the lookups of a person return: their passages, their contacts, the persons not seen
lately. Lists show the masked label the gate recorded, never a pseudonym or a code."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from gateway.core.errors import StorageError

DEFAULT_WINDOW_MIN = 10
DEFAULT_OUT_HOURS = 24
FEVER = "fever"


class LookupFailed(StorageError):
    """The database cannot be read for a lookup."""


@dataclass(frozen=True, slots=True)
class Passage:
    """One passage of the person looked up."""

    occurred_at: datetime
    site: str
    gate: str
    direction: str
    decision: str
    temperature_c: float | None
    fever: bool
    label: str | None


@dataclass(frozen=True, slots=True)
class Contact:
    """A person who passed the same gate close in time to the person looked up."""

    subject: str
    label: str | None
    shared: int  # passages of the person looked up that this one was near
    closest_s: float  # the smallest time apart, seconds
    fever: bool  # a fever reading among their passages near the person's
    entry_id: str  # their entry closest in time: to look them up in turn


@dataclass(frozen=True, slots=True)
class Absence:
    """A person whose last passage is long ago, or was on the way out."""

    subject: str
    label: str | None
    last_at: datetime
    site: str
    gate: str
    direction: str
    why: str  # "not-seen" (more than N days) or "out" (out, and not back in for hours)


def columns(kind: type[Passage] | type[Contact] | type[Absence]) -> tuple[str, ...]:
    """What a list shows and exports: its fields in order, masked labels but no pseudonym."""
    return tuple(f.name for f in fields(kind) if f.name != "subject")


def plain(item: Passage | Contact | Absence) -> dict[str, Any]:
    """A list item as shown and exported (times in ISO 8601)."""
    return {name: _shown(getattr(item, name)) for name in columns(type(item))}


def _shown(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
