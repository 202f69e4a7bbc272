"""Entries batches on the wire (DESIGN 4.3): encoded from wire JSON written at recording,
decoded by one validating decoder derived from the entry's columns.

A batch whose envelope is broken is rejected whole. An entry that is broken is refused alone,
with the reason, and the batch's good entries are kept: one bad entry never blocks the others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec

from gateway.core.entry_schema import ENTRY_COLUMNS, GROUP_COLUMNS, EntryColumn, wire_json
from gateway.core.values import SLUG, UUID, Entry
from sync.wire import SCHEMA_VERSION, SendClock, WireError, dumps

TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
Timestamp = Annotated[str, msgspec.Meta(pattern=TIMESTAMP)]
Slug = Annotated[str, msgspec.Meta(pattern=SLUG)]
_STRUCT: dict[str, Any] = {"forbid_unknown_fields": True, "frozen": True, "kw_only": True}
# Entries hold no references back (no cycles), so the garbage collector need not track them:
# thousands wait in a collector's queues, and tracking them made every collection walk them.
# For the same reason a list of strings arrives as a tuple: Python's garbage collector stops
# tracking a tuple of strings once it has seen it.
_UNTRACKED: dict[str, Any] = {**_STRUCT, "gc": False}


def _constrained(base: Any, column: EntryColumn) -> Any:
    rules = column.rules
    constraints = {
        "pattern": rules.pattern,
        "min_length": rules.min_length,
        "max_length": rules.max_length,
        "ge": rules.minimum,
        "le": rules.maximum if column.type is int else None,
    }
    given: dict[str, Any] = {k: v for k, v in constraints.items() if v is not None}
    return Annotated[base, msgspec.Meta(**given)] if given else base


def _wire_type(column: EntryColumn) -> Any:
    if column.type is datetime:
        base: Any = Timestamp
    elif column.type is list:
        base = tuple[str, ...]
    else:
        base = _constrained(column.type, column)
    return base | None if column.nullable and column.group is None else base


def _field(name: str, kind: Any, column: EntryColumn) -> tuple[Any, ...]:
    default = column.rules.wire_default
    return (name, kind) if default is ... else (name, kind, default)


def _entry_struct() -> type[msgspec.Struct]:
    specs: list[tuple[Any, ...]] = []
    for column in ENTRY_COLUMNS:
        if column.group is None:
            specs.append(_field(column.name, _wire_type(column), column))
        elif column is GROUP_COLUMNS[column.group][0]:
            parts = [(c.key, _wire_type(c)) for c in GROUP_COLUMNS[column.group]]
            group = msgspec.defstruct(f"Wire{column.group.title()}", parts, **_UNTRACKED)
            specs.append((column.group, group | None))
    return msgspec.defstruct("WireEntry", specs, **_UNTRACKED)


WireEntry = _entry_struct()
"""One entry as the gateway sends it; the fields that came later have defaults."""

E = TypeVar("E")


class _Envelope(msgspec.Struct, Generic[E], rename={"schema_version": "schema"}, **_STRUCT):
    schema_version: Literal[1]
    gate: Slug
    site: Slug
    sent_at: Timestamp
    entries: Annotated[list[E], msgspec.Meta(min_length=1)]
    boot_id: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    sent_monotonic_ns: Annotated[int, msgspec.Meta(ge=0)] | None = None

    def __post_init__(self) -> None:
        if (self.boot_id is None) != (self.sent_monotonic_ns is None):
            raise ValueError("boot_id and sent_monotonic_ns go together")


class _Identity(msgspec.Struct):
    """What can be read of a refused entry to acknowledge it."""

    id: Annotated[str, msgspec.Meta(pattern=UUID)]
    revision: Annotated[int, msgspec.Meta(ge=0)] = 0


_WHOLE = msgspec.json.Decoder(_Envelope[WireEntry])  # type: ignore[valid-type]
_LOOSE = msgspec.json.Decoder(_Envelope[msgspec.Raw])
_ONE = msgspec.json.Decoder(WireEntry)
_IDENTITY = msgspec.json.Decoder(_Identity)


@dataclass(frozen=True, slots=True)
class RefusedEntry:
    """An entry of a batch that is no valid entry; `id` and `revision` when readable."""

    index: int
    reason: str
    raw: bytes
    id: str | None
    revision: int | None


@dataclass(frozen=True, slots=True)
class EntriesBatch:
    """A decoded batch: its valid entries and the ones refused."""

    site: str
    gate: str
    sent_at: datetime
    boot_id: str | None
    sent_monotonic_ns: int | None
    entries: list[Any]  # WireEntry
    refused: list[RefusedEntry]

    @property
    def ids(self) -> list[str]:
        return [entry.id for entry in self.entries]

    @property
    def revisions(self) -> list[int]:
        return [entry.revision for entry in self.entries]

    def acknowledged(self) -> tuple[list[str], list[int]]:
        """Ids and revisions to acknowledge once stored: the valid entries, and the refused
        ones that have an id (they are kept aside, so the gate moves on)."""
        kept = [(r.id, r.revision or 0) for r in self.refused if r.id is not None]
        return (
            self.ids + [entry_id for entry_id, _ in kept],
            self.revisions + [revision for _, revision in kept],
        )


def decode_batch(payload: bytes) -> EntriesBatch:
    """Validate a batch with one pass of the decoder; a batch with broken entries, or with a
    NUL character that may be in a string (no database keeps it), is looked at again entry by
    entry."""
    if _NUL not in payload:
        try:
            whole = _WHOLE.decode(payload)
            return _batch(whole, whole.entries, [])
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
    try:
        loose = _LOOSE.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise WireError(f"invalid entries batch: {_reason(error)}") from None
    entries: list[Any] = []
    refused: list[RefusedEntry] = []
    for index, raw in enumerate(loose.entries):
        try:
            entry = _ONE.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            refused.append(_refusal(index, bytes(raw), f"entries.{index}{_reason(error, '')}"))
            continue
        if _holds_nul(msgspec.to_builtins(entry)):
            refused.append(_refusal(index, bytes(raw), f"entries.{index}: {_NUL_REASON}"))
            continue
        entries.append(entry)
    return _batch(loose, entries, refused)


_NUL = b"\\u0000"
_NUL_REASON = "a string holds a NUL character (\\u0000)"


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(part) for part in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_nul(part) for part in value)
    return False


def _batch(
    envelope: _Envelope[Any],
    entries: list[Any],
    refused: list[RefusedEntry],
) -> EntriesBatch:
    return EntriesBatch(
        site=envelope.site,
        gate=envelope.gate,
        sent_at=datetime.fromisoformat(envelope.sent_at),
        boot_id=envelope.boot_id,
        sent_monotonic_ns=envelope.sent_monotonic_ns,
        entries=entries,
        refused=refused,
    )


def _refusal(index: int, raw: bytes, reason: str) -> RefusedEntry:
    try:
        identity: _Identity | None = _IDENTITY.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        identity = None
    return RefusedEntry(
        index=index,
        reason=reason,
        raw=raw,
        id=identity.id if identity else None,
        revision=identity.revision if identity else None,
    )


_PATH = re.compile(r" - at `\$(.*)`$")
_ECHO = re.compile(r"(Invalid enum value) .*?( - at|$)")


def _reason(error: Exception, root: str = "payload") -> str:
    """Where and what, never the input: it may hold personal data."""
    message = _ECHO.sub(r"\1\2", str(error))
    found = _PATH.search(message)
    if found is None:
        return f"{root}: {message}" if root else f": {message}"
    where = found.group(1).replace("[", ".").replace("]", "")
    return f"{root}{where}: {message[: found.start()]}"


def encode_batch(
    *,
    site: str,
    gate: str,
    entries: Sequence[Entry],
    sent_at: datetime,
    clock: SendClock | None = None,
) -> bytes:
    """A batch of entries (encoded here); `entries` must not be empty."""
    return encode_wire_batch(
        site=site,
        gate=gate,
        entries=[wire_json(entry) for entry in entries],
        sent_at=sent_at,
        clock=clock,
    )


def encode_wire_batch(
    *,
    site: str,
    gate: str,
    entries: Sequence[bytes],
    sent_at: datetime,
    clock: SendClock | None = None,
) -> bytes:
    """A batch of entries already in their wire JSON, joined as they are; `entries` must not
    be empty."""
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
    head = dumps(envelope)[:-1]  # without the closing brace
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
