"""Ports: the small interfaces through which devices and sync see the gateway."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

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
