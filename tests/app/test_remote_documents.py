"""Trust lists and policies the community server keeps retained, through a real Mosquitto."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.publish as mqtt_publish
import pytest

from gateway.codes.community_pass import issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.keys import KeyDirectory
from gateway.codes.trust import load_trust_list
from gateway.core.values import CodeStatus
from harness.broker import Broker
from tests.support.gateway_process import (
    CheckpointProcess,
    VerdictWatcher,
    free_port,
    wait_until_serving,
    write_config,
)
from tests.support.mqtt import Capture
from tests.test_end_to_end import wait_for

pytestmark = pytest.mark.broker
PREFIX = "checkpoint/v1/xiaojiang"


class RunningGate:
    def __init__(self, tmp_path: Path, broker: Broker) -> None:
        self.master, self.slave = os.openpty()
        self.port = free_port()
        self.trust_path = tmp_path / "trust.json"
        self.config = write_config(
            tmp_path / "g.toml", db=tmp_path / "g.db", serial_device=os.ttyname(self.slave),
            broker_port=broker.port, web_port=self.port, trust_list=self.trust_path,
        )  # fmt: skip
        self.process = CheckpointProcess("run", self.config, tmp_path / "g.log")
        self.broker = broker
        self.watcher: VerdictWatcher | None = None

    def start(self) -> None:
        self.process.start()
        wait_until_serving(self.port, self.process)
        self.watcher = VerdictWatcher(self.port).start()

    def verdict_for(self, payload: bytes) -> dict[str, object]:
        assert self.watcher is not None
        before = len(self.watcher.shown())
        os.write(self.master, payload + b"\r")
        wait_for(lambda: len(self.watcher.shown()) > before, 10, "a verdict")  # type: ignore[union-attr]
        return self.watcher.shown()[-1]

    def status(self) -> dict[str, object]:
        response = httpx.get(f"http://127.0.0.1:{self.port}/api/status", timeout=5)
        return dict(response.json())

    def retain(self, topic: str, payload: bytes) -> None:
        mqtt_publish.single(
            topic, payload, qos=1, retain=True, hostname="127.0.0.1", port=self.broker.port
        )

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        self.process.kill()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def gate(tmp_path: Path, broker: Broker) -> object:
    running = RunningGate(tmp_path, broker)
    yield running
    running.close()


def retained_state(gate: RunningGate) -> dict[str, Any]:
    """The gate's retained state message, as the community server receives it now.

    The gateway republishes its state on connect and every 30 s; restarting the sync
    connection is not needed: a fresh subscriber gets the retained copy, so wait until it
    carries the rejection.
    """
    capture = Capture(gate.broker.port, f"{PREFIX}/north-1/state")
    try:
        wait_for(lambda: bool(capture.messages), 10, "the retained state")
        return dict(json.loads(capture.messages[-1].payload))
    finally:
        capture.close()


def a_pass(keys: KeyDirectory, n: int) -> bytes:
    signer = keys.signing_key()
    now = datetime.now(UTC)
    return issue_pass(
        signing_key=signer.private_key, kid=signer.kid, issuer=signer.issuer,
        subject=f"subject{n}", label="李*", unit="1-1-101", colour=CodeStatus.GREEN,
        issued_at=now - timedelta(hours=1), expires_at=now + timedelta(days=1),
    ).encode()  # fmt: skip


def test_trust_list_arrives_survives_offline_restart_and_never_goes_back(
    tmp_path: Path, gate: RunningGate, broker: Broker
) -> None:
    keys = KeyDirectory.create(
        tmp_path / "keys", issuer="community", site="xiaojiang", alg=Algorithm.EDDSA,
        now=datetime.now(UTC),
    )  # fmt: skip
    old_list = keys.trust_list_path.read_bytes()  # version 1: the first key only
    gate.start()
    assert gate.verdict_for(a_pass(keys, 1))["code_check"] == "unknown-issuer"

    keys.rotate(alg=Algorithm.ES256, now=datetime.now(UTC))  # version 2: both keys
    gate.retain(f"{PREFIX}/trust", keys.trust_list_path.read_bytes())
    wait_for(lambda: gate.trust_path.exists(), 10, "the trust list stored locally")
    assert gate.verdict_for(a_pass(keys, 2))["code_check"] == "valid"
    assert load_trust_list(gate.trust_path).version == 2
    status = gate.status()
    assert status["lists_outdated"] is False
    assert 0 <= float(status["lists_age_h"]) < 1  # the guard screen warns past list_max_age_h

    # An older retained list (a replay, or a stale server) does not replace the newer one.
    gate.retain(f"{PREFIX}/trust", old_list)
    time.sleep(1.0)
    assert load_trust_list(gate.trust_path).version == 2
    assert gate.verdict_for(a_pass(keys, 3))["code_check"] == "valid"

    # Offline after a restart: the stored list still verifies.
    gate.process.kill()
    broker.stop()
    gate.start()
    assert gate.verdict_for(a_pass(keys, 4))["code_check"] == "valid"


def test_remote_policy_applies_whole_and_a_bad_one_changes_nothing(gate: RunningGate) -> None:
    gate.start()
    url = b"https://health.example.gov.cn/hc?c="
    assert gate.verdict_for(url + b"1")["decision"] == "refer"

    gate.retain(f"{PREFIX}/north-1/policy", json.dumps({"unverifiable": "deny"}).encode())
    tries = iter(range(100))
    wait_for(
        lambda: gate.verdict_for(url + b"2-%d" % next(tries))["decision"] == "deny",
        10,
        "the new policy",
    )

    bad_policies = ({"unverifiable": "maybe"}, {"unverifiable": "admit", "fever_threshold": 36})
    for n, bad in enumerate(bad_policies):
        gate.retain(f"{PREFIX}/north-1/policy", json.dumps(bad).encode())
        wait_for(lambda: bool(gate.status()["policy_problem"]), 10, "the rejection reported")
        assert "policy." in str(gate.status()["policy_problem"])
        state = retained_state(gate)
        assert state["health"]["policy_source"].endswith("/policy")
        assert "policy." in state["health"]["policy_problem"]
        # Not half-applied: the valid key of the bad document did not take effect.
        assert gate.verdict_for(url + b"3-%d" % n)["decision"] == "deny"

    gate.retain(f"{PREFIX}/north-1/policy", b"not json")
    time.sleep(0.5)
    assert gate.verdict_for(url + b"4")["decision"] == "deny"


def test_status_list_arrives_and_overrides_passes(
    tmp_path: Path, gate: RunningGate, broker: Broker
) -> None:
    keys = KeyDirectory.create(
        tmp_path / "keys", issuer="community", site="xiaojiang", alg=Algorithm.EDDSA,
        now=datetime.now(UTC) - timedelta(days=1),
    )  # fmt: skip
    gate.retain(f"{PREFIX}/trust", keys.trust_list_path.read_bytes())
    gate.start()
    wait_for(lambda: gate.trust_path.exists(), 10, "the trust list")
    status = {
        "schema": 1, "version": 3, "issued_at": datetime.now(UTC).isoformat(),
        "site": "xiaojiang", "subjects": {"subject5": "red"},
    }  # fmt: skip
    gate.retain(f"{PREFIX}/status", json.dumps(status).encode())
    status_path = gate.trust_path.with_name("status.json")
    wait_for(lambda: status_path.exists(), 10, "the status list stored locally")
    verdict = gate.verdict_for(a_pass(keys, 5))
    assert (verdict["code_status"], verdict["decision"]) == ("red", "deny")
    assert "status-list" in verdict["reasons"]  # type: ignore[operator]
    assert gate.verdict_for(a_pass(keys, 6))["decision"] == "admit"

    # An older list clearing the subject is ignored.
    older = {**status, "version": 2, "subjects": {}}
    gate.retain(f"{PREFIX}/status", json.dumps(older).encode())
    time.sleep(1.0)
    assert gate.verdict_for(a_pass(keys, 5))["decision"] == "deny"

    # Offline after a restart: the stored list still applies.
    gate.process.kill()
    broker.stop()
    gate.start()
    assert gate.verdict_for(a_pass(keys, 5))["decision"] == "deny"
