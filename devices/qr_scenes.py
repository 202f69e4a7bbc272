"""Synthetic camera frames of QR codes under the conditions a gate camera meets.

Camera recordings for simulation (see `devices.recordings`), the decoder acceptance tests
and the benchmark draw their frames here.
A code comes in as its module matrix (True = dark module), so any QR encoder can make it.
Every frame is a pure function of its inputs and the random generator passed in.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from devices.qr_decode import GrayFrame

Modules = npt.NDArray[np.bool_]
Size = tuple[int, int]  # width, height

CATEGORIES = (
    "rotation",
    "perspective",
    "blur",
    "motion-blur",
    "noise",
    "low-contrast",
    "shadow",
    "glare",
    "inverted",
    "small-modules",
)
QUIET_ZONE = 4  # modules of light margin around a code, as the QR standard asks
SENSOR_NOISE = 3.0  # grey levels of noise every frame carries


def empty_frame(size: Size, rng: np.random.Generator) -> GrayFrame:
    """A cluttered scene without a code: textures, shapes, edges and sensor noise."""
    return _finish(_background(size, rng), rng, SENSOR_NOISE)


def code_frame(modules: Modules, category: str, size: Size, rng: np.random.Generator) -> GrayFrame:
    """A frame of `size` showing the code degraded as `category` (one of CATEGORIES) says."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown degradation {category!r}; use one of {CATEGORIES}")
    width, height = size
    span = modules.shape[0] + 2 * QUIET_ZONE
    angle = rng.uniform(0, 360) if category == "rotation" else rng.uniform(-12, 12)
    if category == "small-modules":
        module_px = rng.uniform(2.0, 2.5)
    else:
        # As large as fits the frame once rotated, up to what a phone held close gives.
        turn = math.radians(angle)
        footprint = span * (abs(math.cos(turn)) + abs(math.sin(turn)))
        largest = min(0.75 * height / span, 0.95 * height / footprint, 9.0)
        module_px = rng.uniform(3.0, max(largest, 3.0))
    if category == "low-contrast":
        dark = rng.uniform(70, 130)
        light = dark + rng.uniform(40, 60)
    else:
        dark, light = rng.uniform(0, 40), rng.uniform(215, 255)
    code = _render(modules, math.ceil(module_px), dark=dark, light=light)
    if category == "inverted":
        code = dark + light - code

    side = span * module_px
    corners = _square(side, angle)
    if category == "perspective":
        corners = _tilt(corners, rng)
    reach = np.abs(corners).max(axis=0)
    centre = np.array(
        [
            rng.uniform(reach[0] + 2, width - reach[0] - 2),
            rng.uniform(reach[1] + 2, height - reach[1] - 2),
        ]
    )
    frame = _paste(_background(size, rng), code, corners + centre)

    if category == "shadow":
        frame = _shadow(frame, centre, rng)
    elif category == "glare":
        frame = _glare(frame, centre, side, rng)
    elif category == "blur":
        sigma = module_px * rng.uniform(0.3, 0.45)
        frame = _f32(cv2.GaussianBlur(frame, (0, 0), sigma))
    elif category == "motion-blur":
        frame = _motion_blur(frame, module_px * rng.uniform(0.6, 1.2), rng.uniform(0, 180))
    noise = rng.uniform(15, 30) if category == "noise" else SENSOR_NOISE
    return _finish(frame, rng, noise)


def _render(modules: Modules, scale: int, *, dark: float, light: float) -> npt.NDArray[np.float32]:
    padded = np.pad(modules, QUIET_ZONE, constant_values=False)
    levels = np.where(padded, dark, light).astype(np.float32)
    return np.kron(levels, np.ones((scale, scale), dtype=np.float32))


def _square(side: float, angle_deg: float) -> npt.NDArray[np.float64]:
    """Corners (top-left, top-right, bottom-right, bottom-left) around the origin."""
    half = side / 2
    square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    theta = math.radians(angle_deg)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    corners: npt.NDArray[np.float64] = square @ rotation.T
    return corners


