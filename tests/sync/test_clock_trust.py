"""A gate without NTP: its clock starts in 1970, later someone sets it (wrongly), later NTP
corrects it. Its entries are flagged, and the collector places them within 2 s of the truth
beside the times the gate recorded."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from gateway.config import PolicyConfig
from gateway.core.values import Direction, Scan
from gateway.service.checkpoint import CheckpointService, GateIdentity
from gateway.service.events import EventBus
from gateway.storage.store import EntryStore
from harness.broker import Broker
from harness.sync import RunningPublisher
from harness.waiting import wait_until
from sync.collector_store import ENTRIES as COLLECTED
from sync.collector_store import create_collector_engine
from sync.topics import Topics
from tests.sync.conftest import GATE, SITE, start_collector

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

BOOT_ID = "0b7f6c1e-9d2a-4c3b-8e5f-1a2b3c4d5e6f"


class GateClock:
    """The gate's wall clock: real time plus an offset someone can change; monotonic is real."""

    def __init__(self, wall: datetime) -> None:
        self.set(wall, synchronised=False)

    def set(self, wall: datetime, *, synchronised: bool) -> None:
        self._offset = wall - datetime.now(UTC)
        self._synchronised = synchronised

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def synchronised(self) -> bool:
        return self._synchronised


def scan_now(service: CheckpointService, clock: GateClock, n: int) -> tuple[str, datetime]:
    """Record one passage; returns its id and the true time it happened."""
    truth = datetime.now(UTC)
    scan = Scan(
        payload=f"VISITOR:{n}".encode(),
        source="scanner-1",
        lane="1",
        direction=Direction.IN,
        monotonic_ns=clock.monotonic_ns(),
        wall_time=clock.now(),
    )
    entry = asyncio.run(service.handle_scan(scan))
    assert entry is not None
    return entry.id, truth


def test_a_1970_clock_that_jumps_is_flagged_and_corrected_within_2_s(
    tmp_path: Path, broker: Broker, topics: Topics, postgres_url: str
) -> None:
    store = EntryStore.open(tmp_path / "gateway.db")
    clock = GateClock(datetime(1970, 1, 1, tzinfo=UTC))
    service = CheckpointService(
        store=store,
        formats=[],
        policy=lambda: PolicyConfig(dedupe_window_s=0, passback_window_s=0).to_policy(37.3),
        identity=GateIdentity(SITE, GATE, BOOT_ID),
        clock=clock,
        bus=EventBus(),
        thermal_available=lambda: False,
        remeasure_wait_s=0,
    )
    truths: dict[str, datetime] = {}
    for n in range(3):  # in 1970, offline
        entry_id, truths[entry_id] = scan_now(service, clock, n)
        time.sleep(0.4)
    clock.set(datetime(2031, 6, 1, 12, tzinfo=UTC), synchronised=False)  # set by hand
    for n in range(3, 6):
        entry_id, truths[entry_id] = scan_now(service, clock, n)
        time.sleep(0.4)
    unsynchronised = set(truths)
    time.sleep(1.5)  # the batch goes out well after the entries were taken

    collector = start_collector(postgres_url, broker)
    running = RunningPublisher(store, broker, topics, clock=clock.now, boot_id=BOOT_ID).start()
    try:
        wait_until(lambda: store.backlog().count == 0, what="the first entries synced")
        clock.set(datetime.now(UTC), synchronised=True)  # NTP at last
        entry_id, truths[entry_id] = scan_now(service, clock, 6)
        running.publisher.notify()
        wait_until(lambda: store.backlog().count == 0, what="the last entry synced")
    finally:
        running.stop()
        collector.stop()
        store.close()

    engine = create_collector_engine(postgres_url)
    try:
        with Session(engine) as session:
            rows = {
                row.id: row for row in session.execute(select(COLLECTED).order_by(COLLECTED.c.seq))
            }
    finally:
        engine.dispose()
    assert set(rows) == set(truths)
    for entry_id, truth in truths.items():
        row = rows[entry_id]
        if entry_id in unsynchronised:
            assert row.clock_synced is False
            assert row.occurred_at.year in (1970, 2031), "the gate's own time is kept"
            assert row.corrected_at is not None
            assert abs(row.corrected_at - truth) < timedelta(seconds=2)
        else:
            assert row.clock_synced is True
            assert row.corrected_at is None
            assert abs(row.occurred_at - truth) < timedelta(seconds=2)
    # The 1970 entries were sent with the 2031 clock: a wall-clock offset would misplace them.
    first = rows[next(iter(truths))]
    naive = first.occurred_at + (first.received_at - first.sent_at)
    assert abs(naive - truths[first.id]) > timedelta(days=365)
