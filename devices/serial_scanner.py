"""QR scanners in serial (USB-CDC) mode: one payload per line."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import serial

from devices.backoff import Backoff
from devices.clock import SYSTEM_CLOCK, Clock
from devices.framing import LineFramer
from gateway.core.values import DeviceHealth, DeviceState, Direction, Scan

logger = logging.getLogger(__name__)

# How long one read blocks at most: bounds how late `stop` is noticed.
READ_TIMEOUT_S = 0.2


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
        self._health = DeviceHealth(name, self.kind, DeviceState.DOWN, "not started")

    def health(self) -> DeviceHealth:
        return self._health

    def run(self, emit: Callable[[Scan], None], stop: threading.Event) -> None:
        """Read until `stop` is set; an unplugged or missing port is retried, never fatal."""
        backoff = Backoff()
        try:
            while not stop.is_set():
                connection = self._open()
                if connection is None:
                    stop.wait(backoff.next())
                    continue
                backoff.reset()
                with connection:
                    self._read_until_closed(connection, emit, stop)
        finally:
            self._health = DeviceHealth(self.name, self.kind, DeviceState.DOWN, "stopped")

    def _open(self) -> serial.Serial | None:
        try:
            connection = serial.Serial(self.port, self.baudrate, timeout=READ_TIMEOUT_S)
        except (serial.SerialException, OSError) as exc:
            self._set(DeviceState.DOWN, f"cannot open {self.port}: {exc}")
            return None
        self._framer.reset()
        self._set(DeviceState.UP)
        logger.info("%s: opened %s", self.name, self.port)
        return connection

    def _read_until_closed(
        self,
        connection: serial.Serial,
        emit: Callable[[Scan], None],
        stop: threading.Event,
    ) -> None:
        while not stop.is_set():
            try:
                # Blocks for the first byte (up to the timeout), then takes what has arrived.
                data = connection.read(connection.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                self._set(DeviceState.DOWN, f"port closed: {exc}")
                return
            for payload in self._framer.feed(data):
                emit(self._scan(payload))

    def _scan(self, payload: bytes) -> Scan:
        return Scan(
            payload=payload,
            source=self.name,
            lane=self.lane,
            direction=self.direction,
            monotonic_ns=self._clock.monotonic_ns(),
            wall_time=self._clock.now(),
        )

    def _set(self, state: DeviceState, reason: str = "") -> None:
        # Log changes only: a missing port is retried every few seconds.
        if state is DeviceState.DOWN and reason != self._health.reason:
            logger.warning("%s: %s", self.name, reason)
        self._health = DeviceHealth(self.name, self.kind, state, reason)
