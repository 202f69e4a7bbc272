"""Crashes of the gateway and the broker while entries are recorded: nothing is lost, nothing
is stored twice. The gateway is a real process (checkpoint service, SQLite store, publisher)
recording made-up scans; the broker is Mosquitto; the collector stores into PostgreSQL."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.broker import Broker
from harness.sync import collected_ids
from harness.waiting import wait_until
from sync.collector import Collector
from tests.sync.conftest import start_collector
from tests.sync.recorder import RecordingGateway, backlog, query

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

ENTRIES = 1000
GATEWAY_KILLS = 20
# Which gateway run is accompanied by which broker fault.
BROKER_FAULTS = {3: "kill", 6: "stop", 9: "kill", 13: "stop", 17: "kill"}


@pytest.fixture
def collector(postgres_url: str, broker: Broker) -> Iterator[Collector]:
    running = start_collector(postgres_url, broker)
    yield running
    running.stop()


def test_sigkills_of_gateway_and_broker_lose_nothing_and_duplicate_nothing(
    tmp_path: Path,
    broker: Broker,
    postgres_url: str,
    collector: Collector,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed = random.randrange(1 << 32)
    chance = random.Random(seed)
    db = tmp_path / "gateway.db"
    options = ("--interval", "0.015", "--ack-timeout", "1.5")
    kills = broker_kills = broker_stops = 0
    for run in range(GATEWAY_KILLS):
        gateway = RecordingGateway(db, broker.port, ENTRIES, *options)
        gateway.wait_running()
        fault = BROKER_FAULTS.get(run)
        time.sleep(chance.uniform(0.0, 0.6))
        if fault is not None:
            if fault == "kill":
                broker.kill()
                broker_kills += 1
            else:
                broker.stop()
                broker_stops += 1
            time.sleep(chance.uniform(0.2, 1.0))
            broker.start()
        time.sleep(chance.uniform(0.0, 0.6))
        gateway.kill()
        kills += 1

    final = RecordingGateway(db, broker.port, ENTRIES, *options)
    wait_until(
        lambda: final.status().get("recorded") == ENTRIES and backlog(db) == 0,
        what="all entries recorded and synced",
        timeout=60,
    )
    final.stop()

    local = [row[0] for row in query(db, "SELECT id FROM entries")]
    stored = collected_ids(postgres_url)
    with capsys.disabled():
        print(
            f"\n  crash test (seed {seed}): {len(local)} entries recorded at the gate, "
            f"{kills} gateway SIGKILLs, {broker_kills} broker SIGKILLs, {broker_stops} clean "
            f"broker stops; collector rows {len(stored)}, distinct {len(set(stored))}; "
            f"entries received by the collector {collector.entries} "
            f"({collector.entries - len(stored)} resent copies absorbed)"
        )
    assert (kills, broker_kills, broker_stops) == (20, 3, 2)
    assert len(local) == ENTRIES
    assert len(stored) == len(set(stored)), "an entry stored twice"
    assert sorted(stored) == sorted(local), "an entry missing at the collector"
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT count(*) FROM outbox") == [(0,)]
