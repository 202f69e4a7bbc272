"""QR scanners in serial (USB-CDC) mode: one payload per line."""

from __future__ import annotations

import threading
from collections.abc import Callable

import serial

from devices.clock import SYSTEM_CLOCK, Clock, stamped_scan
from devices.framing import LineFramer
from devices.health import HealthCell
from devices.serial_link import SerialLink
from gateway.core.values import DeviceHealth, Direction, Scan


class SerialScanner:
    """Reads payloads from a serial port and reopens it with backoff when it goes away."""

    kind = "serial"

    def __init__(
        self,
        name: str,
        port: str,
        *,
        baudrate: int = 9600,
        lane: str,
        direction: Direction,
        max_payload: int = 4096,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self.port = port
        self.baudrate = baudrate
        self.lane = lane
        self.direction = direction
        self._clock = clock
        self._framer = LineFramer(max_payload, label=name)
        self._health = HealthCell(name, self.kind)
        self._link = SerialLink(name, port, baudrate, self._health)

    def health(self) -> DeviceHealth:
        return self._health.get()

    def run(self, emit: Callable[[Scan], None], stop: threading.Event) -> None:
        """Read until `stop` is set; an unplugged or missing port is retried, never fatal."""

        def on_open(connection: serial.Serial) -> None:
            self._framer.reset()

        def on_data(data: bytes) -> None:
            for payload in self._framer.feed(data):
                emit(self._scan(payload))

        try:
            self._link.run(on_open, on_data, stop)
        finally:
            self._health.stopped()

    def _scan(self, payload: bytes) -> Scan:
        return stamped_scan(
            payload, source=self.name, lane=self.lane, direction=self.direction, clock=self._clock
        )
