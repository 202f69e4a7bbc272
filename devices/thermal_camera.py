"""Thermal cameras as temperature sources: frames in, one body-temperature reading per person."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from devices.body_temperature import (
    BodyTemperatureEstimator,
    Flag,
    FrameEstimate,
    PassageSettings,
    PassageTracker,
)
from devices.clock import SYSTEM_CLOCK, Clock
from devices.health import HealthCell
from devices.preview import Latest, thermal_jpeg
from devices.radiometry import Celsius, ThermalFrame
from gateway.core.values import DeviceHealth, DeviceState, ThermalReading

logger = logging.getLogger(__name__)

_NS = 1_000_000_000
# Frames in a row without the reference before the camera counts as degraded: a person
# walking past the blackbody hides it for a moment, which is no fault of the device.
REFERENCE_MISSES = 10


class FrameFeed(Protocol):
    """Where a thermal camera's frames come from: a UVC camera, a serial module, HTTP.

    `run` delivers frames until `stop` is set, reconnecting (with backoff) on its own and
    keeping `health` DOWN while it cannot; `on_connect` is called at each (re)connection.
    """

    kind: str

    def run(
        self,
        on_frame: Callable[[ThermalFrame], None],
        on_connect: Callable[[], None],
        health: HealthCell,
        stop: threading.Event,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class ThermalView:
    """A frame and its estimate (None: the frame could not be estimated)."""

    celsius: Celsius
    estimate: FrameEstimate | None


class ThermalCamera:
    """A `ThermalSource` from a frame feed: every frame estimated, one reading per passage.

    Readings in the first `warmup_s` after each connection are marked POOR: radiometric
    sensors drift until they have warmed up.
    """

    def __init__(
        self,
        name: str,
        feed: FrameFeed,
        estimator: BodyTemperatureEstimator,
        *,
        passage: PassageSettings | None = None,
        warmup_s: float = 0.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if warmup_s < 0:
            raise ValueError("warmup_s must not be negative")
        self.name = name
        self.kind = feed.kind
        self._feed = feed
        self._estimator = estimator
        self._passage = passage or PassageSettings()
        self._warmup_ns = int(warmup_s * _NS)
        self._clock = clock
        self._health = HealthCell(name, feed.kind)
        self._latest: Latest[ThermalView] = Latest()

    def health(self) -> DeviceHealth:
        return self._health.get()

    def run(self, emit: Callable[[ThermalReading], None], stop: threading.Event) -> None:
        tracker = PassageTracker(self._passage)
        connected_ns = self._clock.monotonic_ns()
        misses = 0

        def on_connect() -> None:
            nonlocal connected_ns
            connected_ns = self._clock.monotonic_ns()

        def on_frame(frame: ThermalFrame) -> None:
            nonlocal misses
            warming = frame.monotonic_ns - connected_ns < self._warmup_ns
            estimate: FrameEstimate | None = None
            try:
                estimate = self._estimator.estimate(frame.celsius, warming_up=warming)
            except ValueError as exc:
                self._health.set(DeviceState.DEGRADED, str(exc))
            self._latest.put(ThermalView(frame.celsius, estimate), self._clock.monotonic_ns())
            if estimate is None:
                return
            misses = misses + 1 if Flag.REFERENCE_NOT_SEEN in estimate.flags else 0
            if warming:
                self._health.set(DeviceState.DEGRADED, Flag.WARMING_UP.value)
            elif misses >= REFERENCE_MISSES:
                self._health.set(DeviceState.DEGRADED, Flag.REFERENCE_NOT_SEEN.value)
            else:
                self._health.set(DeviceState.UP)
            reading = tracker.feed(estimate, frame.monotonic_ns)
            if reading is not None:
                emit(
                    ThermalReading(
                        celsius=reading.celsius,
                        source=self.name,
                        quality=reading.quality,
                        monotonic_ns=frame.monotonic_ns,
                        wall_time=self._clock.now(),
                    )
                )

        try:
            self._feed.run(on_frame, on_connect, self._health, stop)
        finally:
            self._health.stopped()

    def preview_jpeg(self) -> bytes | None:
        """The newest frame in false colour with the face measured, its temperature and the
        reference, as JPEG; None when there is no recent frame."""
        view = self._latest.get(self._clock.monotonic_ns())
        if view is None:
            return None
        reference = self._estimator.settings.reference
        estimate = view.estimate
        return thermal_jpeg(
            view.celsius,
            face=estimate.face if estimate else None,
            reading_c=estimate.celsius if estimate else None,
            reference=reference.box if reference else None,
        )
