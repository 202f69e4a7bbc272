"""Synthetic radiometric scenes: a face of known temperature, a blackbody, a room, a camera
with an offset and noise. What the simulated thermal sources and the tests look at."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from devices.body_temperature import ReferencePatch
from devices.radiometry import Celsius, apparent_celsius

# The physical blackbody is larger than the configured patch, so the patch sees none of the
# blur at its edges.
_BLACKBODY_MARGIN_PX = 2


@dataclass(frozen=True, slots=True)
class ThermalScene:
    """A person in front of the camera (or nobody), rendered as the camera would report it.

    The face is an ellipse centred at `face_centre` with radii `face_radius` (fractions of
    the frame); its upper part (forehead, eyes) is at `face_c`, the rest 1.2 °C cooler.
    `camera_offset_c` is the camera's uncalibrated error, added to every pixel.
    """

    width: int = 160
    height: int = 120
    ambient_c: float = 24.0
    face_c: float | None = 36.8
    face_centre: tuple[float, float] = (0.4, 0.5)
    face_radius: tuple[float, float] = (0.15, 0.25)
    emissivity: float = 0.98
    reference: ReferencePatch | None = None
    camera_offset_c: float = 0.0
    noise_c: float = 0.04
    blur_px: float = 0.6

    def truth(self) -> Celsius:
        """The true apparent temperatures of the scene, before the camera's errors."""
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        scene = self.ambient_c + 0.5 * (xs / self.width - 0.5)  # a wall slightly warmer right
        scene = scene.astype(np.float32)
        # A lamp hotter than skin and a radiator cooler: warm things that are not a face.
        scene[1 : max(self.height // 12, 2), -max(self.width // 10, 2) : -1] = 48.0
        scene[-max(self.height // 8, 2) : -1, 1 : max(self.width // 6, 2)] = 28.0
        if self.face_c is not None:
            cx, cy = self.face_centre[0] * self.width, self.face_centre[1] * self.height
            rx, ry = self.face_radius[0] * self.width, self.face_radius[1] * self.height
            inside = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1
            skin = np.where(ys < cy + 0.1 * ry, self.face_c, self.face_c - 1.2)
            seen = apparent_celsius(skin, emissivity=self.emissivity, reflected_c=self.ambient_c)
            scene = np.where(inside, seen, scene).astype(np.float32)
        if self.reference is not None:
            r, m = self.reference, _BLACKBODY_MARGIN_PX
            top, left = max(r.y - m, 0), max(r.x - m, 0)
            scene[top : r.y + r.height + m, left : r.x + r.width + m] = r.celsius
        if self.blur_px:
            scene = cv2.GaussianBlur(scene, (0, 0), self.blur_px)
        return np.asarray(scene, dtype=np.float32)

    def render(self, rng: np.random.Generator) -> Celsius:
        """One frame as the camera reports it: truth plus its offset and sensor noise."""
        noise = self.noise_c * rng.standard_normal((self.height, self.width), dtype=np.float32)
        return (self.truth() + np.float32(self.camera_offset_c) + noise).astype(np.float32)
