"""Drive `tests.sync.recording_gateway` processes from a test: start, watch, kill, stop."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


class RecordingGateway:
    """One run of the recording gateway; `status()` is its last progress report."""

    def __init__(self, db: Path, port: int, target: int, *options: str) -> None:
        self.db = db
        self.status_file = db.with_name("status.json")
        self.status_file.unlink(missing_ok=True)
        self.log = db.with_name("gateway.log")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "tests.sync.recording_gateway",
                    "--db", str(db), "--port", str(port), "--target", str(target),
                    "--status", str(self.status_file), *options,
                ],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def status(self) -> dict[str, Any]:
        try:
            document: dict[str, Any] = json.loads(self.status_file.read_text())
        except FileNotFoundError:
            return {}
        return document

    def wait_running(self, timeout: float = 30) -> None:
        def running() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the gateway exited:\n{self.log.read_text()}")
            return bool(self.status())

        wait_until(running, what="the gateway to run", timeout=timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(20) == 0, self.log.read_text()

    def rss_kb(self) -> int:
        """The process's resident memory now."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc")


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the gateway's database (WAL: safe while the gateway writes)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def backlog(db: Path) -> int:
    return int(query(db, "SELECT count(*) FROM outbox")[0][0])
