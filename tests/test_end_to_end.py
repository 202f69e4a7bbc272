"""The whole gate as real processes: pty serial scanner → `checkpoint run` → Mosquitto →
`checkpoint collector`. What the guard was shown is what the collector ends up with."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.codes.community_pass import issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.keys import KeyDirectory
from gateway.core.values import CodeStatus
from harness.broker import Broker
from tests.support.gateway_process import (
    CheckpointProcess,
    VerdictWatcher,
    free_port,
    wait_until_serving,
    write_config,
)
from tests.web.support import PASSWORDS, set_up_accounts

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@dataclass
class Gate:
    tmp: Path
    config: Path
    db: Path
    collector_db: Path
    web_port: int
    master_fd: int
    keys: KeyDirectory
    gateway: CheckpointProcess
    collector: CheckpointProcess

    def scan(self, payload: bytes) -> None:
        os.write(self.master_fd, payload + b"\r\n")

    def new_pass(self, n: int, colour: CodeStatus = CodeStatus.GREEN) -> bytes:
        signer = self.keys.signing_key()
        now = datetime.now(UTC)
        return issue_pass(
            signing_key=signer.private_key,
            kid=signer.kid,
            issuer=signer.issuer,
            subject=f"subject{n:05d}",
            label="张*华",
            unit=f"{n % 9 + 1}-1-{n:03d}",
            colour=colour,
            issued_at=now - timedelta(days=1),
            expires_at=now + timedelta(days=30),
        ).encode()

    def start_gateway(self) -> None:
        self.gateway.start()
        wait_until_serving(self.web_port, self.gateway)


@pytest.fixture
def gate(tmp_path: Path, broker: Broker) -> Iterator[Gate]:
    master_fd, slave_fd = os.openpty()
    keys = KeyDirectory.create(
        tmp_path / "keys", issuer="community", site="xiaojiang", alg=Algorithm.EDDSA,
        now=datetime.now(UTC),
    )  # fmt: skip
    db = tmp_path / "gateway.db"
    collector_db = tmp_path / "collector.db"
    web_port = free_port()
    config = write_config(
        tmp_path / "gateway.toml",
        db=db,
        serial_device=os.ttyname(slave_fd),
        broker_port=broker.port,
        web_port=web_port,
        collector_db=collector_db,
        trust_list=keys.trust_list_path,
    )
    gate = Gate(
        tmp=tmp_path,
        config=config,
        db=db,
        collector_db=collector_db,
        web_port=web_port,
        master_fd=master_fd,
        keys=keys,
        gateway=CheckpointProcess("run", config, tmp_path / "gateway.log"),
        collector=CheckpointProcess("collector", config, tmp_path / "collector.log"),
    )
    yield gate
    gate.gateway.kill()
    gate.collector.kill()
    os.close(master_fd)
    os.close(slave_fd)


def rows(db: Path, query: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def collector_ids(gate: Gate) -> list[str]:
    if not gate.collector_db.exists():
        return []
    try:
        return [r[0] for r in rows(gate.collector_db, "SELECT id FROM entries")]
    except sqlite3.OperationalError:
        return []


def test_scans_reach_the_collector_exactly_once_and_are_synced_only_after_ack(gate: Gate) -> None:
    gate.start_gateway()
    watcher = VerdictWatcher(gate.web_port).start()
    for n in range(20):
        gate.scan(gate.new_pass(n))
        time.sleep(0.05)
    wait_for(lambda: len(watcher.shown()) == 20, 20, "20 verdicts on the guard screen")
    assert all(v["decision"] == "admit" for v in watcher.shown())
    # No collector yet: sent, but nobody acknowledged, so nothing is marked synced.
    time.sleep(1.0)
    waiting = rows(gate.db, "SELECT count(*) FROM outbox")
    assert waiting == rows(gate.db, "SELECT count(*) FROM entries")
    assert rows(gate.db, "SELECT count(*) FROM outbox") == [(20,)]

    gate.collector.start()
    wait_for(
        lambda: rows(gate.db, "SELECT count(*) FROM outbox") == [(0,)], 30, "the backlog to drain"
    )
    shown = sorted(str(v["id"]) for v in watcher.shown())
    ids = collector_ids(gate)
    assert sorted(ids) == shown  # every entry, exactly once
    assert rows(gate.db, "SELECT count(*) FROM outbox") == [(0,)]
    watcher.stop()


def test_a_guards_override_after_sync_reaches_the_collector(gate: Gate) -> None:
    gate.collector.start()
    gate.start_gateway()
    watcher = VerdictWatcher(gate.web_port).start()
    gate.scan(gate.new_pass(1, CodeStatus.RED))
    wait_for(lambda: len(watcher.shown()) == 1, 10, "the verdict")
    (denied,) = watcher.shown()
    assert denied["decision"] == "deny"
    entry_id = str(denied["id"])
    wait_for(lambda: collector_ids(gate) == [entry_id], 10, "the entry at the collector")
    watcher.stop()

    url = f"http://127.0.0.1:{gate.web_port}"
    set_up_accounts(url)
    web = httpx.Client(base_url=url)
    pin = {"pin": PASSWORDS["guard"], "name": "王师傅"}
    assert web.post("/api/auth/pin", json=pin).status_code == 200
    override = web.post(
        f"/api/passages/{entry_id}/override", json={"decision": "admit", "reason": "电话核实"}
    )
    assert override.status_code == 200, override.text

    def at_collector() -> list[tuple[object, ...]]:
        return rows(
            gate.collector_db,
            "SELECT revision, decision, override_by, override_reason FROM entries",
        )

    wait_for(lambda: at_collector() == [(1, "admit", "王师傅", "电话核实")], 10, "the override")
    wait_for(lambda: rows(gate.db, "SELECT count(*) FROM outbox") == [(0,)], 10, "its ack")


def test_sigkill_mid_stream_loses_no_shown_entry(gate: Gate) -> None:
    gate.collector.start()
    gate.start_gateway()
    watcher = VerdictWatcher(gate.web_port).start()
    shown_before: list[str] = []
    for n in range(40):
        gate.scan(gate.new_pass(n))
        time.sleep(0.02)
        if n == 25:
            gate.gateway.kill()
            shown_before = [str(v["id"]) for v in watcher.shown()]
            break
    assert shown_before, "some verdicts were shown before the crash"
    watcher.stop()
    gate.start_gateway()
    for n in range(100, 110):
        gate.scan(gate.new_pass(n))
        time.sleep(0.05)
    wait_for(
        lambda: len(rows(gate.db, "SELECT id FROM entries")) >= len(shown_before) + 10,
        20,
        "entries after the restart",
    )
    stored = {r[0] for r in rows(gate.db, "SELECT id FROM entries")}
    assert set(shown_before) <= stored
    seqs = [r[0] for r in rows(gate.db, "SELECT seq FROM entries ORDER BY seq")]
    assert len(seqs) == len(set(seqs))
    assert seqs == sorted(seqs)
    wait_for(
        lambda: rows(gate.db, "SELECT count(*) FROM outbox") == [(0,)], 30, "everything synced"
    )
    at_collector = collector_ids(gate)
    assert sorted(at_collector) == sorted(stored)
    assert rows(gate.db, "PRAGMA integrity_check") == [("ok",)]


def test_broker_outage_keeps_deciding_and_drains_after(gate: Gate, broker: Broker) -> None:
    gate.collector.start()
    gate.start_gateway()
    watcher = VerdictWatcher(gate.web_port).start()
    gate.scan(gate.new_pass(0))
    wait_for(lambda: rows(gate.db, "SELECT count(*) FROM outbox") == [(0,)] and
             len(collector_ids(gate)) == 1, 20, "first entry synced")  # fmt: skip
    broker.stop()
    for n in range(1, 16):
        gate.scan(gate.new_pass(n))
        time.sleep(0.05)
    wait_for(lambda: len(watcher.shown()) == 16, 20, "verdicts during the outage")
    assert rows(gate.db, "SELECT count(*) FROM outbox") == [(15,)]
    broker.start()
    wait_for(
        lambda: rows(gate.db, "SELECT count(*) FROM outbox") == [(0,)], 60, "the backlog to drain"
    )
    assert sorted(collector_ids(gate)) == sorted(str(v["id"]) for v in watcher.shown())
    watcher.stop()


def test_garbage_on_the_serial_line_is_recorded_as_unreadable_and_the_next_scan_works(
    gate: Gate,
) -> None:
    gate.start_gateway()
    watcher = VerdictWatcher(gate.web_port).start()
    os.write(gate.master_fd, bytes(range(1, 10)) + b"\xff\xfe\x00garbage\r\n")
    gate.scan(b"CP1:NOT-BASE45-$$$")
    gate.scan(gate.new_pass(1))
    wait_for(lambda: len(watcher.shown()) == 3, 20, "three verdicts")
    checks = [v["code_check"] for v in watcher.shown()]
    assert checks[-1] == "valid"
    assert "unreadable" in checks
    assert gate.gateway.returncode is None
    watcher.stop()
