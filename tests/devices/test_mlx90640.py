"""MLX90640 (GY-MCU90640) frames: bit-exact decoding, corrupted frames never read, and the
module simulated on a real pty: start command, readings, unplug and replug."""

from __future__ import annotations

import itertools
import queue
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from devices.body_temperature import (
    BodyTemperatureEstimator,
    EstimatorSettings,
    PassageSettings,
    ReferencePatch,
)
from devices.mlx90640 import FRAME_LENGTH, START_STREAMING, FrameParser, Mlx90640Feed, encode_frame
from devices.serial_peers import StreamingPeer
from devices.thermal_camera import ThermalCamera
from devices.thermal_scenes import ThermalScene
from gateway.core.values import DeviceState, ReadingQuality, ThermalReading
from tests.devices.support import PluggedPort, Running, wait_until

REFERENCE = ReferencePatch(x=28, y=17, width=2, height=2, celsius=35.0)


def scene_frames(face_c: float | None, seed: int = 1) -> Iterator[bytes]:
    rng = np.random.default_rng(seed)
    scene = ThermalScene(
        width=32, height=24, face_c=face_c, reference=REFERENCE, camera_offset_c=-0.9, blur_px=0.3
    )
    while True:
        yield encode_frame(scene.render(rng), ambient_c=29.5)


def test_frames_decode_bit_exact() -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(-2000, 30000, size=(24, 32))
    data = encode_frame(counts / 100, ambient_c=31.27)
    assert len(data) == FRAME_LENGTH == 1544
    assert data[:4] == bytes([0x5A, 0x5A, 0x02, 0x06])
    [frame] = FrameParser().feed(data)
    assert np.array_equal(np.round(frame.celsius * 100).astype(int), counts)
    assert frame.ambient_c == pytest.approx(31.27)


def test_frames_split_anywhere_and_preceded_by_noise_are_found() -> None:
    rng = np.random.default_rng(1)
    frames = [encode_frame(rng.uniform(20, 40, (24, 32)), 25.0) for _ in range(3)]
    stream = b"\x00\x5a\xff\x5a" + frames[0] + b"\x5a" + frames[1] + frames[2]
    parser = FrameParser()
    found = []
    for start in range(0, len(stream), 97):
        found += parser.feed(stream[start : start + 97])
    assert len(found) == 3


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda f: f[:700] + bytes([f[700] ^ 0x01]) + f[701:],  # one bit of one pixel
        lambda f: f[:1540] + bytes([f[1540] ^ 0x80]) + f[1541:],  # the ambient temperature
        lambda f: f[:-1] + bytes([f[-1] ^ 0xFF]),  # the checksum itself
        lambda f: f[:2] + b"\x03\x06" + f[4:],  # a wrong length word
        lambda f: f[:800] + f[801:] + b"\x00",  # a byte lost, the frame shifted
    ],
)
def test_a_corrupted_frame_is_rejected_and_the_next_one_is_read(corrupt: object) -> None:
    rng = np.random.default_rng(2)
    good = encode_frame(rng.uniform(20, 40, (24, 32)), 25.0)
    bad = corrupt(encode_frame(rng.uniform(20, 40, (24, 32)), 25.0))  # type: ignore[operator]
    parser = FrameParser()
    assert parser.feed(bad) == []
    [frame] = parser.feed(good)
    assert parser.rejected >= 1
    assert np.array_equal(frame.celsius, FrameParser().feed(good)[0].celsius)


def test_random_noise_never_makes_a_frame() -> None:
    rng = np.random.default_rng(3)
    parser = FrameParser()
    noise = rng.integers(0, 256, size=200_000, dtype=np.uint8).tobytes()
    headers = noise.replace(b"\x00\x00", b"\x5a\x5a")  # plenty of false headers
    assert parser.feed(headers) == []


def camera(port: Path | str) -> ThermalCamera:
    return ThermalCamera(
        "mlx-1",
        Mlx90640Feed(str(port), stale_s=0.5),
        BodyTemperatureEstimator(EstimatorSettings(reference=REFERENCE)),
        passage=PassageSettings(frames=3, gap_s=0.2),
    )


@pytest.fixture
def port(tmp_path: Path) -> Iterator[PluggedPort]:
    plugged = PluggedPort(tmp_path)
    yield plugged
    plugged.close()


def test_the_module_streams_after_the_start_command_and_a_person_is_read(
    port: PluggedPort,
) -> None:
    frames = itertools.chain(
        itertools.islice(scene_frames(None), 3),
        itertools.islice(scene_frames(36.4, seed=2), 6),
        scene_frames(None, seed=3),
    )
    peer = StreamingPeer(port.pty, lambda: next(frames), 0.02, wait_for=START_STREAMING).start()
    source = camera(port.path)
    running = Running(source)
    try:
        assert peer.started_streaming.wait(3)
        reading = running.next(timeout=3)
        with pytest.raises(queue.Empty):
            running.next(timeout=0.3)
        assert source.health().state is DeviceState.UP
    finally:
        running.end()
        peer.stop()
    assert reading.celsius == pytest.approx(36.4, abs=0.1)
    assert reading.quality is ReadingQuality.GOOD
    assert reading.source == "mlx-1"


def test_a_stream_of_corrupted_frames_never_gives_a_reading_and_degrades(
    port: PluggedPort,
) -> None:
    frames = scene_frames(37.9)
    rng = np.random.default_rng(4)

    def corrupted() -> bytes:
        frame = bytearray(next(frames))
        frame[int(rng.integers(4, FRAME_LENGTH))] ^= 1 << int(rng.integers(8))
        return bytes(frame)

    peer = StreamingPeer(port.pty, corrupted, 0.02, wait_for=START_STREAMING).start()
    source = camera(port.path)
    running: Running[ThermalReading] = Running(source)
    try:
        assert wait_until(lambda: source.health().state is DeviceState.DEGRADED, timeout=3)
        assert source.health().reason == "no valid frame for 0.5 s"
        with pytest.raises(queue.Empty):
            running.next(timeout=0.5)
    finally:
        running.end()
        peer.stop()


def test_unplug_is_down_and_replug_reads_again(port: PluggedPort) -> None:
    peer = StreamingPeer(port.pty, scene_frames(36.8).__next__, 0.02, wait_for=START_STREAMING)
    peer.start()
    source = camera(port.path)
    running = Running(source)
    try:
        assert running.next(timeout=3).celsius == pytest.approx(36.8, abs=0.1)
        peer.stop()
        port.pty.unplug()
        assert wait_until(lambda: source.health().state is DeviceState.DOWN)
        # Whoever stands there after the re-plug is a new passage only once the passage gap
        # has passed; a re-plug quicker than that would still be the first person.
        time.sleep(0.3)
        fresh = port.replug()
        peer = StreamingPeer(fresh, scene_frames(38.2).__next__, 0.02, wait_for=START_STREAMING)
        peer.start()
        assert wait_until(lambda: source.health().state is DeviceState.UP, timeout=6)
        assert peer.started_streaming.wait(6)  # the start command is sent again on reopen
        while (reading := running.next(timeout=10)).celsius < 38:
            pass
        assert reading.celsius == pytest.approx(38.2, abs=0.1)
    finally:
        running.end()
        peer.stop()