def _tilt(corners: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Foreshorten one edge, as a phone held at an angle to the camera looks."""
    first = int(rng.integers(4))
    pair = [first, (first + 1) % 4]
    middle = corners[pair].mean(axis=0)
    tilted = corners.copy()
    tilted[pair] = middle + (corners[pair] - middle) * rng.uniform(0.65, 0.85)
    return tilted


def _paste(
    frame: npt.NDArray[np.float32], code: npt.NDArray[np.float32], corners: npt.NDArray[np.float64]
) -> npt.NDArray[np.float32]:
    height, width = frame.shape
    size = code.shape[0]
    source = np.array([[0, 0], [size, 0], [size, size], [0, size]], dtype=np.float32)
    transform = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    warped = _f32(cv2.warpPerspective(code, transform, (width, height), flags=cv2.INTER_LINEAR))
    cover = _f32(
        cv2.warpPerspective(np.ones_like(code), transform, (width, height), flags=cv2.INTER_LINEAR)
    )
    return frame * (1 - cover) + warped


def _background(size: Size, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    width, height = size
    coarse = rng.uniform(40, 200, size=(6, 8)).astype(np.float32)
    fine = rng.normal(0, 12, size=(height // 8, width // 8)).astype(np.float32)
    frame = _f32(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC))
    frame += _f32(cv2.resize(fine, (width, height), interpolation=cv2.INTER_LINEAR))
    for _ in range(int(rng.integers(4, 10))):
        level = float(rng.uniform(0, 255))
        x, y = int(rng.integers(width)), int(rng.integers(height))
        extent = int(rng.integers(10, max(width, height) // 4))
        if rng.random() < 0.5:
            cv2.rectangle(frame, (x, y), (x + extent, y + extent // 2), level, -1)
        else:
            cv2.line(frame, (x, y), (x + extent, y - extent // 3), level, int(rng.integers(1, 6)))
    return frame


def _shadow(
    frame: npt.NDArray[np.float32], centre: npt.NDArray[np.float64], rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """A soft-edged shadow across the code: one side keeps 35-55 % of its light."""
    height, width = frame.shape
    theta = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = (xs - centre[0]) * math.cos(theta) + (ys - centre[1]) * math.sin(theta)
    distance -= rng.uniform(-30, 30)
    edge = rng.uniform(4, 20)
    factor = rng.uniform(0.35, 0.55)
    step = 1 / (1 + np.exp(-distance / edge))
    shaded: npt.NDArray[np.float32] = frame * (factor + (1 - factor) * step)
    return shaded


def _glare(
    frame: npt.NDArray[np.float32],
    centre: npt.NDArray[np.float64],
    side: float,
    rng: np.random.Generator,
) -> npt.NDArray[np.float32]:
    """A specular highlight on the phone's screen that washes out part of the code."""
    height, width = frame.shape
    spot = centre + rng.uniform(-0.3, 0.3, size=2) * side
    sigma = side * rng.uniform(0.07, 0.12)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    d2 = (xs - spot[0]) ** 2 + (ys - spot[1]) ** 2
    glared: npt.NDArray[np.float32] = frame + rng.uniform(150, 220) * np.exp(-d2 / (2 * sigma**2))
    return glared


def _motion_blur(
    frame: npt.NDArray[np.float32], length: float, angle_deg: float
) -> npt.NDArray[np.float32]:
    size = max(3, math.ceil(length) | 1)
    kernel = np.zeros((size, size), dtype=np.float32)
    half = (size - 1) / 2
    dx = math.cos(math.radians(angle_deg)) * length / 2
    dy = math.sin(math.radians(angle_deg)) * length / 2
    cv2.line(
        kernel,
        (round(half - dx), round(half - dy)),
        (round(half + dx), round(half + dy)),
        1.0,
        1,
    )
    return _f32(cv2.filter2D(frame, -1, kernel / kernel.sum()))


def _finish(frame: npt.NDArray[np.float32], rng: np.random.Generator, noise: float) -> GrayFrame:
    noisy = frame + noise * rng.standard_normal(size=frame.shape, dtype=np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _f32(image: cv2.typing.MatLike) -> npt.NDArray[np.float32]:
    return np.asarray(image, dtype=np.float32)
