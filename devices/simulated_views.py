"""What the cameras of a simulated gate would see, for the technician's previews in the demo.

The code just scanned (or the person just measured) stays in view for `hold_s`, then the
scene is empty. Scenes are synthetic but go through the real paths: the QR outline is where
zxing-cpp finds the code, the face box and reading are the estimator's.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

from devices.body_temperature import BodyTemperatureEstimator, EstimatorSettings, ReferencePatch
from devices.preview import Latest, camera_jpeg, thermal_jpeg
from devices.qr_decode import GrayFrame, decode_zxing
from devices.qr_scenes import code_frame, empty_frame
from devices.thermal_scenes import ThermalScene

_NS = 1_000_000_000
CAMERA_SIZE = (640, 480)
BLACKBODY = ReferencePatch(x=140, y=96, width=8, height=8, celsius=35.0)


class SimulatedCameraView:
    """A camera's view of the simulated scanner: the last code held up, or nobody."""

    def __init__(self, hold_s: float = 2.0) -> None:
        self._hold_s = hold_s
        self._held: Latest[bytes] = Latest()
        self._empty = empty_frame(CAMERA_SIZE, np.random.default_rng(0))

    def show(self, payload: bytes, now_ns: int) -> None:
        self._held.put(payload, now_ns)

    def jpeg(self, now_ns: int) -> bytes:
        payload = self._held.get(now_ns, self._hold_s)
        frame = self._empty if payload is None else _code_scene(payload)
        return camera_jpeg(frame, [code.polygon for code in decode_zxing(frame)])


class SimulatedThermalView:
    """A thermal camera's view of the simulated gate: the last person measured, or nobody;
    a blackbody reference in the corner."""

    def __init__(self, hold_s: float = 2.0) -> None:
        self._hold_s = hold_s
        self._held: Latest[float] = Latest()
        self._estimator = BodyTemperatureEstimator(EstimatorSettings(reference=BLACKBODY))

    def show(self, celsius: float, now_ns: int) -> None:
        self._held.put(celsius, now_ns)

    def jpeg(self, now_ns: int) -> bytes:
        frame = _thermal_scene(self._held.get(now_ns, self._hold_s))
        estimate = self._estimator.estimate(frame)
        return thermal_jpeg(
            frame, face=estimate.face, reading_c=estimate.celsius, reference=BLACKBODY.box
        )


def _code_scene(payload: bytes) -> GrayFrame:
    """The same scene for the same code (seeded by it): a steady picture while it is held."""
    import segno  # drawn only when a code is shown: a simulated thermal camera never needs it

    modules = np.array(segno.make(payload, error="m", micro=False).matrix, dtype=bool)
    rng = np.random.default_rng(zlib.crc32(payload))
    return code_frame(modules, "rotation", CAMERA_SIZE, rng)


def _thermal_scene(celsius: float | None) -> npt.NDArray[np.float32]:
    scene = ThermalScene(face_c=celsius, reference=BLACKBODY, camera_offset_c=0.8)
    return scene.render(np.random.default_rng(0))
