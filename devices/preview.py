"""What a device sees, as a JPEG for the technician: a camera frame with the outlines of the
codes found in it, a thermal frame in false colour with the measured region and reading.

Devices keep only their newest frame (`Latest`); a JPEG is rendered when somebody asks, so
no frame costs anything while nobody watches.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Generic, NamedTuple, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from devices.qr_decode import Point

T = TypeVar("T")
A = TypeVar("A", bound=np.generic)
Image = cv2.typing.MatLike

PREVIEW_WIDTH = 640
JPEG_QUALITY = 80
# A frame older than this is no view of the present: the device has stopped delivering.
STALE_S = 5.0
# The colour scale spans at least this many degrees, so sensor noise in an empty room does
# not fill the whole palette.
MIN_SPAN_C = 4.0
SCALE_BAR_PX = 24
SCALE_LABEL_PX = 80
PALETTE = cv2.COLORMAP_INFERNO

_NS = 1_000_000_000
# OpenCV colours are BGR.
OUTLINE = (60, 220, 60)
ROI = (0, 200, 255)
FACE = (255, 255, 255)
REFERENCE = (255, 200, 0)
TEXT = (255, 255, 255)
SHADOW = (0, 0, 0)
FONT = cv2.FONT_HERSHEY_SIMPLEX


class Box(NamedTuple):
    """A rectangle in frame pixels."""

    x: int
    y: int
    width: int
    height: int

    def crop(self, frame: npt.NDArray[A]) -> npt.NDArray[A]:
        return frame[self.y : self.y + self.height, self.x : self.x + self.width]


class Latest(Generic[T]):
    """The newest value a device thread put, for other threads; None once it is stale."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at_ns = 0

    def put(self, value: T, now_ns: int) -> None:
        with self._lock:
            self._value, self._at_ns = value, now_ns

    def get(self, now_ns: int, max_age_s: float = STALE_S) -> T | None:
        with self._lock:
            if self._value is None or now_ns - self._at_ns > max_age_s * _NS:
                return None
            return self._value


def camera_jpeg(
    frame: Image,
    outlines: Sequence[Sequence[Point]],
    roi: Box | None = None,
) -> bytes:
    """A camera frame (grey, BGR or BGRA) at most `PREVIEW_WIDTH` wide, the decoded region
    framed and every code found outlined."""
    scale = min(1.0, PREVIEW_WIDTH / frame.shape[1])
    image = _bgr(frame)
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if roi is not None:
        _rectangle(image, roi, scale, ROI, 2)
    for outline in outlines:
        points = np.round(np.array(outline, dtype=np.float64) * scale).astype(np.int32)
        cv2.polylines(image, [points], isClosed=True, color=OUTLINE, thickness=3)
    return _jpeg(image)


def thermal_jpeg(
    celsius: npt.NDArray[np.float32],
    *,
    face: Box | None = None,
    reading_c: float | None = None,
    reference: Box | None = None,
) -> bytes:
    """A radiometric frame in false colour (cold dark, hot bright), `PREVIEW_WIDTH` wide, with
    the measured face region, its reading, the blackbody reference and a scale bar in °C."""
    low = float(np.percentile(celsius, 1))
    high = max(float(np.percentile(celsius, 99)), low + MIN_SPAN_C)
    scale = PREVIEW_WIDTH / celsius.shape[1]
    image = cv2.resize(
        cv2.applyColorMap(_levels(celsius, low, high), PALETTE),
        (PREVIEW_WIDTH, round(celsius.shape[0] * scale)),
        interpolation=cv2.INTER_LINEAR,
    )
    if reference is not None:
        _rectangle(image, reference, scale, REFERENCE, 2)
    if face is not None:
        _rectangle(image, face, scale, FACE, 2)
        if reading_c is not None:
            x, y = round(face.x * scale), round(face.y * scale)
            _degrees(image, reading_c, (x + 4, max(y - 10, 28)), size=0.9)
    return _jpeg(np.vstack([image, _scale_bar(low, high)]))


def _scale_bar(low: float, high: float) -> Image:
    """The palette from `low` to `high`, the two temperatures written at its ends."""
    ramp = np.linspace(0, 255, PREVIEW_WIDTH - 2 * SCALE_LABEL_PX, dtype=np.float32)
    colours = cv2.applyColorMap(np.tile(ramp.astype(np.uint8), (SCALE_BAR_PX, 1)), PALETTE)
    bar = np.zeros((SCALE_BAR_PX, PREVIEW_WIDTH, 3), dtype=np.uint8)
    bar[:, SCALE_LABEL_PX:-SCALE_LABEL_PX] = colours
    _degrees(bar, low, (SCALE_LABEL_PX - 4, SCALE_BAR_PX - 6), size=0.5, align_right=True)
    _degrees(bar, high, (PREVIEW_WIDTH - SCALE_LABEL_PX + 6, SCALE_BAR_PX - 6), size=0.5)
    return bar


def _degrees(
    image: Image,
    value_c: float,
    origin: tuple[int, int],
    *,
    size: float,
    align_right: bool = False,
) -> None:
    """Writes e.g. "36.7°C" from its left end (right end if `align_right`) at `origin`; the
    Hershey fonts have no degree sign, so it is drawn."""
    number = f"{value_c:.1f}"
    thickness = max(1, round(size * 2))
    (number_w, height), _ = cv2.getTextSize(number, FONT, size, thickness)
    (unit_w, _), _ = cv2.getTextSize("C", FONT, size, thickness)
    radius = max(2, round(3 * size))
    gap = round(6 * size) + 2 * radius
    x, y = origin
    if align_right:
        x -= number_w + gap + unit_w
    ring = (x + number_w + round(3 * size) + radius, y - height + radius)
    for colour, weight in ((SHADOW, thickness + 2), (TEXT, thickness)):
        cv2.putText(image, number, (x, y), FONT, size, colour, weight, cv2.LINE_AA)
        cv2.circle(image, ring, radius, colour, max(1, weight - 1), cv2.LINE_AA)
        cv2.putText(image, "C", (x + number_w + gap, y), FONT, size, colour, weight, cv2.LINE_AA)


def _levels(celsius: npt.NDArray[np.float32], low: float, high: float) -> npt.NDArray[np.uint8]:
    scaled = (celsius.astype(np.float32) - low) * (255.0 / (high - low))
    return np.asarray(np.clip(scaled, 0, 255), dtype=np.uint8)


def _rectangle(
    image: Image,
    box: Box,
    scale: float,
    colour: tuple[int, int, int],
    thickness: int,
) -> None:
    top_left = (round(box.x * scale), round(box.y * scale))
    bottom_right = (
        round((box.x + box.width) * scale) - 1,
        round((box.y + box.height) * scale) - 1,
    )
    cv2.rectangle(image, top_left, bottom_right, colour, thickness)


def _bgr(frame: Image) -> Image:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame.copy()


def _jpeg(image: Image) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("OpenCV could not encode the preview as JPEG")
    return encoded.tobytes()
