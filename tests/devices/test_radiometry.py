from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.radiometry import (
    FrameError,
    apparent_celsius,
    celsius_to_y16,
    object_celsius,
    y16_to_celsius,
)
from devices.recordings import write_y16_video
from devices.uvc_thermal import Y16_PROPERTIES
from devices.video import VideoSource


def test_centikelvin_counts_become_celsius_exactly() -> None:
    counts = np.array([[27315, 30965, 31015], [0, 65535, 30000]], dtype=np.uint16)
    frame = np.zeros((120, 160), dtype=np.uint16)
    frame[:2, :3] = counts
    celsius = y16_to_celsius(frame)
    assert celsius.dtype == np.float32
    expected = [[0.0, 36.5, 37.0], [-273.15, 382.2, 26.85]]
    np.testing.assert_allclose(celsius[:2, :3], expected, atol=1e-4)
    assert np.array_equal(celsius_to_y16(celsius), frame)


@pytest.mark.parametrize(("rows", "columns", "telemetry"), [(122, 160, 2), (63, 80, 3)])
def test_telemetry_rows_are_stripped(rows: int, columns: int, telemetry: int) -> None:
    frame = np.full((rows, columns), 30965, dtype=np.uint16)
    frame[-telemetry:] = 12345  # telemetry words are no temperatures
    celsius = y16_to_celsius(frame)
    assert celsius.shape == (rows - telemetry, columns)
    assert np.allclose(celsius, 36.5, atol=1e-4)


def test_raw_little_endian_bytes_are_accepted_too() -> None:
    counts = np.arange(120 * 160, dtype=np.uint16).reshape(120, 160) + 29000
    raw = np.frombuffer(counts.astype("<u2").tobytes(), dtype=np.uint8).reshape(1, -1)
    assert np.array_equal(celsius_to_y16(y16_to_celsius(raw)), counts)


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((480, 640, 3), dtype=np.uint8),  # a camera delivering colour, not Y16
        np.zeros((121, 160), dtype=np.uint16),
        np.zeros((120, 160), dtype=np.float32),
        np.zeros((1, 1001), dtype=np.uint8),
    ],
)
def test_frames_of_a_wrong_shape_or_type_are_rejected(frame: np.ndarray) -> None:
    with pytest.raises(FrameError, match="shape"):
        y16_to_celsius(frame)


def test_a_recorded_y16_stream_reads_back_bit_exact_through_opencv(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frames = [rng.integers(29000, 31500, size=(122, 160), dtype=np.uint16) for _ in range(3)]
    path = tmp_path / "lepton.mkv"
    write_y16_video(path, frames, fps=9)
    capture = VideoSource(str(path)).open(Y16_PROPERTIES)
    assert capture is not None
    try:
        assert capture.get(cv2.CAP_PROP_CONVERT_RGB) == 0
        for expected in frames:
            ok, raw = capture.read()
            assert ok
            assert raw.dtype == np.uint16
            assert np.array_equal(raw, expected)
            assert np.array_equal(celsius_to_y16(y16_to_celsius(raw)), expected[:120])
    finally:
        capture.release()


@pytest.mark.parametrize("emissivity", [0.95, 0.98, 1.0])
def test_emissivity_correction_inverts_what_the_camera_sees(emissivity: float) -> None:
    seen = apparent_celsius(36.8, emissivity=emissivity, reflected_c=22.0)
    if emissivity < 1:
        assert seen < 36.8  # skin reflects the cooler room
    assert float(object_celsius(seen, emissivity=emissivity, reflected_c=22.0)) == pytest.approx(
        36.8, abs=1e-9
    )
