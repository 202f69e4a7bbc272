"""A full disk on a real (small) tmpfs: the guard is warned, entries wait in memory, and all
are written, in order, once space returns."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway_process import (
    CheckpointProcess,
    VerdictWatcher,
    free_port,
    wait_until_serving,
    write_config,
)
from tests.test_end_to_end import wait_for


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Take every free byte of the filesystem with one file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_full_disk_warns_keeps_entries_and_writes_them_when_space_returns(
    tmp_path: Path, small_disk: Path
) -> None:
    master, slave = os.openpty()
    port = free_port()
    db = small_disk / "gateway.db"
    config = write_config(
        tmp_path / "g.toml", db=db, serial_device=os.ttyname(slave), broker_port=None,
        web_port=port,
    )  # fmt: skip
    gateway = CheckpointProcess("run", config, tmp_path / "g.log").start()
    try:
        wait_until_serving(port, gateway)
        watcher = VerdictWatcher(port).start()
        os.write(master, b"https://health.example/before\r")
        wait_for(lambda: len(watcher.shown()) == 1, 10, "the first verdict")
        filler = fill(small_disk)
        for n in range(40):
            os.write(master, b"https://health.example/%04d-" % n + b"x" * 600 + b"\r")
        wait_for(
            lambda: any(not v["recorded"] for v in watcher.verdicts), 20, "a NOT RECORDED verdict"
        )
        status = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).json()
        assert status["unrecorded"] > 0
        assert gateway.returncode is None  # the service did not crash

        filler.unlink()
        wait_for(
            lambda: (
                httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).json()["unrecorded"]
                == 0
            ),
            30,
            "the kept entries to be written",
        )
        watcher.stop()
        decided = {str(v["id"]) for v in watcher.verdicts if v["kind"] == "verdict"}
        connection = sqlite3.connect(db)
        stored = [r[0] for r in connection.execute("SELECT id FROM entries ORDER BY seq")]
        seqs = [r[0] for r in connection.execute("SELECT seq FROM entries ORDER BY seq")]
        connection.close()
        assert len(stored) == 41
        assert decided == set(stored)
        assert seqs == list(range(1, 42))
    finally:
        gateway.kill()
        os.close(master)
        os.close(slave)
