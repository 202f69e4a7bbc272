from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from devices.body_temperature import (
    BodyTemperatureEstimator,
    EstimatorSettings,
    Flag,
    FrameEstimate,
    PassageSettings,
    PassageTracker,
    ReferencePatch,
)
from devices.thermal_scenes import ThermalScene
from gateway.core.values import ReadingQuality

LEPTON_REFERENCE = ReferencePatch(x=136, y=88, width=8, height=8, celsius=35.0)
MLX_REFERENCE = ReferencePatch(x=28, y=17, width=2, height=2, celsius=35.0)
_NS = 1_000_000_000


def estimator(reference: ReferencePatch | None, **settings: float) -> BodyTemperatureEstimator:
    return BodyTemperatureEstimator(EstimatorSettings(reference=reference, **settings))  # type: ignore[arg-type]


def median_estimate(
    scene: ThermalScene, est: BodyTemperatureEstimator, rng: np.random.Generator, frames: int = 5
) -> tuple[float, FrameEstimate]:
    estimates = [est.estimate(scene.render(rng)) for _ in range(frames)]
    values = [e.celsius for e in estimates]
    assert None not in values
    return float(np.median(values)), estimates[0]  # type: ignore[arg-type]


@pytest.mark.parametrize("face_c", [35.2, 36.6, 37.5, 38.9])
@pytest.mark.parametrize("camera_offset_c", [-2.0, 0.0, 1.7])
@pytest.mark.parametrize(
    ("size", "reference"), [((160, 120), LEPTON_REFERENCE), ((32, 24), MLX_REFERENCE)]
)
def test_with_the_reference_in_view_the_estimate_is_within_a_tenth_of_a_degree(
    face_c: float,
    camera_offset_c: float,
    size: tuple[int, int],
    reference: ReferencePatch,
) -> None:
    scene = ThermalScene(
        width=size[0],
        height=size[1],
        face_c=face_c,
        reference=reference,
        camera_offset_c=camera_offset_c,
        blur_px=0.6 if size[0] > 100 else 0.3,
    )
    celsius, first = median_estimate(scene, estimator(reference), np.random.default_rng(1))
    assert celsius == pytest.approx(face_c, abs=0.1)
    assert first.quality is ReadingQuality.GOOD
    assert first.flags == ()


def test_without_a_reference_the_estimate_is_indicative_and_carries_the_camera_offset() -> None:
    scene = ThermalScene(face_c=36.6, camera_offset_c=1.5)
    celsius, first = median_estimate(scene, estimator(None), np.random.default_rng(2))
    assert first.quality is ReadingQuality.INDICATIVE
    assert first.flags == (Flag.NO_REFERENCE,)
    assert celsius == pytest.approx(36.6 + 1.5, abs=0.1)


def test_a_covered_reference_is_not_used_and_the_estimate_is_indicative() -> None:
    covered = dataclasses.replace(LEPTON_REFERENCE, celsius=24.0)  # the patch shows the room
    scene = ThermalScene(face_c=36.6, reference=covered, camera_offset_c=0.8)
    first = estimator(LEPTON_REFERENCE).estimate(scene.render(np.random.default_rng(3)))
    assert Flag.REFERENCE_NOT_SEEN in first.flags
    assert first.quality is ReadingQuality.INDICATIVE
    assert first.celsius == pytest.approx(36.6 + 0.8, abs=0.1)


def test_a_reference_partly_hidden_by_a_person_is_not_trusted() -> None:
    est = estimator(LEPTON_REFERENCE)
    frame = ThermalScene(face_c=36.6, reference=LEPTON_REFERENCE, noise_c=0).render(
        np.random.default_rng(0)
    )
    frame[88:92, 136:144] = 33.0  # a shoulder over half the patch
    assert Flag.REFERENCE_NOT_SEEN in est.estimate(frame).flags


def test_an_empty_scene_has_no_face() -> None:
    scene = ThermalScene(face_c=None, reference=LEPTON_REFERENCE)
    first = estimator(LEPTON_REFERENCE).estimate(scene.render(np.random.default_rng(4)))
    assert first.celsius is None
    assert first.flags[0] is Flag.NO_FACE
    assert first.quality is ReadingQuality.POOR


def test_a_face_far_away_is_measured_but_poor() -> None:
    scene = ThermalScene(face_c=36.6, face_radius=(0.05, 0.07), reference=LEPTON_REFERENCE)
    first = estimator(LEPTON_REFERENCE).estimate(scene.render(np.random.default_rng(5)))
    assert Flag.TOO_FAR in first.flags
    assert first.quality is ReadingQuality.POOR
    assert first.celsius is not None


def test_warming_up_makes_the_estimate_poor() -> None:
    scene = ThermalScene(face_c=36.6, reference=LEPTON_REFERENCE)
    est = estimator(LEPTON_REFERENCE)
    first = est.estimate(scene.render(np.random.default_rng(6)), warming_up=True)
    assert first.flags == (Flag.WARMING_UP,)
    assert first.quality is ReadingQuality.POOR


