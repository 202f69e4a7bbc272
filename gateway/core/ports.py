"""Ports: the small interfaces through which devices, sync and the web see the gateway."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from gateway.core.lookups import Absence, Contact, Passage
from gateway.core.records import GateSync, Period, Stats
from gateway.core.values import Backlog, DeviceHealth, Scan, ThermalReading


class ScanSource(Protocol):
    """A scanner. `run` blocks in its own thread until `stop` is set."""

    name: str

    def run(self, emit: Callable[[Scan], None], stop: threading.Event) -> None: ...

    def health(self) -> DeviceHealth: ...


class ThermalSource(Protocol):
    """A temperature source. `run` blocks in its own thread until `stop` is set."""

    name: str

    def run(self, emit: Callable[[ThermalReading], None], stop: threading.Event) -> None: ...

    def health(self) -> DeviceHealth: ...


@runtime_checkable
class Previewable(Protocol):
    """A device that can show a technician what it sees (a camera, a thermal camera)."""

    name: str

    def preview_jpeg(self) -> bytes | None:
        """The newest frame as JPEG with what was found in it drawn on; None when there is
        no recent frame."""
        ...


ANY_REVISION = 2**62
"""The revision an ack without revisions (from an older collector) stands for: any."""


class OutboxItem(NamedTuple):
    """An entry waiting for the collector's ack, in the revision to send, as its wire JSON."""

    seq: int
    id: str
    revision: int
    wire: bytes


class Outbox(Protocol):
    """The durable queue of recorded entries waiting for the collector's ack."""

    def pending(self, *, after_seq: int, limit: int) -> Sequence[OutboxItem]:
        """Unsynced entries with `seq` above `after_seq`, in `seq` order."""
        ...

    def mark_synced(self, *, ids: Sequence[str], revisions: Sequence[int] | None = None) -> int:
        """Mark these entries acknowledged; returns how many were still pending.

        With `revisions` (one per id), only entries whose own revision is no newer.
        """
        ...

    def backlog(self) -> Backlog: ...


class Exported(NamedTuple):
    """An entries bundle written: where, and how many entries it holds."""

    path: Path
    entries: int


class Settled(NamedTuple):
    """A receipt taken: the entries it names, and how many of them were still waiting."""

    bundle_id: str
    named: int
    settled: int


class HandCarry(Protocol):
    """Sync by hand on a USB stick, as the technician page offers it."""

    def sticks(self) -> list[Path]:
        """The USB sticks mounted now."""
        ...

    def stick_files(self) -> list[Path]:
        """Receipts and lists bundles on those sticks."""
        ...

    def export_to(self, stick: Path) -> Exported:
        """Write an entries bundle onto a mounted stick."""
        ...

    def settle_file(self, path: Path) -> Settled:
        """Take a receipt from a stick."""
        ...

    async def import_lists_file(self, path: Path) -> list[str]:
        """Take a lists bundle from a stick; a line per document."""
        ...


class PersonLookups(Protocol):
    """Who went in and out, on one database; `close` releases its connections."""

    def close(self) -> None: ...

    def subject_of(self, entry_id: str) -> str | None:
        """The pseudonym of the person an entry names (None: no entry, or nobody known)."""
        ...

    def trace(self, subject: str, start: datetime, end: datetime) -> list[Passage]: ...

    def contacts(
        self, subject: str, start: datetime, end: datetime, *, window_min: int
    ) -> list[Contact]: ...

    def absent(self, *, days: int, now: datetime, out_hours: int) -> list[Absence]: ...


class EntryRecords(Protocol):
    """The entries as the managers' pages read them, at a gate or at the collector."""

    def rows(self, period: Period) -> Iterator[dict[str, Any]]:
        """Rows of the period in time order, as `checkpoint export` writes them."""
        ...

    def stats(self, period: Period) -> Stats: ...

    def search(
        self,
        period: Period,
        *,
        text: str = "",
        decision: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Matching rows newest first: how many match, and the page asked for."""
        ...

    def gates(self) -> list[GateSync]:
        """The gates a collector database knows (empty for a gateway database)."""
        ...

    def lookups(self) -> PersonLookups:
        """The lookups of a person on this database (close them after use)."""
        ...
