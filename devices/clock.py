"""The two clocks every device reading is stamped with, and a scan stamped with them."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from gateway.core.values import Direction, Scan


class Clock(Protocol):
    """Monotonic time for ordering and pairing, wall time (UTC) for the record."""

    def monotonic_ns(self) -> int: ...

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clocks."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK = SystemClock()


def stamped_scan(
    payload: bytes,
    *,
    source: str,
    lane: str,
    direction: Direction,
    clock: Clock,
    monotonic_ns: int | None = None,
) -> Scan:
    """A scan read now (or at `monotonic_ns`, when the frame was taken), by every scanner."""
    return Scan(
        payload=payload,
        source=source,
        lane=lane,
        direction=direction,
        monotonic_ns=clock.monotonic_ns() if monotonic_ns is None else monotonic_ns,
        wall_time=clock.now(),
    )
