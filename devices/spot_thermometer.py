"""Spot infrared thermometer modules on a serial port, in their two common dialects.

- `ascii`: one measurement per line, e.g. `36.5`, `T=36.5`, `Body: 36.50 C`,
  `TO:36.80 TA:26.50` (the object/body value is taken, never the ambient one).
- `binary`: GY-906-style 9-byte frames `5A 5A 45 04 TO_H TO_L TA_H TA_L SUM`: object and
  ambient temperature as big-endian int16 in 0.01 °C, SUM the low byte of the sum of the
  eight bytes before it.

Modules that stream continuously and modules that send one value per measurement are both
handled: a reading is the median of `samples` consecutive values in the skin range; the
next one needs the value to leave that range, or the module to fall silent, first.
"""

from __future__ import annotations

import logging
import re
import statistics
import struct
import threading
from collections.abc import Callable
from typing import Literal

import serial

from devices.clock import SYSTEM_CLOCK, Clock
from devices.framing import LineFramer
from devices.health import HealthCell
from devices.serial_link import SerialLink
from gateway.core.values import DeviceHealth, ReadingQuality, ThermalReading

logger = logging.getLogger(__name__)

Dialect = Literal["ascii", "binary"]
DIALECTS: tuple[Dialect, ...] = ("ascii", "binary")
DEFAULT_SAMPLES: dict[Dialect, int] = {"ascii": 1, "binary": 4}

# A value in this range is a person in front of the sensor; outside it, nobody (or a
# hot object, which must not become a body temperature).
SKIN_MIN_C, SKIN_MAX_C = 30.0, 45.0
BINARY_HEADER = b"\x5a\x5a\x45\x04"
BINARY_LENGTH = 9

_NUMBER = r"([-+]?\d{1,3}(?:\.\d+)?)"
_LABELLED = re.compile(rf"\b(?:body|object|obj|to|tobj)\s*[:=]\s*{_NUMBER}", re.IGNORECASE)
_PLAIN = re.compile(
    rf"^\s*(?:t|temp|temperature)?\s*[:=]?\s*{_NUMBER}\s*(?:°|\ufffd)*\s*C?\s*$", re.IGNORECASE
)


def parse_ascii(line: bytes) -> float | None:
    """The object temperature in one ASCII line, or None when the line holds none."""
    text = line.decode("utf-8", errors="replace").replace("℃", "C")
    match = _LABELLED.search(text) or _PLAIN.match(text)
    return float(match.group(1)) if match else None


def encode_binary(object_c: float, ambient_c: float) -> bytes:
    """The 9-byte frame a GY-906-style module sends (the simulators' side)."""
    body = BINARY_HEADER + struct.pack(">hh", round(object_c * 100), round(ambient_c * 100))
    return body + bytes([sum(body) & 0xFF])


class BinaryParser:
    """Checked 9-byte frames out of the stream; bad frames are skipped up to the next header."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.rejected = 0

    def feed(self, data: bytes) -> list[float]:
        self._buffer += data
        values: list[float] = []
        while True:
            start = self._buffer.find(BINARY_HEADER)
            if start < 0:
                # Keep what may be the start of the next header.
                del self._buffer[: max(len(self._buffer) - len(BINARY_HEADER) + 1, 0)]
                return values
            del self._buffer[:start]
            if len(self._buffer) < BINARY_LENGTH:
                return values
            frame = bytes(self._buffer[:BINARY_LENGTH])
            if sum(frame[:-1]) & 0xFF != frame[-1]:
                self.rejected += 1
                del self._buffer[:1]
                continue
            del self._buffer[:BINARY_LENGTH]
            values.append(struct.unpack_from(">h", frame, 4)[0] / 100)

    def reset(self) -> None:
        self._buffer.clear()


class AsciiParser:
    """Object temperatures out of text lines; lines without one are skipped (and counted)."""

    def __init__(self, label: str) -> None:
        self._framer = LineFramer(256, label=label)
        self.rejected = 0

    def feed(self, data: bytes) -> list[float]:
        values = []
        for line in self._framer.feed(data):
            value = parse_ascii(line)
            if value is None:
                self.rejected += 1
                logger.debug("spot thermometer line without a temperature skipped")
            else:
                values.append(value)
        return values

    def reset(self) -> None:
        self._framer.reset()


class SkinGate:
    """Turns a stream of object temperatures into one value per person measured."""

    def __init__(self, samples: int, rearm_s: float) -> None:
        if samples < 1 or rearm_s <= 0:
            raise ValueError("samples must be at least 1 and rearm_s positive")
        self._samples = samples
        self._rearm_s = rearm_s
        self._run: list[float] = []
        self._armed = True
        self._last_value_s = 0.0

    def feed(self, value: float, now_s: float) -> float | None:
        self._notice_silence(now_s)
        self._last_value_s = now_s
        if not SKIN_MIN_C <= value <= SKIN_MAX_C:
            self._run.clear()
            self._armed = True
            return None
        if not self._armed:
            return None
        self._run.append(value)
        if len(self._run) < self._samples:
            return None
        reading = statistics.median(self._run)
        self._run.clear()
        self._armed = False
        return reading

    def reset(self) -> None:
        """Start afresh (e.g. after the module was plugged in again)."""
        self._run.clear()
        self._armed = True

    def tick(self, now_s: float) -> None:
        """Time passes without a value: a long enough silence ends the measurement."""
        self._notice_silence(now_s)

    def _notice_silence(self, now_s: float) -> None:
        if now_s - self._last_value_s > self._rearm_s:
            self._run.clear()
            self._armed = True


class SpotThermometer:
    """A `ThermalSource` reading a spot IR module; its readings are INDICATIVE (no reference)."""

    def __init__(
        self,
        name: str,
        port: str,
        *,
        dialect: Dialect,
        baudrate: int = 9600,
        samples: int | None = None,
        offset_c: float = 0.0,
        rearm_s: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown spot thermometer dialect {dialect!r}; use {DIALECTS}")
        self.name = name
        self.kind = f"spot-serial-{dialect}"
        self.dialect = dialect
        self._samples = samples or DEFAULT_SAMPLES[dialect]
        self._offset_c = offset_c
        self._rearm_s = rearm_s
        self._clock = clock
        self._health = HealthCell(name, self.kind)
        self._link = SerialLink(name, port, baudrate, self._health)

    def health(self) -> DeviceHealth:
        return self._health.get()

    def run(self, emit: Callable[[ThermalReading], None], stop: threading.Event) -> None:
        parser = AsciiParser(self.name) if self.dialect == "ascii" else BinaryParser()
        gate = SkinGate(self._samples, self._rearm_s)

        def on_open(connection: serial.Serial) -> None:
            parser.reset()
            gate.reset()

        def on_data(data: bytes) -> None:
            now_s = self._clock.monotonic_ns() / 1e9
            gate.tick(now_s)
            for value in parser.feed(data):
                celsius = gate.feed(value, now_s)
                if celsius is not None:
                    emit(self._reading(celsius))

        try:
            self._link.run(on_open, on_data, stop)
        finally:
            self._health.stopped()

    def _reading(self, celsius: float) -> ThermalReading:
        return ThermalReading(
            celsius=round(celsius + self._offset_c, 2),
            source=self.name,
            quality=ReadingQuality.INDICATIVE,
            monotonic_ns=self._clock.monotonic_ns(),
            wall_time=self._clock.now(),
        )
