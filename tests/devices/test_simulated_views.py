"""The demo's previews: synthetic scenes through the real decoder and estimator."""

from __future__ import annotations

import numpy as np
import pytest

from devices.preview import OUTLINE
from devices.simulated import Passage, SimulatedGate
from devices.simulated_views import SimulatedCameraView, SimulatedThermalView
from gateway.core.ports import Previewable
from gateway.core.values import Direction
from tests.devices.support import Running, decode_jpeg, near_colour
from tests.devices.test_preview import white_in_picture

_NS = 1_000_000_000


def test_the_camera_shows_the_code_scanned_until_it_is_taken_away() -> None:
    view = SimulatedCameraView(hold_s=2.0)
    assert near_colour(decode_jpeg(view.jpeg(0)), OUTLINE).sum() == 0  # nobody yet
    view.show(b"CP1:SHOWN", 10 * _NS)

    held = decode_jpeg(view.jpeg(11 * _NS))

    # The outline is drawn where zxing-cpp found the code in the synthetic scene.
    assert near_colour(held, OUTLINE).sum() > 200
    assert near_colour(decode_jpeg(view.jpeg(13 * _NS)), OUTLINE).sum() == 0


def test_the_thermal_camera_shows_the_person_measured_until_they_walk_on() -> None:
    view = SimulatedThermalView(hold_s=2.0)
    assert white_in_picture(decode_jpeg(view.jpeg(0))) < 20  # JPEG may whiten a stray pixel
    view.show(38.2, 10 * _NS)
    assert white_in_picture(decode_jpeg(view.jpeg(11 * _NS))) > 100
    assert white_in_picture(decode_jpeg(view.jpeg(13 * _NS))) < 20


def test_a_simulated_gate_previews_what_it_emits() -> None:
    sim = SimulatedGate(
        [Passage(b"CP1:GATE", [36.7])], 1.0, lane="1", direction=Direction.IN, lead_s=0.05
    )
    assert isinstance(sim.scanner, Previewable) and isinstance(sim.thermal, Previewable)
    scanner, thermal = Running(sim.scanner), Running(sim.thermal)
    try:
        assert thermal.next(timeout=3).celsius == pytest.approx(36.7)
        assert scanner.next(timeout=3).payload == b"CP1:GATE"
        camera_image = decode_jpeg(sim.scanner.preview_jpeg() or b"")
        thermal_image = decode_jpeg(sim.thermal.preview_jpeg() or b"")
    finally:
        scanner.end()
        thermal.end()
    assert near_colour(camera_image, OUTLINE).sum() > 200
    assert white_in_picture(thermal_image) > 100
    assert np.ptp(thermal_image[:, :, 2]) > 100  # false colour, not a blank frame
