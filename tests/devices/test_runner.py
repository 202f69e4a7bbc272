from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from devices.runner import DeviceRunner
from devices.simulated import Passage, SimulatedGate, SimulatedThermal
from gateway.core.values import (
    DeviceHealth,
    DeviceState,
    Direction,
    ReadingQuality,
    Scan,
    ThermalReading,
)
from tests.devices.support import wait_until


class FailsFirst:
    """A thermal source whose first run raises (or returns early), then reads until stopped."""

    def __init__(self, *, raises: bool = True) -> None:
        self.name = "flaky"
        self.runs = 0
        self._raises = raises

    def run(self, emit: Callable[[ThermalReading], None], stop: threading.Event) -> None:
        self.runs += 1
        if self.runs == 1:
            if self._raises:
                raise RuntimeError("sensor lost")
            return
        emit(ThermalReading(36.6, self.name, ReadingQuality.GOOD, 0, datetime.now(UTC)))
        stop.wait()

    def health(self) -> DeviceHealth:
        return DeviceHealth(self.name, "test", DeviceState.UP)


class Collected:
    def __init__(self) -> None:
        self.scans: queue.Queue[Scan] = queue.Queue()
        self.readings: queue.Queue[ThermalReading] = queue.Queue()

    def on_scan(self, scan: Scan) -> object:
        self.scans.put(scan)
        return object()  # what call_soon_threadsafe would hand back: ignored

    def on_reading(self, reading: ThermalReading) -> None:
        self.readings.put(reading)


@pytest.fixture
def collected() -> Collected:
    return Collected()


def test_each_source_runs_in_a_named_thread_and_stop_joins_them(collected: Collected) -> None:
    sim = SimulatedGate(
        [Passage(b"CP1:A", [36.6])], 0, lane="1", direction=Direction.IN, lead_s=0.01
    )
    runner = DeviceRunner([sim.scanner], [sim.thermal, SimulatedThermal("spot", period_s=60)])
    runner.start(collected.on_scan, collected.on_reading)
    try:
        assert collected.scans.get(timeout=2).payload == b"CP1:A"
        sources = {collected.readings.get(timeout=2).source for _ in range(2)}
        assert sources == {"simulated"}
        names = {thread.name for thread in threading.enumerate()}
        assert {"device-sim-scanner", "device-sim-thermal", "device-spot"} <= names
        assert [h.name for h in runner.health()] == ["sim-scanner", "sim-thermal", "spot"]
        assert all(h.state is DeviceState.UP for h in runner.health())
    finally:
        assert runner.stop(timeout=2)
    names = {thread.name for thread in threading.enumerate()}
    assert not names & {"device-sim-scanner", "device-sim-thermal", "device-spot"}
    assert all(h.state is DeviceState.DOWN for h in runner.health())


def test_a_source_that_raises_is_logged_marked_down_and_restarted(
    collected: Collected, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FailsFirst()
    runner = DeviceRunner([], [flaky], restart_first_s=0.5)
    with caplog.at_level(logging.ERROR, logger="devices.runner"):
        runner.start(collected.on_scan, collected.on_reading)
        try:
            assert wait_until(lambda: runner.health()[0].state is DeviceState.DOWN)
            assert runner.health()[0].reason == "failed: RuntimeError: sensor lost"
            assert runner.health()[0].kind == "test"
            assert collected.readings.get(timeout=3).celsius == 36.6
            assert flaky.runs == 2
            assert runner.health()[0].state is DeviceState.UP
        finally:
            assert runner.stop(timeout=2)
    failure = next(r for r in caplog.records if "flaky" in r.getMessage())
    assert failure.exc_info is not None


def test_a_source_that_returns_by_itself_is_restarted(collected: Collected) -> None:
    flaky = FailsFirst(raises=False)
    runner = DeviceRunner([], [flaky], restart_first_s=0.05)
    runner.start(collected.on_scan, collected.on_reading)
    try:
        assert collected.readings.get(timeout=3).source == "flaky"
        assert flaky.runs == 2
    finally:
        assert runner.stop(timeout=2)


def test_stop_during_a_restart_backoff_ends_promptly(collected: Collected) -> None:
    runner = DeviceRunner([], [FailsFirst()], restart_first_s=60, restart_max_s=60)
    runner.start(collected.on_scan, collected.on_reading)
    assert wait_until(lambda: runner.health()[0].state is DeviceState.DOWN)
    assert runner.stop(timeout=1)


def test_starting_twice_is_refused(collected: Collected) -> None:
    runner = DeviceRunner([], [SimulatedThermal(period_s=60)])
    runner.start(collected.on_scan, collected.on_reading)
    try:
        with pytest.raises(RuntimeError, match="already started"):
            runner.start(collected.on_scan, collected.on_reading)
    finally:
        assert runner.stop(timeout=2)
