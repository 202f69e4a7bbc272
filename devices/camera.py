"""Camera QR scanner: frames from OpenCV, the newest one decoded, one scan per code."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from devices.backoff import Backoff
from devices.clock import SYSTEM_CLOCK, Clock
from devices.frames import FrameGrabber, StreamEnded
from devices.health import HealthCell
from devices.qr_decode import Decoder, GrayFrame, decode_zxing
from devices.video import STREAM_TIMEOUT_MS, Frame, VideoSource, reader
from gateway.core.values import DeviceHealth, DeviceState, Direction, Scan

logger = logging.getLogger(__name__)

_NS = 1_000_000_000
END_OF_FILE = "end of the video file"


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

    def crop(self, frame: Frame) -> Frame:
        rows, cols = frame.shape[:2]
        top, left = round(self.top * rows), round(self.left * cols)
        bottom = max(round((self.top + self.height) * rows), top + 1)
        right = max(round((self.left + self.width) * cols), left + 1)
        return frame[top:bottom, left:right]


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
        if fps <= 0 or dedupe_s < 0 or stall_s <= 0:
            raise ValueError("fps and stall_s must be positive and dedupe_s not negative")
        self.name = name
        self.source = VideoSource(device)
        self.lane = lane
        self.direction = direction
        self._decode = decoder
        self._roi = roi
        self._interval_s = 1.0 / fps
        self._fps = fps
        self._dedupe_s = dedupe_s
        self._stall_s = stall_s
        self._clock = clock
        self._health = HealthCell(name, self.kind)
        self.frames_dropped = 0

    def health(self) -> DeviceHealth:
        return self._health.get()

    def run(self, emit: Callable[[Scan], None], stop: threading.Event) -> None:
        """Decode until `stop` is set; a missing or failing source is retried with backoff."""
        backoff = Backoff(0.5, 5.0)
        deduper = CodeDeduper(self._dedupe_s)
        try:
            while not stop.is_set():
                capture = self.source.open(self._properties())
                if capture is None:
                    self._health.set(DeviceState.DOWN, f"cannot open {self.source.device}")
                    stop.wait(backoff.next())
                    continue
                reason, delivered = self._stream(capture, emit, deduper, stop)
                if reason is None:
                    return
                if delivered:
                    backoff.reset()
                    if self.source.is_file and reason == END_OF_FILE:
                        continue  # a recording replays, like a camera that never ends
                self._health.set(DeviceState.DOWN, reason)
                stop.wait(backoff.next())
        finally:
            self._health.stopped()

    def _properties(self) -> list[tuple[int, float]]:
        if not self.source.is_camera:
            return []
        # One buffered frame: a camera's own queue would hand out stale frames.
        return [(cv2.CAP_PROP_BUFFERSIZE, 1), (cv2.CAP_PROP_FPS, self._fps)]

    def _stream(
        self,
        capture: cv2.VideoCapture,
        emit: Callable[[Scan], None],
        deduper: CodeDeduper,
        stop: threading.Event,
    ) -> tuple[str | None, bool]:
        """Decode the newest frames until the stream fails or `stop` is set.

        Returns why it ended (None: stopped) and whether any frame came.
        """
        grabber: FrameGrabber[Frame] = FrameGrabber(
            f"{self.name}-capture",
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
                delivered = True
                self._health.set(DeviceState.UP)
                for payload in self.decode_frame(frame):
                    now_ns = self._clock.monotonic_ns()
                    if deduper.is_new(payload, now_ns):
                        emit(self._scan(payload, now_ns))
                stop.wait(max(self._interval_s - (time.monotonic() - started), 0))
            return None, delivered
        finally:
            if grabber.stop(STREAM_TIMEOUT_MS / 1000 + 1):
                capture.release()
            self.frames_dropped += grabber.slot.dropped

    def decode_frame(self, frame: Frame) -> list[bytes]:
        """The payloads of the codes in one captured frame (region of interest only)."""
        region = self._roi.crop(frame) if self._roi else frame
        return [decoded.payload for decoded in self._decode(to_gray(region))]

    def _scan(self, payload: bytes, now_ns: int) -> Scan:
        return Scan(
            payload=payload,
            source=self.name,
            lane=self.lane,
            direction=self.direction,
            monotonic_ns=now_ns,
            wall_time=self._clock.now(),
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
