"""Radiometric UVC thermal cameras (FLIR Lepton on PureThermal) read as Y16 through OpenCV."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import cv2

from devices.clock import SYSTEM_CLOCK, Clock
from devices.health import HealthCell
from devices.radiometry import FrameError, ThermalFrame, y16_to_celsius
from devices.video import Frame, VideoLoop, VideoSource
from gateway.core.values import DeviceState

logger = logging.getLogger(__name__)

# The order matters: the pixel format first, then OpenCV told not to convert it to BGR.
Y16_PROPERTIES = (
    (cv2.CAP_PROP_FOURCC, float(cv2.VideoWriter.fourcc(*"Y16 "))),
    (cv2.CAP_PROP_CONVERT_RGB, 0.0),
)


class UvcY16Feed:
    """Frames of centikelvin counts from a UVC camera (or a Y16 recording) as °C frames.

    Frames of a shape no Lepton sends are rejected: the camera is DEGRADED with the reason
    (usually a camera delivering a non-radiometric format) and no reading comes from them.
    """

    kind = "uvc-y16"

    def __init__(self, device: str, *, stall_s: float = 5.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.device = device
        self._stall_s = stall_s
        self._clock = clock

    def run(
        self,
        on_frame: Callable[[ThermalFrame], None],
        on_connect: Callable[[], None],
        health: HealthCell,
        stop: threading.Event,
    ) -> None:
        video = VideoLoop(
            VideoSource(self.device),
            name=f"thermal-{self.device}",
            health=health,
            properties=Y16_PROPERTIES,
            stall_s=self._stall_s,
        )

        def on_raw(raw: Frame) -> None:
            try:
                celsius = y16_to_celsius(raw)
            except FrameError as exc:
                health.set(DeviceState.DEGRADED, f"frame rejected: {exc}")
                return
            on_frame(ThermalFrame(celsius, self._clock.monotonic_ns()))

        video.run(on_raw, stop, on_connect)
