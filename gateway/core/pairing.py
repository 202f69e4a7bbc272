"""Pairing a scan with the temperature readings of the same person, and scan dedupe."""

from __future__ import annotations

from collections import deque

from gateway.core.values import Scan, ThermalReading

_NS = 1_000_000_000


class RecentReadings:
    """The temperature readings of the last few seconds, by monotonic time."""

    def __init__(self, keep_s: float = 30.0) -> None:
        self._keep_ns = int(keep_s * _NS)
        self._readings: deque[ThermalReading] = deque()

    def add(self, reading: ThermalReading) -> None:
        self._readings.append(reading)
        self._prune(reading.monotonic_ns)

    def around(self, monotonic_ns: int, window_s: float) -> tuple[ThermalReading, ...]:
        """Readings within `window_s` of the given time, oldest first."""
        window_ns = int(window_s * _NS)
        return tuple(r for r in self._readings if abs(r.monotonic_ns - monotonic_ns) <= window_ns)

    def after(self, monotonic_ns: int) -> tuple[ThermalReading, ...]:
        """Readings taken strictly after the given time, oldest first."""
        return tuple(r for r in self._readings if r.monotonic_ns > monotonic_ns)

    def _prune(self, now_ns: int) -> None:
        while self._readings and now_ns - self._readings[0].monotonic_ns > self._keep_ns:
            self._readings.popleft()


class ScanDeduper:
    """Treats repeated reads of the same code by the same scanner within a window as one."""

    def __init__(self, window_s: float) -> None:
        self._window_ns = int(window_s * _NS)
        self._last_seen: dict[tuple[str, bytes], int] = {}

    def is_repeat(self, scan: Scan) -> bool:
        """True when this payload was read by this source within the window before."""
        key = (scan.source, scan.payload)
        previous = self._last_seen.get(key)
        self._last_seen[key] = scan.monotonic_ns
        self._forget_older_than(scan.monotonic_ns - self._window_ns)
        return previous is not None and scan.monotonic_ns - previous <= self._window_ns

    def _forget_older_than(self, cutoff_ns: int) -> None:
        if len(self._last_seen) < 256:
            return
        for key in [k for k, t in self._last_seen.items() if t < cutoff_ns]:
            del self._last_seen[key]
