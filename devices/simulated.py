"""Simulated scanner and thermal sources for the demo and tests."""

from __future__ import annotations

import functools
import itertools
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from devices.clock import SYSTEM_CLOCK, Clock, stamped_scan
from devices.simulated_views import SimulatedCameraView, SimulatedThermalView
from gateway.core.ports import ScanSource, ThermalSource
from gateway.core.values import (
    DeviceHealth,
    DeviceState,
    Direction,
    ReadingQuality,
    Scan,
    ThermalReading,
)

SCANNER_NAME = "sim-scanner"
THERMAL_NAME = "sim-thermal"
SOURCE = "simulated"
KIND = "simulated"
_NS = 1_000_000_000

T = TypeVar("T")
V = TypeVar("V")


@dataclass(frozen=True, slots=True, init=False)
class Passage:
    """One person at the gate: the code shown (None: no code), the temperatures read, and the
    way they go (None: the gate's direction)."""

    payload: bytes | None
    temperatures: tuple[float, ...]
    direction: Direction | None

    def __init__(
        self,
        payload: bytes | None,
        temperatures: Sequence[float],
        direction: Direction | None = None,
    ) -> None:
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "temperatures", tuple(float(t) for t in temperatures))
        object.__setattr__(self, "direction", direction)


class _Script:
    """The passages laid out on one timeline that both sources of a gate walk along.

    Each source holds its own iterator over the same passages (the iterable may be an
    infinite generator, read once); times count from the first `run` of either source.
    """

    def __init__(
        self,
        passages: Iterable[Passage],
        *,
        interval_ns: int,
        lead_ns: int,
        remeasure_ns: int,
        clock: Clock,
    ) -> None:
        self._scanner_passages, self._thermal_passages = itertools.tee(passages, 2)
        self._interval_ns = interval_ns
        self._lead_ns = lead_ns
        self._remeasure_ns = remeasure_ns
        self._clock = clock
        # tee objects are not thread-safe; both sources advance them under this lock.
        self._lock = threading.Lock()
        self._epoch_ns: int | None = None

    def scans(self) -> Iterator[tuple[int, Passage]]:
        """(due monotonic ns, passage) of every passage with a code."""
        for start_ns, passage in self._timeline(self._scanner_passages):
            if passage.payload is not None:
                yield start_ns + self._lead_ns, passage

    def readings(self) -> Iterator[tuple[int, float]]:
        """(due monotonic ns, °C): the first before the scan, re-measures after it."""
        for start_ns, passage in self._timeline(self._thermal_passages):
            for k, celsius in enumerate(passage.temperatures):
                due_ns = start_ns if k == 0 else self._scan_ns(start_ns) + k * self._remeasure_ns
                yield due_ns, celsius

    def _timeline(self, passages: Iterator[Passage]) -> Iterator[tuple[int, Passage]]:
        start_ns = self._epoch()
        while True:
            with self._lock:
                passage = next(passages, None)
            if passage is None:
                return
            yield start_ns, passage
            remeasures = max(len(passage.temperatures) - 1, 0)
            start_ns = self._scan_ns(start_ns) + remeasures * self._remeasure_ns
            start_ns += self._interval_ns

    def _scan_ns(self, start_ns: int) -> int:
        # The thermal camera sees the person slightly before the code is presented.
        return start_ns + self._lead_ns

    def _epoch(self) -> int:
        with self._lock:
            if self._epoch_ns is None:
                self._epoch_ns = self._clock.monotonic_ns()
            return self._epoch_ns


class _ScriptedSource(Generic[T, V]):
    """Waits for each due time of its timeline and emits it; idles when the script ends."""

    def __init__(
        self,
        name: str,
        timeline: Iterator[tuple[int, T]],
        make: Callable[[T], V],
        clock: Clock,
    ) -> None:
        self.name = name
        self._timeline = timeline
        self._make = make
        self._clock = clock
        self._health = DeviceHealth(name, KIND, DeviceState.DOWN, "not started")

    def health(self) -> DeviceHealth:
        return self._health

    def run(self, emit: Callable[[V], None], stop: threading.Event) -> None:
        self._health = DeviceHealth(self.name, KIND, DeviceState.UP)
        try:
            for due_ns, value in self._timeline:
                wait_ns = due_ns - self._clock.monotonic_ns()
                if stop.wait(max(wait_ns, 0) / _NS):
                    return
                emit(self._make(value))
            self._health = DeviceHealth(self.name, KIND, DeviceState.UP, "script finished")
            stop.wait()
        finally:
            self._health = DeviceHealth(self.name, KIND, DeviceState.DOWN, "stopped")


