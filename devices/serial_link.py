"""A serial port that is opened, read until it goes away, and reopened with backoff."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import serial

from devices.backoff import Backoff
from devices.health import HealthCell
from gateway.core.values import DeviceState

logger = logging.getLogger(__name__)

# How long one read blocks at most: bounds how late `stop` is noticed.
READ_TIMEOUT_S = 0.2


class SerialLink:
    """Feeds the bytes arriving on `port` to a callback; unplugging is retried, never fatal.

    `on_open` runs after each (re)open with the fresh connection, e.g. to reset a parser or
    to send the command that starts the device's output. `on_data` gets every read, b"" when
    the read timed out.
    """

    def __init__(self, name: str, port: str, baudrate: int, health: HealthCell) -> None:
        self.name = name
        self.port = port
        self.baudrate = baudrate
        self._health = health

    def run(
        self,
        on_open: Callable[[serial.Serial], None],
        on_data: Callable[[bytes], None],
        stop: threading.Event,
    ) -> None:
        """Read until `stop` is set."""
        backoff = Backoff()
        while not stop.is_set():
            connection = self._open()
            if connection is None:
                stop.wait(backoff.next())
                continue
            backoff.reset()
            with connection:
                try:
                    on_open(connection)
                except (serial.SerialException, OSError) as exc:
                    self._health.set(DeviceState.DOWN, f"port closed: {exc}")
                    continue
                self._read_until_closed(connection, on_data, stop)

    def _open(self) -> serial.Serial | None:
        try:
            connection = serial.Serial(self.port, self.baudrate, timeout=READ_TIMEOUT_S)
        except (serial.SerialException, OSError) as exc:
            self._health.set(DeviceState.DOWN, f"cannot open {self.port}: {exc}")
            return None
        self._health.set(DeviceState.UP)
        logger.info("%s: opened %s", self.name, self.port)
        return connection

    def _read_until_closed(
        self,
        connection: serial.Serial,
        on_data: Callable[[bytes], None],
        stop: threading.Event,
    ) -> None:
        while not stop.is_set():
            try:
                # Blocks for the first byte (up to the timeout), then takes what has arrived.
                data = connection.read(connection.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                self._health.set(DeviceState.DOWN, f"port closed: {exc}")
                return
            # Called with b"" after a quiet timeout too, so a reader can notice silence.
            on_data(data)
