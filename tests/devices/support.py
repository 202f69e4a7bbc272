"""Helpers for device tests: real pty pairs and sources running in real threads."""

from __future__ import annotations

import contextlib
import os
import queue
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import cv2
import numpy as np
import numpy.typing as npt
import segno

from gateway.core.values import DeviceHealth

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Pty:
    """A pseudo-terminal pair: the device side is the master, the port is the slave path."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def read(self, timeout_s: float) -> bytes:
        """What the host wrote to the port, waiting up to `timeout_s`; b"" when nothing."""
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        return os.read(self.master, 4096) if ready else b""

    def unplug(self) -> None:
        """Close both ends: the port hangs up and its path disappears."""
        for fd in (self.master, self._slave):
            # Already closed when unplugged twice.
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self._slave = -1


class PluggedPort:
    """A stable port path (a symlink) that can be re-pointed to a fresh pty: a re-plug."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "ttyQR0"
        self.pty = Pty()
        self.path.symlink_to(self.pty.path)

    def replug(self) -> Pty:
        self.pty.unplug()
        self.pty = Pty()
        fresh = self.path.with_suffix(".new")
        fresh.symlink_to(self.pty.path)
        fresh.replace(self.path)
        return self.pty

    def close(self) -> None:
        self.pty.unplug()


class Source(Protocol[T_co]):
    name: str

    def run(self, emit: Callable[[T_co], None], stop: threading.Event) -> None: ...

    def health(self) -> DeviceHealth: ...


class Running(Generic[T]):
    """A source's `run` in its own thread; what it emits lands in `values`."""

    def __init__(self, source: Source[T]) -> None:
        self.source = source
        self.values: queue.Queue[T] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=source.run, args=(self.values.put, self.stop), name=f"test-{source.name}"
        )
        self.thread.start()

    def next(self, timeout: float = 2.0) -> T:
        return self.values.get(timeout=timeout)

    def take(self, count: int, timeout: float = 2.0) -> list[T]:
        return [self.next(timeout) for _ in range(count)]

    def end(self, timeout: float = 2.0) -> None:
        self.stop.set()
        self.thread.join(timeout)


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll `predicate` until it holds or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def qr_modules(text: str) -> npt.NDArray[np.bool_]:
    """The module matrix of a QR code (True = dark), made as our passes are (level M)."""
    return np.array(segno.make(text, error="m", micro=False).matrix, dtype=bool)


def decode_jpeg(jpeg: bytes) -> npt.NDArray[np.uint8]:
    """A JPEG as a BGR image; fails the test when the bytes are no JPEG."""
    assert jpeg[:3] == b"\xff\xd8\xff", jpeg[:16]
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, dtype=np.uint8)


def near_colour(
    image: npt.NDArray[np.uint8], bgr: tuple[int, int, int], tolerance: int = 60
) -> npt.NDArray[np.bool_]:
    """Which pixels are within `tolerance` of a colour in every channel (JPEG blurs colours)."""
    difference = np.abs(image.astype(np.int16) - np.array(bgr, dtype=np.int16))
    return np.asarray((difference <= tolerance).all(axis=2), dtype=np.bool_)
