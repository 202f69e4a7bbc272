"""Opening OpenCV video sources: a device index, /dev/videoN, a stream URL or a video file."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2

logger = logging.getLogger(__name__)

Frame = cv2.typing.MatLike

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# Bounds how long a broken network stream can block a read or an open.
STREAM_TIMEOUT_MS = 5000
DEFAULT_FILE_FPS = 25.0


class VideoSource:
    """What the configured `device` string means to OpenCV, and how to open it.

    Digits are a camera index, `/dev/...` a V4L2 device, `scheme://...` a stream URL,
    anything else a video file (played at its own frame rate, as a camera would deliver).
    """

    def __init__(self, device: str) -> None:
        if not device:
            raise ValueError("a video source needs a device index, path, URL or file")
        self.device = device
        self.is_camera = device.isdigit() or device.startswith("/dev/")
        self.is_url = bool(_URL.match(device))
        self.is_file = not self.is_camera and not self.is_url

    def open(
        self, properties: Sequence[tuple[int, float]] = ()
    ) -> cv2.VideoCapture | None:
        """An opened capture with `properties` set in order, or None when it cannot be opened.

        Properties a backend does not support (e.g. a FOURCC on a file) are skipped.
        """
        if self.is_file and not Path(self.device).is_file():
            return None
        try:
            if self.is_camera:
                target: int | str = int(self.device) if self.device.isdigit() else self.device
                capture = cv2.VideoCapture(target, cv2.CAP_V4L2)
            else:
                capture = cv2.VideoCapture(
                    self.device,
                    cv2.CAP_FFMPEG,
                    [
                        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                        STREAM_TIMEOUT_MS,
                        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                        STREAM_TIMEOUT_MS,
                    ],
                )
        except cv2.error as exc:
            logger.debug("OpenCV cannot open %s: %s", self.device, exc)
            return None
        if not capture.isOpened():
            capture.release()
            return None
        for prop, value in properties:
            if not capture.set(prop, value):
                logger.debug("%s: property %s not supported", self.device, prop)
        return capture

    def pace_s(self, capture: cv2.VideoCapture) -> float:
        """The time between frames to hold to when reading a file; 0 for live sources."""
        if not self.is_file:
            return 0.0
        fps = capture.get(cv2.CAP_PROP_FPS)
        return 1.0 / (fps if fps > 0 else DEFAULT_FILE_FPS)


def reader(capture: cv2.VideoCapture) -> Callable[[], Frame | None]:
    """A read function for `FrameGrabber`: the next frame, or None when none came."""

    def read() -> Frame | None:
        try:
            ok, frame = capture.read()
        except cv2.error as exc:
            logger.debug("OpenCV read failed: %s", exc)
            return None
        return frame if ok and frame is not None else None

    return read