def test_site_offset_is_added() -> None:
    scene = ThermalScene(face_c=36.0, reference=LEPTON_REFERENCE)
    celsius, _ = median_estimate(
        scene, estimator(LEPTON_REFERENCE, offset_c=0.7), np.random.default_rng(7)
    )
    assert celsius == pytest.approx(36.7, abs=0.1)


def test_hot_objects_outside_the_skin_range_are_not_faces() -> None:
    # The scene's lamp (48 °C) is hotter than any face; the estimate must stay on the face.
    scene = ThermalScene(face_c=36.2, reference=LEPTON_REFERENCE)
    celsius, _ = median_estimate(scene, estimator(LEPTON_REFERENCE), np.random.default_rng(8))
    assert celsius == pytest.approx(36.2, abs=0.1)


def test_blackbody_sweep_with_offset_and_drift_stays_within_three_tenths() -> None:
    """Targets from 34 to 39 °C while the camera's offset drifts from +2.0 to -1.0 °C."""
    rng = np.random.default_rng(9)
    est = estimator(LEPTON_REFERENCE)
    tracker = PassageTracker(PassageSettings(frames=5, gap_s=0.5))
    targets = [34.0 + 0.5 * k for k in range(11)]
    frames_per_target, frame_ns = 8, _NS // 9
    total = len(targets) * frames_per_target
    readings: list[tuple[float, float]] = []
    now_ns = 0
    for k, target in enumerate(targets):
        for n in range(frames_per_target):
            index = k * frames_per_target + n
            drift = 2.0 - 3.0 * index / (total - 1)
            scene = ThermalScene(
                face_c=target, reference=LEPTON_REFERENCE, camera_offset_c=drift, noise_c=0.05
            )
            now_ns += frame_ns
            reading = tracker.feed(est.estimate(scene.render(rng)), now_ns)
            if reading is not None:
                readings.append((target, reading.celsius))
                assert reading.quality is ReadingQuality.GOOD
        now_ns += _NS  # the target leaves: a new passage for the next one
    assert [t for t, _ in readings] == targets
    errors = [abs(c - t) for t, c in readings]
    assert max(errors) <= 0.3, errors


def test_a_reference_patch_outside_the_frame_is_a_clear_error() -> None:
    est = estimator(ReferencePatch(150, 110, 20, 20, 35.0))
    with pytest.raises(ValueError, match="outside the 160x120 frame"):
        est.estimate(np.zeros((120, 160), dtype=np.float32))


@pytest.mark.parametrize(
    "settings",
    [{"emissivity": 0.3}, {"min_face_fraction": 0.0}, {"percentile": 20.0}],
)
def test_bad_settings_are_rejected(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EstimatorSettings(**settings)  # type: ignore[arg-type]


def face(celsius: float, quality: ReadingQuality = ReadingQuality.GOOD) -> FrameEstimate:
    return FrameEstimate(celsius, quality)


NOBODY = FrameEstimate(None, ReadingQuality.POOR, (Flag.NO_FACE,))


def feed(tracker: PassageTracker, estimates: list[FrameEstimate], start_s: float) -> list[float]:
    readings = []
    for n, estimate in enumerate(estimates):
        reading = tracker.feed(estimate, int((start_s + n * 0.1) * _NS))
        if reading is not None:
            readings.append(reading.celsius)
    return readings


def test_one_reading_per_passage_from_the_median_of_its_frames() -> None:
    tracker = PassageTracker(PassageSettings(frames=5, gap_s=0.5))
    first = [face(36.5), face(36.7), face(39.9), face(36.6), face(36.4)] + [face(36.6)] * 20
    assert feed(tracker, first, 0.0) == [36.6]
    assert feed(tracker, [NOBODY] * 3, 2.5) == []
    assert feed(tracker, [face(36.9)] * 6, 3.5) == [36.9]  # the gap ended the passage


def test_a_short_gap_keeps_the_passage() -> None:
    tracker = PassageTracker(PassageSettings(frames=3, gap_s=1.0))
    assert feed(tracker, [face(36.6)] * 3, 0.0) == [36.6]
    assert feed(tracker, [NOBODY] * 2 + [face(36.6)] * 5, 0.3) == []


def test_a_fever_reading_is_followed_by_one_remeasure_while_the_person_stays() -> None:
    settings = PassageSettings(frames=3, gap_s=1.0, remeasure_above_c=37.3, remeasure_after_s=1.0)
    tracker = PassageTracker(settings)
    assert feed(tracker, [face(37.8)] * 40, 0.0) == [37.8, 37.8]


def test_the_quality_of_a_reading_is_the_worst_of_its_frames() -> None:
    tracker = PassageTracker(PassageSettings(frames=3))
    estimates = [face(36.6), face(36.6, ReadingQuality.POOR), face(36.6)]
    readings = [tracker.feed(e, n * _NS // 10) for n, e in enumerate(estimates)]
    assert readings[-1] is not None
    assert readings[-1].quality is ReadingQuality.POOR
