"""Simulated serial devices: the device end of a pseudo-terminal speaking a real protocol.

A source opens the pty's port path as it would open /dev/ttyUSB0; the peer thread writes
what the real module would send.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from collections.abc import Callable
from typing import Protocol

_POLL_S = 0.05


class PeerPort(Protocol):
    """The device side of a port: what the host sent, and a way to send to it."""

    def write(self, data: bytes) -> None: ...

    def read(self, timeout_s: float) -> bytes: ...


class PtyPort:
    """A pseudo-terminal pair: `path` is the port, the peer reads and writes the master."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def read(self, timeout_s: float) -> bytes:
        """What the host sent, waiting up to `timeout_s`; b"" when nothing came."""
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""

    def close(self) -> None:
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class StreamingPeer:
    """A named thread that writes `next_message()` every `period_s`, like a streaming module.

    With `wait_for`, it stays silent until the host has sent those bytes (the module's
    "start output" command), as the real module does.
    """

    def __init__(
        self,
        port: PeerPort,
        next_message: Callable[[], bytes],
        period_s: float,
        *,
        wait_for: bytes = b"",
        name: str = "serial-peer",
    ) -> None:
        self.port = port
        self._next = next_message
        self._period_s = period_s
        self._wait_for = wait_for
        self._stop = threading.Event()
        self.started_streaming = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> StreamingPeer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)

    def _run(self) -> None:
        received = b""
        while self._wait_for and self._wait_for not in received:
            if self._stop.is_set():
                return
            try:
                received = (received + self.port.read(_POLL_S))[-64:]
            except (OSError, ValueError):
                return  # the port was closed: unplugged
        self.started_streaming.set()
        while not self._stop.is_set():
            try:
                self.port.write(self._next())
            except (OSError, ValueError):
                return  # the port was closed: unplugged
            self._stop.wait(self._period_s)
