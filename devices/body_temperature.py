"""Body temperature from a radiometric frame, and one reading per person passing."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from devices.preview import Box
from devices.radiometry import Celsius, object_celsius
from gateway.core.values import ReadingQuality

_NS = 1_000_000_000
_RANK = {ReadingQuality.GOOD: 0, ReadingQuality.INDICATIVE: 1, ReadingQuality.POOR: 2}


class Flag(StrEnum):
    """Why a frame's estimate is missing or less than good."""

    NO_FACE = "no face"
    TOO_FAR = "too far"
    NO_REFERENCE = "no reference"
    REFERENCE_NOT_SEEN = "reference not seen"
    WARMING_UP = "warming up"


@dataclass(frozen=True, slots=True)
class ReferencePatch:
    """A blackbody reference in view: its pixel box in the thermal frame and its temperature."""

    x: int
    y: int
    width: int
    height: int
    celsius: float

    def __post_init__(self) -> None:
        if min(self.x, self.y) < 0 or min(self.width, self.height) < 1:
            raise ValueError("reference patch needs x, y >= 0 and width, height >= 1")

    @property
    def box(self) -> Box:
        return Box(self.x, self.y, self.width, self.height)

    def pixels(self, frame: Celsius) -> Celsius:
        patch = frame[self.y : self.y + self.height, self.x : self.x + self.width]
        if patch.shape != (self.height, self.width):
            raise ValueError(
                f"reference patch {self.width}x{self.height} at ({self.x}, {self.y}) "
                f"lies outside the {frame.shape[1]}x{frame.shape[0]} frame"
            )
        return patch


@dataclass(frozen=True, slots=True)
class EstimatorSettings:
    """How a frame becomes a body temperature.

    `skin_min_c`/`skin_max_c` bound the apparent temperatures a face can have (after the
    reference correction); the largest connected region inside them is taken as the face.
    A face smaller than `min_face_fraction` of the frame is too far away to be measured
    reliably; a warm region below `min_blob_fraction` is no person at all (the rim of a
    hot object, a hand). The face's `percentile` (of a 3x3-smoothed frame) is its temperature: the
    warmest part (forehead, inner eye corners) without trusting any single pixel.
    """

    emissivity: float = 0.98
    reference: ReferencePatch | None = None
    offset_c: float = 0.0
    skin_min_c: float = 30.0
    skin_max_c: float = 42.0
    min_face_fraction: float = 0.02
    min_blob_fraction: float = 0.005
    percentile: float = 95.0
    reference_tolerance_c: float = 3.0
    reference_max_spread_c: float = 0.5

    def __post_init__(self) -> None:
        if not 0.5 <= self.emissivity <= 1.0:
            raise ValueError("emissivity must be between 0.5 and 1")
        if not 0 < self.min_blob_fraction <= self.min_face_fraction < 1:
            raise ValueError("0 < min_blob_fraction <= min_face_fraction < 1 is required")
        if not 50 <= self.percentile <= 100:
            raise ValueError("percentile must be in [50, 100]")


@dataclass(frozen=True, slots=True)
class FrameEstimate:
    """One frame's body temperature (None: no face), what limits its trust, and the box
    around the face it was measured on."""

    celsius: float | None
    quality: ReadingQuality
    flags: tuple[Flag, ...] = ()
    face: Box | None = None


