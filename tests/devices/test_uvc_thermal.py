"""The radiometric UVC camera end to end: Y16 recordings read through OpenCV, estimated,
one reading per passage; wrong frames rejected; the file vanishing and coming back."""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np
import pytest

from devices.body_temperature import (
    BodyTemperatureEstimator,
    EstimatorSettings,
    PassageSettings,
    ReferencePatch,
)
from devices.radiometry import celsius_to_y16
from devices.recordings import write_y16_video
from devices.thermal_camera import ThermalCamera
from devices.thermal_scenes import ThermalScene
from devices.uvc_thermal import UvcY16Feed
from gateway.core.values import DeviceState, ReadingQuality, ThermalReading
from tests.devices.support import Running, wait_until

REFERENCE = ReferencePatch(x=136, y=88, width=8, height=8, celsius=35.0)


def lepton_recording(path: Path, face_c: float | None, *, seed: int = 1) -> Path:
    """A Lepton 3.5 stream with telemetry rows: nobody, then a person at `face_c`, nobody."""
    rng = np.random.default_rng(seed)
    empty = ThermalScene(face_c=None, reference=REFERENCE, camera_offset_c=1.2)
    person = ThermalScene(face_c=face_c, reference=REFERENCE, camera_offset_c=1.2)
    scenes = [empty] * 4 + [person] * 12 + [empty] * 4
    write_y16_video(path, [celsius_to_y16(s.render(rng), telemetry_rows=2) for s in scenes], 30)
    return path


def camera(path: Path, *, warmup_s: float = 0.0) -> ThermalCamera:
    return ThermalCamera(
        "thermal-1",
        UvcY16Feed(str(path)),
        BodyTemperatureEstimator(EstimatorSettings(reference=REFERENCE)),
        passage=PassageSettings(frames=5, gap_s=0.1),
        warmup_s=warmup_s,
    )


def test_a_person_in_a_recorded_stream_gives_one_good_reading_per_passage(
    tmp_path: Path,
) -> None:
    source = camera(lepton_recording(tmp_path / "lepton.mkv", 36.9))
    running = Running(source)
    try:
        first, again = running.take(2, timeout=5)  # the recording replays: a second passage
        assert source.health().state is DeviceState.UP
        assert source.health().kind == "uvc-y16"
    finally:
        running.end()
    for reading in (first, again):
        assert reading.celsius == pytest.approx(36.9, abs=0.1)
        assert reading.quality is ReadingQuality.GOOD
        assert reading.source == "thermal-1"
    assert again.monotonic_ns - first.monotonic_ns > 0.4e9  # 20 frames at 30 fps apart


def test_readings_while_warming_up_are_poor_and_the_camera_degraded(tmp_path: Path) -> None:
    source = camera(lepton_recording(tmp_path / "lepton.mkv", 36.9), warmup_s=60)
    running = Running(source)
    try:
        reading = running.next(timeout=5)
        assert source.health().state is DeviceState.DEGRADED
        assert source.health().reason == "warming up"
    finally:
        running.end()
    assert reading.quality is ReadingQuality.POOR


def test_frames_of_a_wrong_shape_are_rejected_and_never_read(tmp_path: Path) -> None:
    path = tmp_path / "webcam.mkv"
    write_y16_video(path, [np.full((100, 100), 31000, dtype=np.uint16)] * 10, 30)
    source = camera(path)
    running: Running[ThermalReading] = Running(source)
    try:
        assert wait_until(lambda: source.health().state is DeviceState.DEGRADED)
        assert source.health().reason.startswith("frame rejected: a Y16 frame of shape (100, 100)")
        with pytest.raises(queue.Empty):
            running.next(timeout=0.5)
    finally:
        running.end()


def test_a_recording_that_disappears_is_down_and_up_again_when_it_returns(
    tmp_path: Path,
) -> None:
    path = lepton_recording(tmp_path / "lepton.mkv", 36.9)
    source = camera(path)
    running = Running(source)
    try:
        assert running.next(timeout=5).celsius == pytest.approx(36.9, abs=0.1)
        path.unlink()
        assert wait_until(lambda: source.health().reason == f"cannot open {path}", timeout=5)
        assert source.health().state is DeviceState.DOWN
        lepton_recording(path, 37.8, seed=2)
        assert wait_until(lambda: source.health().state is DeviceState.UP, timeout=8)
        while (reading := running.next(timeout=5)).celsius < 37.5:
            pass  # readings from the old recording still in the queue
        assert reading.celsius == pytest.approx(37.8, abs=0.1)
    finally:
        running.end()
    assert source.health().reason == "stopped"
