"""`checkpoint demo`, the README's first command, as a user runs it: a whole gate that decides,
records, syncs to its collector through a private Mosquitto, and shows its devices."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx
import pytest

from devices.preview import OUTLINE
from harness.broker import mosquitto_available
from tests.devices.support import decode_jpeg, near_colour, wait_until
from tests.devices.test_preview import white_in_picture
from tests.support.gateway_process import (
    CheckpointProcess,
    VerdictWatcher,
    free_port,
    wait_until_serving,
)
from tests.web.support import PASSWORDS, set_up_accounts

pytestmark = pytest.mark.slow

ROUND = 10  # passages in one round of the demo's morning


def count(database: Path, sql: str) -> int:
    connection = sqlite3.connect(database)
    try:
        return int(connection.execute(sql).fetchone()[0])
    finally:
        connection.close()


def test_the_demo_decides_records_syncs_and_previews_its_devices(tmp_path: Path) -> None:
    if not mosquitto_available():
        pytest.skip("Mosquitto is not installed (.ci/run installs it)")
    port = free_port()
    demo = CheckpointProcess(
        "demo",
        None,
        tmp_path / "demo.log",
        args=["--port", str(port), "--interval", "0.2"],
        env={"TMPDIR": str(tmp_path)},
    ).start()
    status: int | None = None
    try:
        wait_until_serving(port, demo)
        url = f"http://127.0.0.1:{port}"
        (workdir,) = tmp_path.glob("checkpoint-demo-*")
        gateway_db, collector_db = workdir / "gateway.db", workdir / "collector.db"
        assert wait_until(lambda: count(gateway_db, "SELECT count(*) FROM entries") >= ROUND, 30)
        decisions = count(gateway_db, "SELECT count(DISTINCT decision) FROM entries")
        assert decisions == 3  # admit, deny and refer all occur in one round

        set_up_accounts(url)
        technician = httpx.Client(base_url=url)
        signed_in = technician.post(
            "/api/auth/sign-in",
            json={"username": "technician", "password": PASSWORDS["technician"]},
        )
        assert signed_in.status_code == 200
        devices = technician.get("/api/status").json()["devices"]
        assert {(d["name"], d["state"], d["preview"]) for d in devices} == {
            ("sim-scanner", "up", True),
            ("sim-thermal", "up", True),
        }

        def preview(name: str) -> bytes:
            response = technician.get(f"/api/devices/{name}/preview")
            assert response.status_code == 200
            return response.content

        assert wait_until(
            lambda: near_colour(decode_jpeg(preview("sim-scanner")), OUTLINE).sum() > 200, 10
        )
        assert wait_until(lambda: white_in_picture(decode_jpeg(preview("sim-thermal"))) > 100, 10)
    finally:
        status = demo.stop()
    assert status == 0  # a clean stop on SIGTERM
    log = (tmp_path / "demo.log").read_text()
    assert re.search(r"guard screen: http://127\.0\.0\.1:\d+", log)
    recorded = count(gateway_db, "SELECT count(*) FROM entries")
    synced = recorded - count(gateway_db, "SELECT count(*) FROM outbox")
    assert synced > 0
    assert count(collector_db, "SELECT count(*) FROM entries") >= synced
    assert count(collector_db, "SELECT count(*) FROM entries") <= recorded


# What the guard sees for the demo's people, every round: (decision, reasons).
PROMISED = {
    ("admit", ()),
    ("refer", ("code-yellow",)),
    ("deny", ("code-red",)),
    ("deny", ("code-bad-signature",)),
    ("deny", ("code-expired",)),
    ("deny", ("fever",)),
    ("refer", ("code-unverified",)),
}


def test_every_round_of_the_demo_shows_each_verdict(tmp_path: Path) -> None:
    """The demo's people go in, then out: two rounds on the guard screen each show admit,
    refer and deny with the reasons the demo promises, and nobody is held up as pass-back."""
    port = free_port()
    demo = CheckpointProcess(
        "demo",
        None,
        tmp_path / "demo.log",
        args=["--port", str(port), "--interval", "0.3"],
        env={"TMPDIR": str(tmp_path)},
    ).start()
    try:
        wait_until_serving(port, demo)
        screen = VerdictWatcher(port).start()
        assert wait_until(lambda: len(_rounds(screen.shown())) >= 3, 60)
        screen.stop()
    finally:
        demo.stop()
    first, second = _rounds(screen.shown())[:2]
    for shown in (first, second):
        seen = {(str(v["decision"]), tuple(v["reasons"])) for v in shown}  # type: ignore[arg-type]
        assert seen >= PROMISED, seen
        assert not any("pass-back" in v["reasons"] for v in shown)  # type: ignore[operator]
    assert {v["direction"] for v in first} != {v["direction"] for v in second}


def _rounds(shown: list[dict[str, object]]) -> list[list[dict[str, object]]]:
    """The verdicts in runs of one direction (a round of the demo goes one way), the first
    run dropped: the screen may have been watched from the middle of it."""
    runs: list[list[dict[str, object]]] = []
    for verdict in shown:
        if runs and runs[-1][0]["direction"] == verdict["direction"]:
            runs[-1].append(verdict)
        else:
            runs.append([verdict])
    return runs[1:]
