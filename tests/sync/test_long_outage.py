"""72 hours without a broker, simulated: the gate's clock moves 5.184 s per passage while 50,000
passages are recorded as fast as the gateway can. The backlog must live on disk, not in
memory; scanning must never wait for the network; afterwards everything arrives with no
more than the window in flight."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.broker import Broker, mosquitto_available
from harness.sync import collected_ids
from harness.waiting import wait_until
from sync.batch import decode_batch
from sync.collector import Collector
from sync.topics import Topics
from sync.wire import decode_ack
from tests.support.mqtt import Capture
from tests.sync.conftest import start_collector
from tests.sync.recorder import RecordingGateway, backlog, query

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

ENTRIES = 50_000
OUTAGE = timedelta(hours=72)
START = datetime(2024, 5, 1, tzinfo=UTC)
BATCH_SIZE = 100
WINDOW = 8
MEMORY_BUDGET_KB = 50 * 1024


@pytest.fixture
def idle_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker with its port chosen but not started: the outage."""
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed (scripts/test.sh installs it)")
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = Broker(directory)
    yield broker
    broker.stop()


def most_in_flight(capture: Capture, topics: Topics) -> int:
    """The most entries sent and not yet acknowledged at any moment, as the broker saw them."""
    outstanding: set[str] = set()
    most = 0
    for message in list(capture.messages):
        if message.topic == topics.entries:
            outstanding.update(decode_batch(message.payload).ids)
            most = max(most, len(outstanding))
        elif message.topic == topics.ack:
            outstanding.difference_update(decode_ack(message.payload).ids)
    return most


def test_72_hours_offline_with_50000_entries_keeps_memory_flat_and_drains_bounded(
    tmp_path: Path, idle_broker: Broker, topics: Topics, postgres_url: str
) -> None:
    db = tmp_path / "gateway.db"
    step = OUTAGE / ENTRIES
    gateway = RecordingGateway(
        db,
        idle_broker.port,
        ENTRIES,
        "--clock-start", START.isoformat(),
        "--clock-step-s", str(step.total_seconds()),
        "--batch-size", str(BATCH_SIZE),
        "--window", str(WINDOW),
    )  # fmt: skip
    collector: Collector | None = None
    capture: Capture | None = None
    try:
        gateway.wait_running()
        wait_until(lambda: gateway.status()["recorded"] >= 2000, what="warm-up", timeout=30)
        baseline_kb = gateway.rss_kb()
        wait_until(
            lambda: gateway.status()["recorded"] == ENTRIES, what="50,000 entries", timeout=400
        )
        grown_kb = gateway.rss_kb() - baseline_kb
        offline = gateway.status()
        assert backlog(db) == ENTRIES

        idle_broker.start()
        capture = Capture(idle_broker.port, topics.entries, topics.ack, topics.state)
        collector = start_collector(postgres_url, idle_broker)
        wait_until(lambda: backlog(db) == 0, what="the backlog to drain", timeout=120)
        gateway.stop()
    finally:
        if collector is not None:
            collector.stop()
        if capture is not None:
            capture.close()
        if gateway.process.poll() is None:
            gateway.kill()

    assert grown_kb < MEMORY_BUDGET_KB, f"memory grew by {grown_kb} kB while offline"
    # Scanning never waited for the network: no scan, and no turn of the loop, took long.
    assert offline["max_scan_s"] < 1.0 and offline["max_lag_s"] < 1.0, offline
    assert offline["connected"] is False
    stored = collected_ids(postgres_url)
    assert len(stored) == len(set(stored)) == ENTRIES
    assert set(stored) == {row[0] for row in query(db, "SELECT id FROM entries")}
    assert most_in_flight(capture, topics) <= WINDOW * BATCH_SIZE
    first_state = json.loads(capture.on(topics.state)[0].payload)
    assert first_state["backlog"] == ENTRIES
    assert datetime.fromisoformat(first_state["oldest_unsynced"]) == START + step
