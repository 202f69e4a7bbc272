"""Technician previews: what is drawn where, decoded back from the JPEG, and the devices
keeping their newest frame for it (real video files through OpenCV)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from devices.body_temperature import BodyTemperatureEstimator, EstimatorSettings, ReferencePatch
from devices.camera import CameraScanner, Roi
from devices.preview import (
    FACE,
    OUTLINE,
    PREVIEW_WIDTH,
    REFERENCE,
    ROI,
    SCALE_BAR_PX,
    STALE_S,
    Box,
    Latest,
    camera_jpeg,
    thermal_jpeg,
)
from devices.qr_decode import decode_zxing
from devices.qr_scenes import code_frame, empty_frame
from devices.recordings import write_video
from devices.thermal_camera import ThermalCamera
from devices.thermal_scenes import ThermalScene
from devices.uvc_thermal import UvcY16Feed
from gateway.core.ports import Previewable
from gateway.core.values import DeviceState, Direction
from tests.devices.support import Running, decode_jpeg, near_colour, qr_modules, wait_until
from tests.devices.test_uvc_thermal import REFERENCE as LEPTON_REFERENCE
from tests.devices.test_uvc_thermal import camera as lepton_camera
from tests.devices.test_uvc_thermal import lepton_recording

_NS = 1_000_000_000


class ShiftedClock:
    """The machine's clocks, with monotonic time movable forward by the test."""

    def __init__(self) -> None:
        self.offset_ns = 0

    def monotonic_ns(self) -> int:
        return time.monotonic_ns() + self.offset_ns

    def now(self) -> datetime:
        return datetime.now(UTC)


def white_in_picture(image: np.ndarray) -> int:
    """White pixels above the scale bar (whose numbers are white too): the face's box and
    its reading."""
    return int(near_colour(image[:-SCALE_BAR_PX], FACE, tolerance=40).sum())


def test_a_camera_preview_is_scaled_down_and_outlines_each_code_where_it_is() -> None:
    rng = np.random.default_rng(5)
    frame = code_frame(qr_modules("CP1:OUTLINED"), "rotation", (1280, 720), rng)
    (code,) = decode_zxing(frame)

    image = decode_jpeg(camera_jpeg(frame, [code.polygon]))

    assert image.shape == (360, PREVIEW_WIDTH, 3)
    green = near_colour(image, OUTLINE)
    assert green.sum() > 200
    ys, xs = np.nonzero(green)
    corners = np.array(code.polygon) / 2  # the frame was scaled to half its width
    assert (xs.min(), ys.min()) == pytest.approx(corners.min(axis=0), abs=4)
    assert (xs.max(), ys.max()) == pytest.approx(corners.max(axis=0), abs=4)
    nothing_found = decode_jpeg(camera_jpeg(frame, []))
    assert near_colour(nothing_found, OUTLINE).sum() == 0


def test_a_camera_preview_frames_the_region_that_is_decoded() -> None:
    frame = empty_frame((640, 480), np.random.default_rng(2))
    roi = Roi(0.25, 0.5, 0.5, 0.25).box(frame)
    assert roi == Box(160, 240, 320, 120)

    orange = near_colour(decode_jpeg(camera_jpeg(frame, [], roi)), ROI)

    ys, xs = np.nonzero(orange)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == pytest.approx((160, 240, 479, 359), abs=2)
    assert not orange[300, 200:440].any()  # a frame, not a filled box


