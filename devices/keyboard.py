"""QR scanners in keyboard-wedge (USB HID) mode, read from their evdev input device."""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import evdev

from devices.backoff import Backoff
from devices.clock import SYSTEM_CLOCK, Clock, stamped_scan
from devices.health import HealthCell
from devices.keymap import KeystrokeDecoder
from gateway.core.values import DeviceHealth, DeviceState, Direction, Scan

logger = logging.getLogger(__name__)

# How long one read waits at most: bounds how late `stop` is noticed.
READ_TIMEOUT_S = 0.2


class InputEvents(Protocol):
    """An opened input device, delivering events as the kernel does."""

    def read(self, timeout_s: float) -> Sequence[evdev.InputEvent]:
        """Events that arrived within `timeout_s` ([] if none); OSError once the device is gone."""
        ...

    def close(self) -> None: ...


OpenInput = Callable[[str], InputEvents]


class EvdevInput:
    """An evdev device grabbed exclusively: its keystrokes reach no console or other program."""

    def __init__(self, path: str) -> None:
        self._device = evdev.InputDevice(path)
        try:
            self._device.grab()
        except OSError:
            self._device.close()
            raise

    def read(self, timeout_s: float) -> Sequence[evdev.InputEvent]:
        ready, _, _ = select.select([self._device.fd], [], [], timeout_s)
        if not ready:
            return []
        try:
            return list(self._device.read())
        except BlockingIOError:
            return []

    def close(self) -> None:
        # An unplugged device can no longer be ungrabbed; closing releases it all the same.
        with contextlib.suppress(OSError):
            self._device.ungrab()
        self._device.close()


class KeyboardScanner:
    """Reads payloads typed by a keyboard-wedge scanner; reopens its device when it returns."""

    kind = "keyboard"

    def __init__(
        self,
        name: str,
        device: str,
        *,
        lane: str,
        direction: Direction,
        max_payload: int = 4096,
        open_input: OpenInput = EvdevInput,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self.device = device
        self.lane = lane
        self.direction = direction
        self._open_input = open_input
        self._clock = clock
        self._keys = KeystrokeDecoder(max_payload, label=name)
        self._health = HealthCell(name, self.kind)

    def health(self) -> DeviceHealth:
        return self._health.get()

    def run(self, emit: Callable[[Scan], None], stop: threading.Event) -> None:
        """Read until `stop` is set; a missing or unplugged device is retried, never fatal."""
        backoff = Backoff()
        try:
            while not stop.is_set():
                try:
                    events = self._open_input(self.device)
                except OSError as exc:
                    self._health.set(DeviceState.DOWN, f"cannot open {self.device}: {_why(exc)}")
                    stop.wait(backoff.next())
                    continue
                backoff.reset()
                self._keys.reset()
                self._health.set(DeviceState.UP)
                try:
                    self._read_until_gone(events, emit, stop)
                finally:
                    events.close()
        finally:
            self._health.stopped()

    def _read_until_gone(
        self, events: InputEvents, emit: Callable[[Scan], None], stop: threading.Event
    ) -> None:
        while not stop.is_set():
            try:
                batch = events.read(READ_TIMEOUT_S)
            except OSError as exc:
                self._health.set(DeviceState.DOWN, f"device gone: {_why(exc)}")
                return
            for event in batch:
                payload = self._keys.feed(event)
                if payload is not None:
                    emit(self._scan(payload))

    def _scan(self, payload: bytes) -> Scan:
        return stamped_scan(
            payload, source=self.name, lane=self.lane, direction=self.direction, clock=self._clock
        )


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
