"""Camera QR scanner: frames from OpenCV, the newest one decoded, one scan per code."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from devices.clock import SYSTEM_CLOCK, Clock, stamped_scan
from devices.health import HealthCell
from devices.preview import Box, Latest, camera_jpeg
from devices.qr_decode import Decoder, GrayFrame, Point, decode_zxing
from devices.video import Frame, VideoLoop, VideoSource
from gateway.core.values import DeviceHealth, Direction, Scan

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Roi:
    """The part of the frame to decode, as fractions of its width and height."""

    left: float
    top: float
    width: float
    height: float

    def __post_init__(self) -> None:
        if not (
            0 <= self.left < 1
            and 0 <= self.top < 1
            and 0 < self.width <= 1 - self.left + 1e-9
            and 0 < self.height <= 1 - self.top + 1e-9
        ):
            raise ValueError(
                "roi is [left, top, width, height] as fractions of the frame, inside it"
            )

    def box(self, frame: Frame) -> Box:
        """This region of `frame` in pixels (at least one pixel)."""
        rows, cols = frame.shape[:2]
        top, left = round(self.top * rows), round(self.left * cols)
        bottom = max(round((self.top + self.height) * rows), top + 1)
        right = max(round((self.left + self.width) * cols), left + 1)
        return Box(left, top, right - left, bottom - top)


@dataclass(frozen=True, slots=True)
class CameraView:
    """A decoded frame, the region decoded and the outlines of the codes found, in pixels."""

    frame: Frame
    roi: Box | None
    outlines: tuple[tuple[Point, ...], ...]


class CodeDeduper:
    """One scan per code: a code seen again within `window_s` of its last sighting is the
    same presentation (a phone held up for ten seconds is one scan)."""

    def __init__(self, window_s: float) -> None:
        self._window_ns = int(window_s * _NS)
        self._last_seen: dict[bytes, int] = {}

    def is_new(self, payload: bytes, now_ns: int) -> bool:
        previous = self._last_seen.get(payload)
        self._last_seen[payload] = now_ns
        for old in [p for p, t in self._last_seen.items() if now_ns - t > self._window_ns]:
            del self._last_seen[old]
        return previous is None or now_ns - previous > self._window_ns


class CameraScanner:
    """Reads QR codes from a camera, stream URL or video file; reopens it when it fails.

    A capture thread keeps only the newest frame; this source's thread decodes at most
    `fps` frames a second, the region of interest only, converted to grey once.
    """

    kind = "camera"

    def __init__(
        self,
        name: str,
        device: str,
        *,
        lane: str,
        direction: Direction,
        decoder: Decoder = decode_zxing,
        roi: Roi | None = None,
        fps: float = 15.0,
        dedupe_s: float = 3.0,
        stall_s: float = 5.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if fps <= 0 or dedupe_s < 0:
            raise ValueError("fps must be positive and dedupe_s not negative")
        self.name = name
        self.lane = lane
        self.direction = direction
        self._decode = decoder
        self._roi = roi
        self._dedupe_s = dedupe_s
        self._clock = clock
        self._health = HealthCell(name, self.kind)
        self._latest: Latest[CameraView] = Latest()
        source = VideoSource(device)
        # One buffered frame on a camera: its own queue would hand out stale frames.
        properties = [(cv2.CAP_PROP_BUFFERSIZE, 1), (cv2.CAP_PROP_FPS, fps)]
        self._video = VideoLoop(
            source,
            name=name,
            health=self._health,
            properties=properties if source.is_camera else (),
            stall_s=stall_s,
            interval_s=1.0 / fps,
        )

    @property
    def frames_dropped(self) -> int:
        """Frames the capture replaced before they were decoded (counted per connection)."""
        return self._video.frames_dropped

    def health(self) -> DeviceHealth:
        return self._health.get()

    def run(self, emit: Callable[[Scan], None], stop: threading.Event) -> None:
        """Decode until `stop` is set; a missing or failing source is retried with backoff."""
        # One frame at a time: OpenCV's own worker threads would only hold memory (about
        # 0.4 MB measured) and compete with the gate's other threads.
        cv2.setNumThreads(1)
        deduper = CodeDeduper(self._dedupe_s)

        def on_frame(frame: Frame) -> None:
            for payload in self.decode_frame(frame):
                now_ns = self._clock.monotonic_ns()
                if deduper.is_new(payload, now_ns):
                    emit(self._scan(payload, now_ns))

        try:
            self._video.run(on_frame, stop)
        finally:
            self._health.stopped()

    def decode_frame(self, frame: Frame) -> list[bytes]:
        """The payloads of the codes in one captured frame (region of interest only).

        The frame and the codes' outlines are kept for the preview.
        """
        roi = self._roi.box(frame) if self._roi else None
        region = roi.crop(frame) if roi else frame
        found = self._decode(to_gray(region))
        dx, dy = (roi.x, roi.y) if roi else (0, 0)
        outlines = tuple(tuple((x + dx, y + dy) for x, y in code.polygon) for code in found)
        self._latest.put(CameraView(frame, roi, outlines), self._clock.monotonic_ns())
        return [code.payload for code in found]

    def preview_jpeg(self) -> bytes | None:
        """The newest decoded frame with its codes outlined, as JPEG; None when there is no
        recent one."""
        view = self._latest.get(self._clock.monotonic_ns())
        return camera_jpeg(view.frame, view.outlines, view.roi) if view else None

    def _scan(self, payload: bytes, now_ns: int) -> Scan:
        return stamped_scan(
            payload,
            source=self.name,
            lane=self.lane,
            direction=self.direction,
            clock=self._clock,
            monotonic_ns=now_ns,
        )


def to_gray(frame: Frame) -> GrayFrame:
    """An 8-bit single-channel view of a camera frame (BGR, BGRA or already grey)."""
    if frame.ndim == 2:
        gray = frame
    elif frame.shape[2] == 4:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    else:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return np.asarray(gray, dtype=np.uint8)
