"""Spot IR thermometer modules, ASCII and binary dialects: parsing, corrupted input never
read, one reading per person, and both simulated on real ptys with unplug and replug."""

from __future__ import annotations

import itertools
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.serial_peers import StreamingPeer
from devices.spot_thermometer import (
    BinaryParser,
    SkinGate,
    SpotThermometer,
    encode_binary,
    parse_ascii,
)
from gateway.core.values import DeviceState, ReadingQuality, ThermalReading
from tests.devices.support import PluggedPort, Running, wait_until


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"36.5", 36.5),
        (b"T=36.5", 36.5),
        (b"Temp: 36.50 C", 36.5),
        ("Body: 36.7℃".encode(), 36.7),
        ("36.4 °C".encode(), 36.4),
        (b"TO:36.80 TA:26.50", 36.8),
        (b"TA:26.50 TO:36.80", 36.8),
        (b"Object = 36.9, Ambient = 25.1", 36.9),
        (b"TA:26.50", None),  # ambient only
        (b"98.6 F", None),
        (b"36.536.7", None),  # two values run together
        (b"3\x8f.5", None),
        (b"36.", None),
        (b"Error: out of range", None),
        (b"", None),
    ],
)
def test_ascii_lines(line: bytes, expected: float | None) -> None:
    assert parse_ascii(line) == expected


def test_binary_frames_decode_exactly() -> None:
    frame = encode_binary(36.57, 24.12)
    assert frame == bytes([0x5A, 0x5A, 0x45, 0x04, 0x0E, 0x49, 0x09, 0x6C, 0xC9])
    parser = BinaryParser()
    assert parser.feed(b"\x00\x5a" + frame[:5]) == []
    assert parser.feed(frame[5:] + encode_binary(-5.0, 24.0)) == [36.57, -5.0]


@pytest.mark.parametrize("position", range(4, 9))
def test_a_binary_frame_with_any_corrupted_byte_is_rejected(position: int) -> None:
    frame = bytearray(encode_binary(36.6, 24.0))
    frame[position] ^= 0x10
    parser = BinaryParser()
    assert parser.feed(bytes(frame)) == []
    assert parser.rejected == 1
    assert parser.feed(encode_binary(36.6, 24.0)) == [36.6]


def test_the_gate_reads_once_per_person_from_consecutive_skin_values() -> None:
    gate = SkinGate(samples=3, rearm_s=1.0)
    values = [24.0, 31.0, 36.6, 36.8, 36.7, 36.7, 36.9, 24.5, 36.2, 36.3, 36.4]
    readings = [gate.feed(v, 0.1 * n) for n, v in enumerate(values)]
    assert [r for r in readings if r is not None] == [36.6, 36.3]


def test_the_gate_rearms_after_silence_for_modules_that_send_one_value_per_measurement() -> None:
    gate = SkinGate(samples=1, rearm_s=1.0)
    assert gate.feed(36.6, 0.0) == 36.6
    assert gate.feed(36.7, 0.5) is None  # the same person still
    gate.tick(2.0)
    assert gate.feed(36.8, 2.1) == 36.8


def test_hot_objects_are_not_people() -> None:
    gate = SkinGate(samples=1, rearm_s=1.0)
    assert gate.feed(60.0, 0.0) is None
    assert gate.feed(36.6, 0.1) == 36.6


@pytest.fixture
def port(tmp_path: Path) -> Iterator[PluggedPort]:
    plugged = PluggedPort(tmp_path)
    yield plugged
    plugged.close()


def spot(port: Path, dialect: str, **options: float) -> SpotThermometer:
    return SpotThermometer("spot-1", str(port), dialect=dialect, rearm_s=0.3, **options)  # type: ignore[arg-type]


def test_an_ascii_module_measuring_two_people(port: PluggedPort) -> None:
    source = spot(port.path, "ascii", offset_c=0.3)
    running = Running(source)
    try:
        assert wait_until(lambda: source.health().state is DeviceState.UP)
        port.pty.write(b"Body: 36.4 C\r\nTA:25.0\r\n")
        first = running.next()
        port.pty.write(b"Body: 36.5 C\r\n")  # the same person, re-sent at once
        with pytest.raises(queue.Empty):
            running.next(timeout=0.5)
        port.pty.write(b"Body: 37.1 C\r\n")  # after a pause: the next person
        second = running.next()
    finally:
        running.end()
    assert [first.celsius, second.celsius] == [36.7, 37.4]
    assert first.quality is ReadingQuality.INDICATIVE
    assert (first.source, source.health().kind) == ("spot-1", "spot-serial-ascii")


def binary_stream(values: list[float]) -> Iterator[bytes]:
    return (encode_binary(v, 24.0) for v in itertools.chain(values, itertools.repeat(24.0)))


def test_a_streaming_binary_module_gives_one_reading_per_person(port: PluggedPort) -> None:
    frames = binary_stream([24.0] * 3 + [36.9, 37.0, 36.8, 36.9, 36.9, 37.0] + [24.0] * 3)
    peer = StreamingPeer(port.pty, lambda: next(frames), 0.01).start()
    source = spot(port.path, "binary")
    running = Running(source)
    try:
        reading = running.next(timeout=3)
        with pytest.raises(queue.Empty):
            running.next(timeout=0.4)
    finally:
        running.end()
        peer.stop()
    assert reading.celsius == pytest.approx(36.9)


def test_a_stream_of_corrupted_binary_frames_never_gives_a_reading(port: PluggedPort) -> None:
    frames = binary_stream([36.9] * 400)
    count = itertools.count()

    def corrupted() -> bytes:
        frame = bytearray(next(frames))
        frame[4 + next(count) % 5] ^= 0x04
        return bytes(frame)

    peer = StreamingPeer(port.pty, corrupted, 0.005).start()
    source = spot(port.path, "binary")
    running: Running[ThermalReading] = Running(source)
    try:
        with pytest.raises(queue.Empty):
            running.next(timeout=1.0)
        assert source.health().state is DeviceState.UP
    finally:
        running.end()
        peer.stop()


def test_unplug_is_down_and_replug_reads_again(port: PluggedPort) -> None:
    source = spot(port.path, "ascii")
    running = Running(source)
    try:
        assert wait_until(lambda: source.health().state is DeviceState.UP)
        port.pty.write(b"36.6\n")
        assert running.next().celsius == 36.6
        port.pty.unplug()
        assert wait_until(lambda: source.health().state is DeviceState.DOWN)
        fresh = port.replug()
        assert wait_until(lambda: source.health().state is DeviceState.UP, timeout=6)
        fresh.write(b"37.2\n")
        assert running.next().celsius == 37.2
    finally:
        running.end()


def test_an_unknown_dialect_is_rejected() -> None:
    with pytest.raises(ValueError, match="dialect"):
        SpotThermometer("spot", "/dev/ttyUSB0", dialect="modbus")  # type: ignore[arg-type]
