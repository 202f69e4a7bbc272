"""Capturing frames in their own thread so that the consumer always gets the newest one."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

F = TypeVar("F")


class StreamEnded(Exception):
    """The capture thread got no further frame; the message says why."""


class LatestFrame(Generic[F]):
    """A one-frame slot: the capture thread overwrites it, the consumer takes the newest.

    A frame the consumer had no time for is replaced, never queued, so a slow decoder
    works on fresh frames instead of falling further and further behind.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._frame: F | None = None
        self._seq = 0
        self._taken_seq = 0
        self._ended: str | None = None
        self.dropped = 0

    def put(self, frame: F) -> None:
        with self._changed:
            if self._seq > self._taken_seq:
                self.dropped += 1
            self._frame = frame
            self._seq += 1
            self._changed.notify_all()

    def end(self, reason: str) -> None:
        with self._changed:
            self._ended = reason
            self._changed.notify_all()

    def take(self, timeout_s: float) -> F | None:
        """The newest frame not taken yet, waiting up to `timeout_s`; None on time-out.

        Raises `StreamEnded` when the capture ended and no untaken frame is left.
        """
        with self._changed:
            self._changed.wait_for(
                lambda: self._seq > self._taken_seq or self._ended is not None, timeout_s
            )
            if self._seq > self._taken_seq:
                self._taken_seq = self._seq
                return self._frame
            if self._ended is not None:
                raise StreamEnded(self._ended)
            return None


class FrameGrabber(Generic[F]):
    """A named thread calling `read` (which blocks until the device delivers) into a slot.

    `read` returns None when no frame came (unplugged, end of file, broken stream).
    `pace_s` spaces the reads of a source that would otherwise deliver as fast as it can
    (a video file standing in for a camera).
    """

    def __init__(
        self,
        name: str,
        read: Callable[[], F | None],
        *,
        end_reason: str,
        pace_s: float = 0.0,
    ) -> None:
        self.slot: LatestFrame[F] = LatestFrame()
        self._read = read
        self._end_reason = end_reason
        self._pace_s = pace_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Stop and join; False if the thread is still blocked in `read` after `timeout_s`."""
        self._stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.warning("%s: capture still blocked after %ss", self._thread.name, timeout_s)
            return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            frame = self._read()
            if frame is None:
                self.slot.end(self._end_reason)
                return
            self.slot.put(frame)
            if self._pace_s:
                self._stop.wait(max(self._pace_s - (time.monotonic() - started), 0))
