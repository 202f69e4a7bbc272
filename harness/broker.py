"""A private Mosquitto broker on a free port in a temporary directory."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from harness.ports import free_port, wait_for_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def mosquitto_available() -> bool:
    return Path(MOSQUITTO).exists()


class Broker:
    """Start, stop, kill and restart a Mosquitto process; the port stays the same.

    `base_config(port)`, when given, is the configuration instead of the plain anonymous
    listener (`extra_config` is appended either way).
    """

    def __init__(
        self,
        directory: Path,
        *,
        extra_config: str = "",
        base_config: Callable[[int], str] | None = None,
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        base = (
            base_config(self.port)
            if base_config is not None
            else f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.config.write_text(f"{base}log_dest file {directory / 'mosquitto.log'}\n{extra_config}")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        """Clean shutdown (SIGTERM)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Crash (SIGKILL)."""
        self._end(signal.SIGKILL)

    def pause(self) -> None:
        """Freeze (SIGSTOP): connections stay open but nothing is answered."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused broker (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def _end(self, sig: signal.Signals) -> None:
        if self._process is None:
            return
        self._process.send_signal(sig)
        self._process.wait(timeout=10)
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None
