from __future__ import annotations

import itertools
import queue
from collections.abc import Callable, Iterable
from datetime import timedelta

import pytest

from devices.simulated import Passage, SimulatedGate, SimulatedThermal
from gateway.core.values import DeviceState, Direction, ReadingQuality, Scan, ThermalReading
from tests.devices.support import Running, wait_until

LEAD_S = 0.05
REMEASURE_S = 0.1
TOLERANCE_NS = 5_000_000


def gate(passages: Iterable[Passage], interval_s: float) -> SimulatedGate:
    return SimulatedGate(
        passages,
        interval_s,
        lane="2",
        direction=Direction.OUT,
        lead_s=LEAD_S,
        remeasure_s=REMEASURE_S,
    )


def play(sim: SimulatedGate, scans: int, readings: int) -> list[Scan | ThermalReading]:
    """Run both sources until they emitted this much; everything in monotonic order."""
    scanner, thermal = Running(sim.scanner), Running(sim.thermal)
    try:
        emitted: list[Scan | ThermalReading] = [*scanner.take(scans), *thermal.take(readings)]
        with pytest.raises(queue.Empty):
            scanner.next(timeout=0.2)
        with pytest.raises(queue.Empty):
            thermal.next(timeout=0.01)
    finally:
        scanner.end()
        thermal.end()
    return sorted(emitted, key=lambda value: value.monotonic_ns)


def describe(value: Scan | ThermalReading) -> bytes | float:
    return value.payload if isinstance(value, Scan) else value.celsius


def test_reading_before_scan_then_remeasures_then_a_passage_without_code() -> None:
    passages = [
        Passage(b"CP1:A", [36.6]),
        Passage(b"CP1:B", [38.1, 36.8]),
        Passage(None, [36.5]),
    ]
    timeline = play(gate(passages, interval_s=0.1), scans=2, readings=4)

    assert [describe(v) for v in timeline] == [36.6, b"CP1:A", 38.1, b"CP1:B", 36.8, 36.5]
    first, scan_a, fever, scan_b, remeasure, no_code = timeline
    assert scan_a.monotonic_ns - first.monotonic_ns >= LEAD_S * 1e9 - TOLERANCE_NS
    assert scan_b.monotonic_ns - fever.monotonic_ns >= LEAD_S * 1e9 - TOLERANCE_NS
    assert remeasure.monotonic_ns - scan_b.monotonic_ns >= REMEASURE_S * 1e9 - TOLERANCE_NS
    assert no_code.monotonic_ns - remeasure.monotonic_ns >= 0.1 * 1e9 - TOLERANCE_NS


def test_values_carry_source_quality_lane_direction_and_utc_time() -> None:
    timeline = play(gate([Passage(b"X", [36.9])], interval_s=0), scans=1, readings=1)
    reading, scan = timeline
    assert isinstance(reading, ThermalReading) and isinstance(scan, Scan)
    assert (reading.source, reading.quality) == ("simulated", ReadingQuality.GOOD)
    assert (scan.source, scan.lane, scan.direction) == ("sim-scanner", "2", Direction.OUT)
    for value in timeline:
        assert value.wall_time.utcoffset() == timedelta(0)


def test_a_passage_without_temperatures_still_scans() -> None:
    timeline = play(gate([Passage(b"ONLY", [])], interval_s=0), scans=1, readings=0)
    assert [describe(v) for v in timeline] == [b"ONLY"]


def test_an_infinite_script_keeps_cycling_in_step() -> None:
    passages = itertools.cycle([Passage(b"P", [36.6]), Passage(b"Q", [36.7])])
    sim = SimulatedGate(
        passages, 0.0, lane="1", direction=Direction.IN, lead_s=0.01, remeasure_s=0.01
    )
    scanner, thermal = Running(sim.scanner), Running(sim.thermal)
    try:
        scans = scanner.take(6)
        readings = thermal.take(6)
    finally:
        scanner.end()
        thermal.end()
    assert [s.payload for s in scans] == [b"P", b"Q"] * 3
    assert [r.celsius for r in readings] == [36.6, 36.7] * 3
    assert all(r.monotonic_ns < s.monotonic_ns for r, s in zip(readings, scans, strict=True))


def test_both_sources_stop_promptly_in_a_long_interval() -> None:
    sim = gate([Passage(b"A", [36.6]), Passage(b"B", [36.6])], interval_s=60)
    scanner, thermal = Running(sim.scanner), Running(sim.thermal)
    assert scanner.next().payload == b"A"
    assert thermal.next().celsius == 36.6
    scanner.stop.set()
    thermal.stop.set()
    scanner.thread.join(1.0)
    thermal.thread.join(1.0)
    assert not scanner.thread.is_alive()
    assert not thermal.thread.is_alive()
    assert sim.scanner.health().state is DeviceState.DOWN
    assert sim.thermal.health().reason == "stopped"


def test_a_finished_script_idles_up_until_stopped() -> None:
    sim = gate([Passage(b"A", [36.6])], interval_s=0)
    scanner = Running(sim.scanner)
    try:
        assert scanner.next().payload == b"A"
        assert wait_until(lambda: sim.scanner.health().reason == "script finished")
        assert sim.scanner.health().state is DeviceState.UP
        assert scanner.thread.is_alive()
    finally:
        scanner.end()
    assert not scanner.thread.is_alive()


def test_passage_keeps_temperatures_as_a_tuple() -> None:
    assert Passage(b"A", [38.1, 36.8]) == Passage(b"A", (38.1, 36.8))
    assert Passage(None, [36]).temperatures == (36.0,)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SimulatedThermal(period_s=0),
        lambda: SimulatedThermal(jitter_c=-1),
        lambda: SimulatedGate([], -1, lane="1", direction=Direction.IN),
    ],
)
def test_bad_timings_are_rejected(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


def test_simulated_thermal_reads_plausible_values_periodically() -> None:
    thermal = SimulatedThermal(celsius=36.6, jitter_c=0.3, period_s=0.02, seed=7)
    running = Running(thermal)
    try:
        readings = running.take(5)
        assert thermal.health().state is DeviceState.UP
    finally:
        running.end()
    assert all(36.3 <= r.celsius <= 36.9 for r in readings)
    assert all(r.quality is ReadingQuality.GOOD and r.source == "simulated" for r in readings)
    times = [r.monotonic_ns for r in readings]
    assert times == sorted(times)
    assert times[-1] - times[0] >= 4 * 0.02 * 1e9 - TOLERANCE_NS


def test_simulated_thermal_stops_promptly_during_a_long_period() -> None:
    thermal = SimulatedThermal(period_s=60)
    running = Running(thermal)
    running.next()
    running.end(timeout=1.0)
    assert not running.thread.is_alive()
    assert thermal.health().state is DeviceState.DOWN
