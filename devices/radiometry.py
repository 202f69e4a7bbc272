"""Radiometric frames: what thermal cameras deliver, turned into temperatures in °C."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Celsius = npt.NDArray[np.float32]
KELVIN = 273.15

# Lepton radiometric frames (TLinear, 0.01 K per count) by sensor, with the telemetry rows
# PureThermal appends when telemetry is enabled: (rows, columns) -> telemetry rows.
Y16_SHAPES: dict[tuple[int, int], int] = {
    (120, 160): 0,  # Lepton 3.x
    (122, 160): 2,
    (60, 80): 0,  # Lepton 2.x
    (63, 80): 3,
}


class FrameError(ValueError):
    """A frame that cannot be what the camera sends (wrong size, shape or contents)."""


@dataclass(frozen=True, slots=True)
class ThermalFrame:
    """One frame of apparent temperatures (emissivity 1) in °C, row-major, and when it came."""

    celsius: Celsius
    monotonic_ns: int


def y16_to_celsius(raw: npt.NDArray[np.generic]) -> Celsius:
    """Apparent °C of a Lepton Y16 frame in centikelvin, telemetry rows stripped.

    OpenCV hands the frame over as rows x columns of uint16, or, with some backends, as
    the raw little-endian bytes; both are accepted. Any other shape raises `FrameError`.
    """
    counts = _as_counts(raw)
    telemetry = Y16_SHAPES.get((counts.shape[0], counts.shape[1]))
    if telemetry is None:
        allowed = ", ".join(f"{w}x{h}" for h, w in Y16_SHAPES)
        raise FrameError(f"a Y16 frame of {_describe(raw)} is none of {allowed}")
    image = counts[: counts.shape[0] - telemetry]
    return (image.astype(np.float32) / 100.0 - KELVIN).astype(np.float32)


def celsius_to_y16(
    celsius: npt.NDArray[np.floating], telemetry_rows: int = 0
) -> npt.NDArray[np.uint16]:
    """The Y16 frame a Lepton sends for these apparent temperatures (the simulators' side)."""
    counts = np.round((np.asarray(celsius, dtype=np.float64) + KELVIN) * 100.0)
    frame = np.clip(counts, 0, 65535).astype(np.uint16)
    if telemetry_rows:
        telemetry = np.zeros((telemetry_rows, frame.shape[1]), dtype=np.uint16)
        frame = np.vstack([frame, telemetry])
    return frame


def object_celsius(
    apparent_c: npt.ArrayLike, *, emissivity: float, reflected_c: float
) -> npt.NDArray[np.float64]:
    """True temperature of a surface of `emissivity` from its apparent (blackbody) temperature.

    The camera sees the surface's own radiation plus the surroundings reflected off it:
    T_app^4 = e * T_obj^4 + (1 - e) * T_refl^4 (Stefan-Boltzmann, in kelvin).
    """
    apparent_k4 = (np.asarray(apparent_c, dtype=np.float64) + KELVIN) ** 4
    reflected_k4 = (reflected_c + KELVIN) ** 4
    result: npt.NDArray[np.float64] = (
        (apparent_k4 - (1 - emissivity) * reflected_k4) / emissivity
    ) ** 0.25 - KELVIN
    return result


def apparent_celsius(
    object_c: npt.ArrayLike, *, emissivity: float, reflected_c: float
) -> npt.NDArray[np.float64]:
    """What a camera sees of a surface at `object_c`: the inverse of `object_celsius`."""
    object_k4 = (np.asarray(object_c, dtype=np.float64) + KELVIN) ** 4
    reflected_k4 = (reflected_c + KELVIN) ** 4
    result: npt.NDArray[np.float64] = (
        emissivity * object_k4 + (1 - emissivity) * reflected_k4
    ) ** 0.25 - KELVIN
    return result


def _as_counts(raw: npt.NDArray[np.generic]) -> npt.NDArray[np.uint16]:
    if raw.dtype == np.uint16 and raw.ndim == 2:
        return np.asarray(raw, dtype=np.uint16)
    if raw.dtype == np.uint8 and raw.ndim <= 2 and raw.size % 2 == 0:
        flat = np.ascontiguousarray(raw).reshape(-1).view("<u2")
        for rows, columns in Y16_SHAPES:
            if flat.size == rows * columns:
                return np.asarray(flat.reshape(rows, columns), dtype=np.uint16)
    raise FrameError(f"a Y16 frame of {_describe(raw)} is not 16-bit single-channel")


def _describe(raw: npt.NDArray[np.generic]) -> str:
    return f"shape {raw.shape} {raw.dtype}"