def test_a_thermal_preview_is_false_colour_with_the_face_reading_reference_and_scale() -> None:
    reference = ReferencePatch(140, 10, 8, 8, celsius=35.0)
    celsius = ThermalScene(reference=reference).render(np.random.default_rng(3))
    estimate = BodyTemperatureEstimator(EstimatorSettings(reference=reference)).estimate(celsius)
    assert estimate.face is not None and estimate.celsius is not None

    image = decode_jpeg(
        thermal_jpeg(
            celsius, face=estimate.face, reading_c=estimate.celsius, reference=reference.box
        )
    )

    scale = PREVIEW_WIDTH / 160
    assert image.shape == (120 * scale + SCALE_BAR_PX, PREVIEW_WIDTH, 3)
    face = estimate.face
    centre = image[
        round((face.y + face.height / 2) * scale), round((face.x + face.width / 2) * scale)
    ]
    wall = image[round(60 * scale), round(130 * scale)]
    assert int(centre.sum()) > int(wall.sum()) + 300  # the warm face is bright, the wall dark
    assert int(centre.max()) - int(centre.min()) > 60  # in colour, not grey
    white = near_colour(image, FACE, tolerance=40)
    ys, xs = np.nonzero(white[: round(face.y + face.height) * round(scale) + 4])
    left, top = round(face.x * scale), round(face.y * scale)
    assert xs.min() == pytest.approx(left, abs=2)
    assert ys.min() < top  # the reading is written above the box
    blue = near_colour(image, REFERENCE, tolerance=50)
    assert blue[round(10 * scale) : round(18 * scale), round(140 * scale)].any()
    bar = image[-SCALE_BAR_PX // 2].astype(int).sum(axis=1)
    assert bar[100] < bar[PREVIEW_WIDTH // 2] < bar[-100]  # cold to hot, left to right


def test_a_preview_goes_stale_when_no_frame_comes() -> None:
    latest: Latest[str] = Latest()
    assert latest.get(0) is None
    latest.put("frame", 10 * _NS)
    assert latest.get(10 * _NS + int((STALE_S - 0.1) * _NS)) == "frame"
    assert latest.get(10 * _NS + int((STALE_S + 0.1) * _NS)) is None


def test_a_camera_scanner_previews_its_newest_frame_until_it_stops(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    video = tmp_path / "gate.avi"
    frames = [code_frame(qr_modules("CP1:SEEN"), "rotation", (640, 480), rng)] * 10
    write_video(video, frames, fps=20)
    clock = ShiftedClock()
    scanner = CameraScanner(
        "scanner-1", str(video), lane="1", direction=Direction.IN, roi=Roi(0, 0, 1, 1), clock=clock
    )
    assert isinstance(scanner, Previewable)
    assert scanner.preview_jpeg() is None
    running = Running(scanner)
    try:
        assert running.next(timeout=5).payload == b"CP1:SEEN"
        image = decode_jpeg(scanner.preview_jpeg() or b"")
    finally:
        running.end()
    assert image.shape == (480, 640, 3)
    assert near_colour(image, OUTLINE).sum() > 200
    clock.offset_ns = int((STALE_S + 1) * _NS)
    assert scanner.preview_jpeg() is None


def test_a_thermal_camera_previews_the_face_it_measures(tmp_path: Path) -> None:
    source = lepton_camera(lepton_recording(tmp_path / "lepton.mkv", 36.9))
    assert isinstance(source, Previewable)
    running = Running(source)
    faces: list[np.ndarray] = []

    def shows_a_face() -> bool:
        jpeg = source.preview_jpeg()
        image = decode_jpeg(jpeg) if jpeg else None
        if image is not None and white_in_picture(image) > 100:
            faces.append(image)
        return bool(faces)

    try:
        assert wait_until(shows_a_face, timeout=5)
    finally:
        running.end()
    scale = PREVIEW_WIDTH / 160
    blue = near_colour(faces[0], REFERENCE, tolerance=50)
    r = LEPTON_REFERENCE
    assert blue[
        round((r.y + r.height / 2) * scale), round(r.x * scale) - 2 : round(r.x * scale) + 3
    ].any()


def test_a_thermal_frame_that_cannot_be_measured_is_still_shown(tmp_path: Path) -> None:
    """A reference box outside the frame is a configuration error the technician must see."""
    outside = ReferencePatch(x=200, y=10, width=8, height=8, celsius=35.0)
    source = ThermalCamera(
        "thermal-1",
        UvcY16Feed(str(lepton_recording(tmp_path / "lepton.mkv", 36.9))),
        BodyTemperatureEstimator(EstimatorSettings(reference=outside)),
    )
    running = Running(source)
    try:
        assert wait_until(lambda: source.health().state is DeviceState.DEGRADED, timeout=5)
        assert "outside" in source.health().reason
        image = decode_jpeg(source.preview_jpeg() or b"")
    finally:
        running.end()
    assert image.shape[1] == PREVIEW_WIDTH
    assert white_in_picture(image) == 0
