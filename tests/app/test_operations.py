"""The running service as systemd and Prometheus see it: readiness, watchdog, /metrics."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx

from tests.support.gateway_process import (
    CheckpointProcess,
    VerdictWatcher,
    free_port,
    wait_until_serving,
    write_config,
)
from tests.test_end_to_end import wait_for


def test_ready_and_watchdog_notifications_reach_systemd(tmp_path: Path) -> None:
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(20)
    port = free_port()
    config = write_config(
        tmp_path / "g.toml", db=tmp_path / "g.db", serial_device=None, broker_port=None,
        web_port=port,
    )  # fmt: skip
    gateway = CheckpointProcess("run", config, tmp_path / "g.log")
    os.environ["NOTIFY_SOCKET"] = str(notify_path)
    os.environ["WATCHDOG_USEC"] = "400000"
    try:
        gateway.start()
    finally:
        del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
    try:
        messages = [listener.recv(256).decode() for _ in range(3)]
        assert messages[0] == "READY=1"
        assert messages[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
        # Ready means ready: the web server answers.
        assert httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).status_code == 200
        gateway.stop()
        rest = []
        while True:
            try:
                rest.append(listener.recv(256).decode())
            except TimeoutError:
                break
            if rest[-1] == "STOPPING=1":
                break
        assert rest[-1] == "STOPPING=1"
    finally:
        gateway.kill()
        listener.close()


def test_metrics_expose_every_figure(tmp_path: Path) -> None:
    master, slave = os.openpty()
    port = free_port()
    config = write_config(
        tmp_path / "g.toml", db=tmp_path / "g.db", serial_device=os.ttyname(slave),
        broker_port=free_port(), web_port=port,
    )  # fmt: skip
    gateway = CheckpointProcess("run", config, tmp_path / "g.log").start()
    try:
        wait_until_serving(port, gateway)
        watcher = VerdictWatcher(port).start()
        os.write(master, b"https://health.example/1\r")
        wait_for(lambda: len(watcher.shown()) == 1, 10, "a verdict")
        watcher.stop()
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        for figure in (
            'checkpoint_entries_total{decision="refer"} 1.0',
            'checkpoint_entries_total{decision="admit"} 0.0',
            "checkpoint_scan_to_verdict_seconds_count 1.0",
            "checkpoint_decode_seconds_count",
            "checkpoint_backlog_entries 1.0",
            "checkpoint_backlog_oldest_age_seconds",
            "checkpoint_mqtt_connected 0.0",  # the configured broker port has no broker
            'checkpoint_device_up{device="scanner-1",kind="serial"} 1.0',
            "checkpoint_disk_free_bytes",
            "checkpoint_unrecorded_entries 0.0",
        ):
            assert figure in text, figure
    finally:
        gateway.kill()
        os.close(master)
        os.close(slave)


def test_camera_decode_time_reaches_metrics_and_its_code_the_screen(tmp_path: Path) -> None:
    import numpy as np

    from devices.qr_scenes import code_frame, empty_frame
    from devices.recordings import write_video
    from tests.devices.support import qr_modules

    rng = np.random.default_rng(7)
    video = tmp_path / "gate.avi"
    modules = qr_modules("https://health.example.gov.cn/hc?c=camera")
    frames = [empty_frame((640, 480), rng) for _ in range(3)]
    frames += [code_frame(modules, "rotation", (640, 480), rng) for _ in range(5)]
    write_video(video, frames, fps=10)
    port = free_port()
    config = write_config(
        tmp_path / "g.toml", db=tmp_path / "g.db", serial_device=None, broker_port=None,
        web_port=port,
    )  # fmt: skip
    config.write_text(
        config.read_text()
        + f'[[scanners]]\nkind = "camera"\ndevice = "{video}"\nlane = "2"\nfps = 10\n'
    )
    gateway = CheckpointProcess("run", config, tmp_path / "g.log").start()
    try:
        wait_until_serving(port, gateway)
        watcher = VerdictWatcher(port).start()
        wait_for(lambda: len(watcher.shown()) >= 1, 15, "a verdict from the camera")
        watcher.stop()
        assert watcher.shown()[0]["lane"] == "2"
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        count = next(
            line for line in text.splitlines() if line.startswith("checkpoint_decode_seconds_count")
        )
        assert float(count.split()[-1]) > 0
    finally:
        gateway.kill()
