"""Benchmark: memory and start-up of the real processes, as systemd runs them.

    .venv/bin/python -m benchmarks.footprint [--scans 1000] [--as-installed] [--json]

(a) `checkpoint run` with one serial scanner (a pty pair), no thermal source, the web UI and
    MQTT: seconds from start to READY=1 (read on a NOTIFY_SOCKET, as systemd hears it), then
    steady RSS after `--scans` scans typed on the scanner's line.
(b) `checkpoint run` with a camera scanner playing a video of `--scans` different codes and a
    simulated thermal source: steady RSS after the scans.
(c) `checkpoint collector` on SQLite storing both gates' entries: steady RSS after them.

Each process runs with a private Mosquitto in a temporary directory. Steady RSS is the
largest of several readings of VmRSS taken after the entries are recorded and synced. Each
gate is started once beforehand to create its database, as its first start after installing
does; that first start migrates the schema (loading Alembic) and its time to READY=1 is
reported too. The measured runs are the day-to-day starts on an existing database.

RSS includes the pages of shared libraries the process has mapped, and how many of those
the kernel maps depends on how the files came into the page cache: right after `pip install`
wrote them, a kernel with large page-cache folios maps whole folios, and the camera gate
shows about 40 MB more, pages it never reads, than after a reboot. So the processes start as
after a reboot: the installed packages' shared libraries are first flushed out of the page
cache (these files only, with posix_fadvise; nothing system-wide).
`--as-installed` skips that. The part of each RSS that is mapped files (RssFile) is reported
beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import time
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

from harness.broker import Broker
from harness.ports import free_port

TARGET_RSS_A_MB = 100.0
TARGET_RSS_B_MB = 140.0
TARGET_RSS_COLLECTOR_MB = 140.0
TARGET_READY_A_S = 2.0
_FORBIDDEN_ON_A = ("cv2", "numpy", "zxingcpp")


@dataclass(frozen=True)
class Footprint:
    first_ready_a_s: float
    ready_a_s: float
    rss_a_mb: float
    rss_b_mb: float
    rss_collector_mb: float
    files_a_mb: float
    files_b_mb: float
    files_collector_mb: float
    scans: int
    imaging_loaded_on_a: list[str]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=1000)
    parser.add_argument(
        "--as-installed",
        action="store_true",
        help="leave the libraries in the page cache as they are (not as after a reboot)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not args.as_installed:
        _evict_libraries()
    result = measure(args.scans)
    if args.json:
        print(json.dumps(asdict(result)))
        return
    print(f"footprint after {result.scans} scans (steady VmRSS):")
    _row("(a) first start (creates the database)", result.first_ready_a_s, "s", TARGET_READY_A_S)
    _row("(a) serial scanner, web, MQTT: ready", result.ready_a_s, "s", TARGET_READY_A_S)
    _row("(a) serial scanner, web, MQTT: RSS", result.rss_a_mb, "MB", TARGET_RSS_A_MB)
    _row("(b) camera + thermal camera: RSS", result.rss_b_mb, "MB", TARGET_RSS_B_MB)
    _row("(c) collector on SQLite: RSS", result.rss_collector_mb, "MB", TARGET_RSS_COLLECTOR_MB)
    files = (result.files_a_mb, result.files_b_mb, result.files_collector_mb)
    print("  of which mapped files (a), (b), (c): " + ", ".join(f"{mb:.1f} MB" for mb in files))
    loaded = ", ".join(result.imaging_loaded_on_a) or "none"
    print(f"imaging modules loaded on (a): {loaded}")


def _row(what: str, value: float, unit: str, target: float) -> None:
    verdict = "ok" if value <= target else "OVER"
    print(f"  {what:<40} {value:8.2f} {unit:<2}  (target <= {target:g} {unit}: {verdict})")


def _evict_libraries() -> None:
    """Write back and drop the page cache of the installed packages' shared libraries (the
    files `pip install` wrote), so the processes map them as they would after a reboot."""
    paths = sysconfig.get_paths()
    for root in {Path(paths["purelib"]), Path(paths["platlib"])}:
        for path in (path for path in root.rglob("*.so*") if path.is_file()):
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)  # dirty pages cannot be dropped
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(descriptor)


def measure(scans: int) -> Footprint:
    with tempfile.TemporaryDirectory(prefix="checkpoint-footprint-") as directory:
        root = Path(directory)
        broker = Broker(root).start()
        collector_db = root / "collector.db"
        try:
            with _process(
                ["collector", "--config", str(_config(root / "c.toml", root, broker.port, "c"))],
                root / "collector.log",
            ) as collector:
                first_ready_a, ready_a, memory_a, loaded = _serial_gate(root, broker.port, scans)
                memory_b = _camera_gate(root, broker.port, scans)
                _wait(lambda: _count(collector_db) >= 2 * scans, 120, "the collector to store")
                memory_collector = _steady_memory(collector.pid)
        finally:
            broker.stop()
    return Footprint(
        first_ready_a_s=round(first_ready_a, 2),
        ready_a_s=round(ready_a, 2),
        rss_a_mb=round(memory_a.rss_mb, 1),
        rss_b_mb=round(memory_b.rss_mb, 1),
        rss_collector_mb=round(memory_collector.rss_mb, 1),
        files_a_mb=round(memory_a.files_mb, 1),
        files_b_mb=round(memory_b.files_mb, 1),
        files_collector_mb=round(memory_collector.files_mb, 1),
        scans=scans,
        imaging_loaded_on_a=loaded,
    )


def _serial_gate(
    root: Path, broker_port: int, scans: int
) -> tuple[float, float, Memory, list[str]]:
    """(a): first and day-to-day ready times, steady memory, and which imaging modules the
    process holds."""
    controller, line = pty.openpty()
    tty.setraw(line)
    scanner = f'[[scanners]]\nkind = "serial"\ndevice = "{os.ttyname(line)}"\nlane = "1"\n'
    config = _config(root / "a.toml", root, broker_port, "a", scanner, 'kind = "none"')
    with _ready_gate(config, root / "a.log") as (first_ready_s, _):
        pass
    with _ready_gate(config, root / "a.log") as (ready_s, gate):
        for k in range(scans):
            os.write(controller, f"VISITOR-PASS-{k:06d}\r\n".encode())
            time.sleep(0.004)
        database = root / "a.db"
        _wait(lambda: _count(database) >= scans, 120, "gate (a) to record every scan")
        _wait(lambda: _outbox(database) == 0, 120, "gate (a) to sync")
        memory = _steady_memory(gate.pid)
        loaded = _loaded_modules(gate.pid)
    os.close(controller)
    os.close(line)
    return first_ready_s, ready_s, memory, loaded


@contextmanager
def _ready_gate(config: Path, log: Path) -> Iterator[tuple[float, subprocess.Popen[bytes]]]:
    """A gate process once it told READY=1: the seconds that took, and the process."""
    with (
        _notify_socket(log.with_suffix(".notify")) as ready,
        _process(["run", "--config", str(config)], log, env={"NOTIFY_SOCKET": ready.path}) as gate,
    ):
        started = time.monotonic()
        ready.wait(30)
        yield time.monotonic() - started, gate


def _camera_gate(root: Path, broker_port: int, scans: int) -> Memory:
    """(b): steady memory of a gate whose camera plays a video of `scans` different codes."""
    video = _code_video(root / "codes.avi", scans)
    scanner = (
        f'[[scanners]]\nkind = "camera"\ndevice = "{video}"\nlane = "1"\nfps = 60\ndedupe_s = 0.5\n'
    )
    config = _config(root / "b.toml", root, broker_port, "b", scanner, 'kind = "simulated"')
    with _ready_gate(config, root / "b.log"):
        pass  # the first start creates the database
    _clear(root / "b.db")
    with _process(["run", "--config", str(config)], root / "b.log") as gate:
        database = root / "b.db"
        _wait(lambda: _count(database) >= scans, 300, "gate (b) to record the video's codes")
        _wait(lambda: _outbox(database) == 0, 120, "gate (b) to sync")
        return _steady_memory(gate.pid)


def _code_video(path: Path, codes: int) -> Path:
    """A video of `codes` frames, each showing a different QR code (30 fps, MJPEG)."""
    import cv2
    import numpy as np
    import segno

    size = (640, 480)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, size)
    try:
        for k in range(codes):
            modules = np.array(segno.make(f"VISITOR-CAM-{k:06d}", micro=False).matrix)
            code = np.kron(1 - modules, np.ones((8, 8))).astype(np.uint8) * 255
            frame = np.full((size[1], size[0]), 255, dtype=np.uint8)
            top, left = (size[1] - code.shape[0]) // 2, (size[0] - code.shape[1]) // 2
            frame[top : top + code.shape[0], left : left + code.shape[1]] = code
            writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    finally:
        writer.release()
    return path


def _config(
    path: Path, root: Path, broker_port: int, name: str, scanner: str = "", thermal: str = ""
) -> Path:
    thermal = thermal or 'kind = "none"'
    collector = root / "collector.db"
    path.write_text(
        f'[gate]\nid = "gate-{name}"\nsite = "footprint"\nname = "{name}"\n'
        f'[storage]\npath = "{root / (name + ".db")}"\n'
        f"{scanner}"
        f"[thermal]\n{thermal}\n"
        '[policy]\nno_thermal = "admit"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\n'
        f'[web]\nlisten = "127.0.0.1:{free_port()}"\n'
        f'[collector]\ndatabase = "sqlite:///{collector}"\n',
        encoding="utf-8",
    )
    return path


@contextmanager
def _process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


class _Ready:
    def __init__(self, sock: socket.socket, path: str) -> None:
        self._sock = sock
        self.path = path

    def wait(self, timeout_s: float) -> None:
        self._sock.settimeout(timeout_s)
        while b"READY=1" not in self._sock.recv(4096):
            pass


@contextmanager
def _notify_socket(path: Path) -> Iterator[_Ready]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        try:
            yield _Ready(sock, str(path))
        finally:
            path.unlink()


def _clear(database: Path) -> None:
    """Forget what a first start recorded (what it synced stays at the collector)."""
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM outbox")
        connection.execute("DELETE FROM entries")


def _count(database: Path) -> int:
    return _scalar(database, "SELECT count(*) FROM entries")


def _outbox(database: Path) -> int:
    return _scalar(database, "SELECT count(*) FROM outbox")


def _scalar(database: Path, query: str) -> int:
    if not database.exists():
        return -1
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            return int(connection.execute(query).fetchone()[0])
    except sqlite3.Error:
        return -1


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.2)


class Memory(NamedTuple):
    rss_mb: float
    files_mb: float  # the part of RSS that is mapped files (libraries), not the process's own


def _steady_memory(pid: int, readings: int = 10, interval_s: float = 0.3) -> Memory:
    """The reading with the largest VmRSS of several, once things have settled."""
    time.sleep(1.0)
    largest = Memory(0.0, 0.0)
    for _ in range(readings):
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
        reading = Memory(_mb(status["VmRSS"]), _mb(status["RssFile"]))
        largest = max(largest, reading)
        time.sleep(interval_s)
    return largest


def _mb(field: str) -> float:
    """A /proc status size ("  1234 kB") in MB."""
    return int(field.split()[0]) / 1024


def _loaded_modules(pid: int) -> list[str]:
    """Which of cv2, numpy and zxing-cpp the process has mapped (their shared objects)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in _FORBIDDEN_ON_A if f"/{name}" in maps]


if __name__ == "__main__":
    main()