class _PreviewedSource(_ScriptedSource[T, V]):
    """A scripted source whose preview shows a picture of what it emitted last."""

    def __init__(
        self,
        name: str,
        timeline: Iterator[tuple[int, T]],
        make: Callable[[T], V],
        clock: Clock,
        *,
        show: Callable[[V], None],
        render: Callable[[], bytes],
    ) -> None:
        super().__init__(name, timeline, make, clock)
        self._show = show
        self._render = render

    def run(self, emit: Callable[[V], None], stop: threading.Event) -> None:
        def shown(value: V) -> None:
            self._show(value)
            emit(value)

        super().run(shown, stop)

    def preview_jpeg(self) -> bytes | None:
        return self._render()


class SimulatedGate:
    """A scripted gate: `.scanner` and `.thermal` play the passages in step.

    Per passage, the first temperature is read `lead_s` before the scan, further temperatures
    (re-measures) follow the scan `remeasure_s` apart, and the next passage starts
    `interval_s` after the last of them. Both sources have previews: synthetic pictures of
    the code and the person, as a camera and a thermal camera would show them.
    """

    def __init__(
        self,
        passages: Iterable[Passage],
        interval_s: float,
        *,
        lane: str,
        direction: Direction,
        lead_s: float = 0.2,
        remeasure_s: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if min(interval_s, lead_s, remeasure_s) < 0:
            raise ValueError("simulated gate times must not be negative")
        script = _Script(
            passages,
            interval_ns=int(interval_s * _NS),
            lead_ns=int(lead_s * _NS),
            remeasure_ns=int(remeasure_s * _NS),
            clock=clock,
        )
        camera, thermal = SimulatedCameraView(), SimulatedThermalView()
        self.scanner: ScanSource = _PreviewedSource(
            SCANNER_NAME,
            script.scans(),
            functools.partial(_passage_scan, lane=lane, direction=direction, clock=clock),
            clock,
            show=lambda scan: camera.show(scan.payload, scan.monotonic_ns),
            render=lambda: camera.jpeg(clock.monotonic_ns()),
        )
        self.thermal: ThermalSource = _PreviewedSource(
            THERMAL_NAME,
            script.readings(),
            functools.partial(_reading, clock=clock),
            clock,
            show=lambda reading: thermal.show(reading.celsius, reading.monotonic_ns),
            render=lambda: thermal.jpeg(clock.monotonic_ns()),
        )


class SimulatedThermal:
    """A thermal source reading a plausible temperature (with jitter) every `period_s`."""

    def __init__(
        self,
        name: str = THERMAL_NAME,
        *,
        celsius: float = 36.6,
        jitter_c: float = 0.2,
        period_s: float = 1.0,
        seed: int | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if period_s <= 0 or jitter_c < 0:
            raise ValueError("period_s must be positive and jitter_c not negative")
        self.name = name
        self._celsius = celsius
        self._jitter_c = jitter_c
        self._period_s = period_s
        self._random = random.Random(seed)
        self._clock = clock
        self._health = DeviceHealth(name, KIND, DeviceState.DOWN, "not started")

    def health(self) -> DeviceHealth:
        return self._health

    def run(self, emit: Callable[[ThermalReading], None], stop: threading.Event) -> None:
        self._health = DeviceHealth(self.name, KIND, DeviceState.UP)
        try:
            while not stop.is_set():
                jitter = self._random.uniform(-self._jitter_c, self._jitter_c)
                emit(_reading(round(self._celsius + jitter, 1), clock=self._clock))
                stop.wait(self._period_s)
        finally:
            self._health = DeviceHealth(self.name, KIND, DeviceState.DOWN, "stopped")


def _passage_scan(passage: Passage, *, lane: str, direction: Direction, clock: Clock) -> Scan:
    assert passage.payload is not None  # the script scans passages with a code only
    return _scan(passage.payload, lane=lane, direction=passage.direction or direction, clock=clock)


def _scan(payload: bytes, *, lane: str, direction: Direction, clock: Clock) -> Scan:
    return stamped_scan(payload, source=SCANNER_NAME, lane=lane, direction=direction, clock=clock)


def _reading(celsius: float, *, clock: Clock) -> ThermalReading:
    return ThermalReading(
        celsius=celsius,
        source=SOURCE,
        quality=ReadingQuality.GOOD,
        monotonic_ns=clock.monotonic_ns(),
        wall_time=clock.now(),
    )


def payload_loop(
    payloads: Sequence[bytes],
    interval_s: float,
    *,
    lane: str,
    direction: Direction,
    clock: Clock = SYSTEM_CLOCK,
) -> ScanSource:
    """A scanner reading `payloads` in a loop, one every `interval_s`, the first at once."""
    if not payloads or interval_s <= 0:
        raise ValueError("a payload loop needs payloads and a positive interval")

    def timeline() -> Iterator[tuple[int, bytes]]:
        start_ns = clock.monotonic_ns()
        for k, payload in enumerate(itertools.cycle(payloads)):
            yield start_ns + int(k * interval_s * _NS), payload

    return _ScriptedSource(
        SCANNER_NAME,
        timeline(),
        functools.partial(_scan, lane=lane, direction=direction, clock=clock),
        clock,
    )
