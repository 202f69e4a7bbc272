from datetime import UTC, datetime

from gateway.core.pairing import RecentReadings, ScanDeduper
from gateway.core.values import Direction, ReadingQuality, Scan, ThermalReading

T0 = datetime(2026, 11, 25, tzinfo=UTC)
S = 1_000_000_000


def reading(at_s: float, celsius: float = 36.5) -> ThermalReading:
    return ThermalReading(celsius, "ir", ReadingQuality.GOOD, int(at_s * S), T0)


def scan(at_s: float, payload: bytes = b"CP1:X", source: str = "s1") -> Scan:
    return Scan(payload, source, "1", Direction.IN, int(at_s * S), T0)


def test_readings_pair_within_window_only() -> None:
    recent = RecentReadings()
    for at in (0.0, 8.0, 9.5, 10.2, 16.0):
        recent.add(reading(at))
    paired = recent.around(10 * S, window_s=1.0)
    assert [r.monotonic_ns for r in paired] == [int(9.5 * S), int(10.2 * S)]


def test_readings_after() -> None:
    recent = RecentReadings()
    recent.add(reading(1))
    recent.add(reading(2))
    assert [r.monotonic_ns for r in recent.after(1 * S)] == [2 * S]


def test_old_readings_are_forgotten() -> None:
    recent = RecentReadings(keep_s=10)
    recent.add(reading(0))
    recent.add(reading(20))
    assert recent.around(0, window_s=1) == ()


def test_same_code_within_window_is_one_scan() -> None:
    deduper = ScanDeduper(window_s=3)
    assert not deduper.is_repeat(scan(0))
    assert deduper.is_repeat(scan(1))
    assert deduper.is_repeat(scan(3.5))  # still held to the reader: the window slides
    assert not deduper.is_repeat(scan(10))
    assert not deduper.is_repeat(scan(10.1, b"CP1:Y"))
    assert not deduper.is_repeat(scan(10.2, source="s2"))
