"""Opening OpenCV video sources: a device index, /dev/videoN, a stream URL or a video file."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2

from devices.backoff import Backoff
from devices.frames import FrameGrabber, StreamEnded
from devices.health import HealthCell
from gateway.core.values import DeviceState

logger = logging.getLogger(__name__)

Frame = cv2.typing.MatLike

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# Bounds how long a broken network stream can block a read or an open.
STREAM_TIMEOUT_MS = 5000
DEFAULT_FILE_FPS = 25.0
END_OF_FILE = "end of the video file"


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

    def open(self, properties: Sequence[tuple[int, float]] = ()) -> cv2.VideoCapture | None:
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


class VideoLoop:
    """Opens a video source, hands its newest frames to a callback, reopens it when it fails.

    A capture thread keeps only the newest frame. The callback runs at most once per
    `interval_s`. A recording replays at its end, like a camera that never stops; a camera
    or stream that fails is DOWN until it can be opened again (with backoff).
    """

    def __init__(
        self,
        source: VideoSource,
        *,
        name: str,
        health: HealthCell,
        properties: Sequence[tuple[int, float]] = (),
        stall_s: float = 5.0,
        interval_s: float = 0.0,
    ) -> None:
        if stall_s <= 0 or interval_s < 0:
            raise ValueError("stall_s must be positive and interval_s not negative")
        self.source = source
        self._name = name
        self._health = health
        self._properties = tuple(properties)
        self._stall_s = stall_s
        self._interval_s = interval_s
        self.frames_dropped = 0

    def run(
        self,
        on_frame: Callable[[Frame], None],
        stop: threading.Event,
        on_connect: Callable[[], None] = lambda: None,
    ) -> None:
        """Deliver frames until `stop` is set."""
        backoff = Backoff(0.5, 5.0)
        while not stop.is_set():
            capture = self.source.open(self._properties)
            if capture is None:
                self._health.set(DeviceState.DOWN, f"cannot open {self.source.device}")
                stop.wait(backoff.next())
                continue
            reason, delivered = self._stream(capture, on_frame, on_connect, stop)
            if reason is None:
                return
            if delivered:
                backoff.reset()
                if self.source.is_file and reason == END_OF_FILE:
                    continue
            self._health.set(DeviceState.DOWN, reason)
            stop.wait(backoff.next())

    def _stream(
        self,
        capture: cv2.VideoCapture,
        on_frame: Callable[[Frame], None],
        on_connect: Callable[[], None],
        stop: threading.Event,
    ) -> tuple[str | None, bool]:
        """Deliver the newest frames until the stream fails or `stop` is set.

        Returns why it ended (None: stopped) and whether any frame came.
        """
        grabber: FrameGrabber[Frame] = FrameGrabber(
            f"{self._name}-capture",
            reader(capture),
            end_reason=END_OF_FILE if self.source.is_file else "no frame from the source",
            pace_s=self.source.pace_s(capture),
        )
        grabber.start()
        delivered = False
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    frame = grabber.slot.take(self._stall_s)
                except StreamEnded as ended:
                    return str(ended), delivered
                if frame is None:
                    return f"no frame for {self._stall_s:g} s", delivered
                if not delivered:
                    delivered = True
                    self._health.set(DeviceState.UP)
                    on_connect()
                on_frame(frame)
                stop.wait(max(self._interval_s - (time.monotonic() - started), 0))
            return None, delivered
        finally:
            if grabber.stop(STREAM_TIMEOUT_MS / 1000 + 1):
                capture.release()
            self.frames_dropped += grabber.slot.dropped