class BodyTemperatureEstimator:
    """Face → warm percentile → reference offset → emissivity → site offset, per frame."""

    def __init__(self, settings: EstimatorSettings) -> None:
        self.settings = settings

    def estimate(self, frame: Celsius, *, warming_up: bool = False) -> FrameEstimate:
        s = self.settings
        flags: list[Flag] = [Flag.WARMING_UP] if warming_up else []
        offset = 0.0
        if s.reference is None:
            flags.append(Flag.NO_REFERENCE)
        else:
            seen = self._reference_offset(frame, s.reference)
            if seen is None:
                flags.append(Flag.REFERENCE_NOT_SEEN)
            else:
                offset = seen
        corrected = frame + np.float32(offset)
        found = self._face(corrected)
        if found is None:
            return FrameEstimate(None, ReadingQuality.POOR, (Flag.NO_FACE, *flags))
        face, box = found
        if np.count_nonzero(face) < s.min_face_fraction * frame.size:
            flags.append(Flag.TOO_FAR)
        smoothed = cv2.blur(corrected, (3, 3), borderType=cv2.BORDER_REPLICATE)
        apparent = float(np.percentile(smoothed[face], s.percentile))
        background = corrected[~self._excluded(face)]
        reflected = float(np.median(background)) if background.size else apparent
        body = float(object_celsius(apparent, emissivity=s.emissivity, reflected_c=reflected))
        celsius = round(body + s.offset_c, 3)
        return FrameEstimate(celsius, _quality(flags), tuple(flags), box)

    def _reference_offset(self, frame: Celsius, reference: ReferencePatch) -> float | None:
        """How much to add to this frame so the reference reads its set temperature; None
        when the patch is not the uniform blackbody it should be (covered, out of view)."""
        patch = reference.pixels(frame)
        low, measured, high = np.percentile(patch, (10, 50, 90))
        offset = reference.celsius - float(measured)
        if abs(offset) > self.settings.reference_tolerance_c:
            return None
        if high - low > self.settings.reference_max_spread_c:
            return None
        return offset

    def _face(self, corrected: Celsius) -> tuple[npt.NDArray[np.bool_], Box] | None:
        s = self.settings
        skin = (corrected >= s.skin_min_c) & (corrected <= s.skin_max_c)
        if s.reference is not None:
            skin &= ~self._reference_mask(corrected.shape)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            skin.astype(np.uint8), connectivity=8
        )
        if count < 2:
            return None
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if stats[largest, cv2.CC_STAT_AREA] < max(s.min_blob_fraction * corrected.size, 4):
            return None
        face: npt.NDArray[np.bool_] = labels == largest
        x, y, width, height = (int(v) for v in stats[largest, :4])
        return face, Box(x, y, width, height)

    def _reference_mask(self, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
        reference = self.settings.reference
        mask = np.zeros(shape, dtype=bool)
        if reference is not None:
            # The configured patch lies inside the blackbody's image, whose rim (in the skin
            # range too) blurs into its neighbours: none of that may pass for a face.
            margin = max(2, math.ceil(max(reference.width, reference.height) / 2))
            top, left = max(reference.y - margin, 0), max(reference.x - margin, 0)
            bottom = reference.y + reference.height + margin
            right = reference.x + reference.width + margin
            mask[top:bottom, left:right] = True
        return mask

    def _excluded(self, face: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        return face | self._reference_mask(face.shape)


def _quality(flags: list[Flag]) -> ReadingQuality:
    if Flag.TOO_FAR in flags or Flag.WARMING_UP in flags:
        return ReadingQuality.POOR
    if Flag.NO_REFERENCE in flags or Flag.REFERENCE_NOT_SEEN in flags:
        return ReadingQuality.INDICATIVE
    return ReadingQuality.GOOD


def worst(qualities: list[ReadingQuality]) -> ReadingQuality:
    return max(qualities, key=_RANK.__getitem__)


@dataclass(frozen=True, slots=True)
class PassageSettings:
    """How frames become readings: one per person, from the median of `frames` estimates.

    A passage ends when no face was seen for `gap_s`. A reading at or above
    `remeasure_above_c` is followed by one more, from fresh frames `remeasure_after_s`
    later, if the person is still in view: the re-measure a fever reading asks for.
    """

    frames: int = 5
    gap_s: float = 1.0
    remeasure_above_c: float | None = None
    remeasure_after_s: float = 2.0

    def __post_init__(self) -> None:
        if self.frames < 1 or self.gap_s <= 0 or self.remeasure_after_s < 0:
            raise ValueError("frames >= 1, gap_s > 0 and remeasure_after_s >= 0 are required")


@dataclass(frozen=True, slots=True)
class PassageReading:
    celsius: float
    quality: ReadingQuality
    flags: tuple[Flag, ...]


@dataclass
class _Passage:
    last_face_ns: int
    estimates: list[FrameEstimate] = field(default_factory=list)
    readings_left: int = 1
    remeasured: bool = False
    collect_from_ns: int = 0


class PassageTracker:
    """Groups frame estimates into passages and says when a passage has a reading."""

    def __init__(self, settings: PassageSettings) -> None:
        self.settings = settings
        self._passage: _Passage | None = None

    def feed(self, estimate: FrameEstimate, now_ns: int) -> PassageReading | None:
        """Take one frame's estimate; returns the passage's reading when it is complete."""
        s = self.settings
        passage = self._passage
        if passage is not None and now_ns - passage.last_face_ns > s.gap_s * _NS:
            passage = self._passage = None
        if estimate.celsius is None:
            return None
        if passage is None:
            passage = self._passage = _Passage(last_face_ns=now_ns)
        passage.last_face_ns = now_ns
        if passage.readings_left == 0 or now_ns < passage.collect_from_ns:
            return None
        passage.estimates.append(estimate)
        if len(passage.estimates) < s.frames:
            return None
        reading = _median_reading(passage.estimates)
        passage.estimates.clear()
        passage.readings_left -= 1
        fever = s.remeasure_above_c is not None and reading.celsius >= s.remeasure_above_c
        if fever and not passage.remeasured:
            passage.remeasured = True
            passage.readings_left = 1
            passage.collect_from_ns = now_ns + int(s.remeasure_after_s * _NS)
        return reading


def _median_reading(estimates: list[FrameEstimate]) -> PassageReading:
    values = [e.celsius for e in estimates if e.celsius is not None]
    flags = tuple(dict.fromkeys(flag for e in estimates for flag in e.flags))
    return PassageReading(
        round(statistics.median(values), 2), worst([e.quality for e in estimates]), flags
    )
