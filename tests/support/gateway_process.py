"""A gateway or collector running as a real `checkpoint` process, as systemd would run it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from harness.ports import free_port


def write_config(
    path: Path,
    *,
    db: Path,
    serial_device: str | None,
    broker_port: int | None,
    web_port: int,
    collector_db: Path | None = None,
    trust_list: Path | None = None,
    thermal: str = 'kind = "none"',
    extra: str = "",
) -> Path:
    scanner = (
        f'[[scanners]]\nkind = "serial"\ndevice = "{serial_device}"\nlane = "1"\n'
        if serial_device
        else ""
    )
    mqtt = (
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\nack_timeout_s = 2.0\n'
        if broker_port
        else ""
    )
    collector = f'[collector]\ndatabase = "sqlite:///{collector_db}"\n' if collector_db else ""
    trust = f'trust_list = "{trust_list}"\n' if trust_list else ""
    path.write_text(
        '[gate]\nid = "north-1"\nsite = "xiaojiang"\nname = "北门"\n'
        f'[storage]\npath = "{db}"\n{trust}'
        f"{scanner}"
        f"[thermal]\n{thermal}\n"
        '[policy]\nno_thermal = "admit"\ndedupe_window_s = 3.0\n'
        f"{mqtt}"
        f'[web]\nlisten = "127.0.0.1:{web_port}"\n'
        f"{collector}{extra}",
        encoding="utf-8",
    )
    return path


class CheckpointProcess:
    """`python -m gateway <command> --config FILE [ARGS]` in a subprocess with its log in a
    file (no `--config` when `config` is None)."""

    def __init__(
        self,
        command: str,
        config: Path | None,
        log: Path,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.command = command
        self.config = config
        self.log = log
        self.args = list(args)
        self.env = dict(env or {})  # over the environment at start()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> CheckpointProcess:
        config = ["--config", str(self.config)] if self.config is not None else []
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", self.command, *config, *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        return self

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def stop(self) -> int | None:
        """SIGTERM, as systemd stops the service; the exit status (None: not running)."""
        return self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        status = self.process.wait(timeout=20)
        self.process = None
        return status

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()


def wait_until_serving(port: int, process: CheckpointProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(
                f"gateway exited with {process.returncode}:\n{process.log.read_text()}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"gateway not serving after {timeout} s:\n{process.log.read_text()}")


class VerdictWatcher:
    """Collects every verdict the guard screen is pushed, from the real SSE stream."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.verdicts: list[dict[str, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="verdict-watcher", daemon=True)
        self.connected = threading.Event()

    def start(self) -> VerdictWatcher:
        self._thread.start()
        if not self.connected.wait(10):
            raise TimeoutError("no SSE connection to the guard screen")
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with httpx.stream(
                    "GET", f"http://127.0.0.1:{self.port}/api/events", timeout=None
                ) as response:
                    for line in response.iter_lines():
                        if line.startswith(":"):  # the server's "subscribed" comment
                            self.connected.set()
                        if self._stop.is_set():
                            return
                        if line.startswith("data:"):
                            self.verdicts.append(json.loads(line[len("data:") :]))
            except httpx.HTTPError:
                time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()

    def shown(self) -> list[dict[str, object]]:
        return [v for v in self.verdicts if v["kind"] == "verdict" and v["recorded"]]


__all__ = ["CheckpointProcess", "VerdictWatcher", "free_port", "wait_until_serving", "write_config"]
