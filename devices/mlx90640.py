"""MLX90640 thermal arrays behind a GY-MCU90640-style serial module.

The module streams 1544-byte frames: `5A 5A`, the data length (1538) as a little-endian
word, 768 pixel temperatures (32 x 24, row-major) and the ambient temperature as
little-endian int16 in 0.01 °C, then a checksum: the low 16 bits of the sum of all
preceding little-endian words.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import serial

from devices.clock import SYSTEM_CLOCK, Clock
from devices.health import HealthCell
from devices.radiometry import Celsius, ThermalFrame
from devices.serial_link import SerialLink
from gateway.core.values import DeviceState

logger = logging.getLogger(__name__)

ROWS, COLUMNS = 24, 32
HEADER = b"\x5a\x5a"
DATA_LENGTH = (ROWS * COLUMNS + 1) * 2  # pixels and ambient, in bytes
FRAME_LENGTH = 4 + DATA_LENGTH + 2
# Sent after opening the port: start continuous output; the last byte is the low byte of
# the sum of the first three.
START_STREAMING = bytes([0xA5, 0x35, 0x02, 0xDC])
DEFAULT_BAUDRATE = 115200
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class MlxFrame:
    celsius: Celsius
    ambient_c: float


def encode_frame(celsius: npt.ArrayLike, ambient_c: float) -> bytes:
    """The bytes the module sends for one frame of 24 x 32 temperatures (the simulators' side)."""
    pixels = np.round(np.asarray(celsius, dtype=np.float64).reshape(-1) * 100)
    if pixels.size != ROWS * COLUMNS:
        raise ValueError(f"an MLX90640 frame has {ROWS * COLUMNS} pixels, not {pixels.size}")
    values = np.append(pixels, round(ambient_c * 100)).astype("<i2")
    body = HEADER + struct.pack("<H", DATA_LENGTH) + values.tobytes()
    return body + struct.pack("<H", _checksum(body))


class FrameParser:
    """Finds checked frames in the byte stream; anything else is skipped up to the next header.

    A frame with a bad length or checksum is dropped and the search resumes one byte after
    its header, so a corrupted frame can never become a reading and the next good one is
    still found.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.rejected = 0

    def feed(self, data: bytes) -> list[MlxFrame]:
        self._buffer += data
        frames: list[MlxFrame] = []
        while True:
            start = self._buffer.find(HEADER)
            if start < 0:
                # Keep a trailing 5A: it may be the first half of the next header.
                del self._buffer[: max(len(self._buffer) - 1, 0)]
                return frames
            del self._buffer[:start]
            if len(self._buffer) < FRAME_LENGTH:
                return frames
            candidate = bytes(self._buffer[:FRAME_LENGTH])
            frame = _decode(candidate)
            if frame is None:
                self.rejected += 1
                del self._buffer[:1]
                continue
            del self._buffer[:FRAME_LENGTH]
            frames.append(frame)

    def reset(self) -> None:
        self._buffer.clear()


def _decode(candidate: bytes) -> MlxFrame | None:
    (length,) = struct.unpack_from("<H", candidate, 2)
    (checksum,) = struct.unpack_from("<H", candidate, FRAME_LENGTH - 2)
    if length != DATA_LENGTH or checksum != _checksum(candidate[:-2]):
        return None
    values = np.frombuffer(candidate, dtype="<i2", count=ROWS * COLUMNS + 1, offset=4)
    celsius = (values[:-1] / np.float32(100)).astype(np.float32).reshape(ROWS, COLUMNS)
    return MlxFrame(celsius, float(values[-1]) / 100)


def _checksum(data: bytes) -> int:
    return int(np.frombuffer(data, dtype="<u2").sum(dtype=np.uint64)) & 0xFFFF


class Mlx90640Feed:
    """Frames from a GY-MCU90640 module on a serial port (reopened when unplugged).

    The port counts as DEGRADED when it is open but no valid frame came for `stale_s`
    (wrong baud rate, module not streaming, a line too noisy for any frame to pass).
    """

    kind = "mlx90640-serial"

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        stale_s: float = 3.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self._stale_ns = int(stale_s * _NS)
        self._clock = clock

    def run(
        self,
        on_frame: Callable[[ThermalFrame], None],
        on_connect: Callable[[], None],
        health: HealthCell,
        stop: threading.Event,
    ) -> None:
        parser = FrameParser()
        link = SerialLink(f"mlx90640 {self.port}", self.port, self.baudrate, health)
        last_ns = 0

        def on_open(connection: serial.Serial) -> None:
            nonlocal last_ns
            parser.reset()
            connection.write(START_STREAMING)
            last_ns = self._clock.monotonic_ns()
            on_connect()

        def on_data(data: bytes) -> None:
            nonlocal last_ns
            now_ns = self._clock.monotonic_ns()
            frames = parser.feed(data)
            for frame in frames:
                on_frame(ThermalFrame(frame.celsius, now_ns))
            if frames:
                last_ns = now_ns
            elif now_ns - last_ns > self._stale_ns:
                health.set(DeviceState.DEGRADED, f"no valid frame for {self._stale_ns / _NS:g} s")

        link.run(on_open, on_data, stop)
