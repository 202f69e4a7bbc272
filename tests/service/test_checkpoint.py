"""The checkpoint use-case on a real SQLite store, fed values as the device threads would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, text

from gateway.core.policy import Policy
from gateway.core.values import (
    CodeCheck,
    Decision,
    Direction,
    ReadingQuality,
    Scan,
    ThermalReading,
)
from gateway.service.checkpoint import CheckpointService, GateIdentity
from gateway.service.events import EventBus, PassageEvent
from gateway.storage.store import EntryStore

POLICY = Policy(pairing_window_s=0.5, dedupe_window_s=3.0)


class TestClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def synchronised(self) -> bool:
        return True


def scan(payload: bytes = b"https://health.example/code/123") -> Scan:
    return Scan(payload, "s1", "1", Direction.IN, time.monotonic_ns(), datetime.now(UTC))


def reading(celsius: float) -> ThermalReading:
    return ThermalReading(
        celsius, "ir", ReadingQuality.GOOD, time.monotonic_ns(), datetime.now(UTC)
    )


def run_with_service(
    tmp_path: Path,
    body: Callable[[CheckpointService, list[PassageEvent], EntryStore], Awaitable[None]],
    *,
    thermal: bool = True,
    policy: Policy = POLICY,
    store: EntryStore | None = None,
) -> None:
    store = store or EntryStore.open(tmp_path / "g.db")
    events: list[PassageEvent] = []

    async def main() -> None:
        bus = EventBus()
        service = CheckpointService(
            store=store,
            formats=[],
            policy=lambda: policy,
            identity=GateIdentity("xiaojiang", "north-1", "boot-1"),
            clock=TestClock(),
            bus=bus,
            thermal_available=lambda: thermal,
            remeasure_wait_s=2.0,
        )
        async with bus.subscribe() as queue:

            async def collect() -> None:
                while True:
                    events.append(await queue.get())

            collector = asyncio.create_task(collect())
            await body(service, events, store)
            await service.drain()
            await asyncio.sleep(0.05)
            collector.cancel()

    asyncio.run(main())


def test_scan_with_reading_is_recorded_before_it_is_shown(tmp_path: Path) -> None:
    async def body(
        service: CheckpointService, events: list[PassageEvent], store: EntryStore
    ) -> None:
        service.on_reading(reading(36.6))
        entry = await service.handle_scan(scan())
        assert entry.temperature_c == 36.6
        assert entry.code_check is CodeCheck.UNVERIFIABLE
        assert entry.decision is Decision.REFER
        (stored,) = store.recent(limit=5)
        assert stored.id == entry.id
        assert stored.seq == 1
        assert stored.payload_digest is not None and len(stored.payload_digest) == 64

    run_with_service(tmp_path, body)


def test_the_event_carries_the_committed_entry(tmp_path: Path) -> None:
    async def body(
        service: CheckpointService, events: list[PassageEvent], store: EntryStore
    ) -> None:
        service.on_reading(reading(36.6))
        await service.handle_scan(scan())
        await asyncio.sleep(0.05)
        (shown,) = events
        assert shown.recorded
        assert store.recent(limit=1)[0].id == shown.entry.id

    run_with_service(tmp_path, body)


def test_fever_is_remeasured_then_denied(tmp_path: Path) -> None:
    async def body(
        service: CheckpointService, events: list[PassageEvent], store: EntryStore
    ) -> None:
        service.on_reading(reading(38.2))
        task = asyncio.create_task(service.handle_scan(scan()))
        await asyncio.sleep(0.2)
        assert [e.kind for e in events] == ["remeasure"]
        assert store.recent(limit=1) == []
        service.on_reading(reading(38.4))
        entry = await task
        assert entry.decision is Decision.DENY
        assert entry.remeasured
        assert entry.temperature_c == 38.4
        assert "fever" in entry.reasons

    run_with_service(tmp_path, body)


def test_fever_without_second_reading_stays_refer(tmp_path: Path) -> None:
    async def body(
        service: CheckpointService, events: list[PassageEvent], store: EntryStore
    ) -> None:
        service.on_reading(reading(38.2))
        entry = await service.handle_scan(scan())
        assert entry.decision is Decision.REFER
        assert not entry.remeasured
        assert "fever-remeasure" in entry.reasons

    run_with_service(tmp_path, body)


def test_no_thermal_source_follows_policy(tmp_path: Path) -> None:
    async def body(
        service: CheckpointService, events: list[PassageEvent], store: EntryStore
    ) -> None:
        entry = await service.handle_scan(scan())
        assert entry.temperature_c is None
        assert "thermal-unavailable" in entry.reasons

    run_with_service(tmp_path, body, thermal=False)


def test_person_without_code_is_recorded_once(tmp_path: Path) -> None:
    async def body(
        service: CheckpointService, events: list[PassageEvent], store: EntryStore
    ) -> None:
        service.on_reading(reading(36.5))
        await asyncio.sleep(0.1)
        service.on_reading(reading(36.7))
        await asyncio.sleep(0.8)
        await service.drain()
        (entry,) = store.recent(limit=5)
        assert entry.lane == "ir"  # the thermal source that saw the person
        assert entry.code_check is CodeCheck.NO_CODE
        assert entry.decision is Decision.REFER
        assert entry.temperature_c == 36.7

    run_with_service(tmp_path, body)


def test_repeated_read_of_one_code_is_one_entry(tmp_path: Path) -> None:
    async def body(
        service: CheckpointService, events: list[PassageEvent], store: EntryStore
    ) -> None:
        for _ in range(3):
            service.on_scan(scan(b"CP1:SAME"))
        service.on_scan(scan(b"CP1:OTHER"))
        await asyncio.sleep(0.1)
        await service.drain()
        assert len(store.recent(limit=10)) == 2

    run_with_service(tmp_path, body, thermal=False)


def test_full_disk_shows_not_recorded_and_writes_once_space_returns(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    limit = {"pages": 0}

    def cap_pages(dbapi_connection: object, _record: object) -> None:
        # SQLite's own size cap: past it, writes fail with SQLITE_FULL exactly as on a full disk.
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        if limit["pages"]:
            cursor.execute(f"PRAGMA max_page_count={limit['pages']}")
        cursor.close()

    with store.engine.connect() as connection:
        pages = connection.execute(text("PRAGMA page_count")).scalar_one()
    limit["pages"] = int(pages)
    store.engine.dispose()
    event.listen(store.engine, "connect", cap_pages)

    async def body(
        service: CheckpointService, events: list[PassageEvent], store: EntryStore
    ) -> None:
        for i in range(30):
            service.on_scan(scan(f"https://health.example/{i:04d}".encode() * 8))
        await asyncio.sleep(0.5)
        assert service.unrecorded_count > 0
        assert any(not e.recorded for e in events)
        limit["pages"] = 0  # space returns
        store.engine.dispose()
        deadline = time.monotonic() + 10
        while service.unrecorded_count and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert service.unrecorded_count == 0
        assert len(store.recent(limit=100)) == 30
        assert [e.seq for e in store.pending(after_seq=0, limit=100)] == list(range(1, 31))

    run_with_service(tmp_path, body, thermal=False, store=store)


def test_readings_spent_on_one_person_are_not_paired_with_the_next(tmp_path: Path) -> None:
    async def body(
        service: CheckpointService, events: list[PassageEvent], store: EntryStore
    ) -> None:
        service.on_reading(reading(38.2))
        first = asyncio.create_task(service.handle_scan(scan(b"https://a.example/1")))
        await asyncio.sleep(0.05)
        service.on_reading(reading(38.6))
        assert (await first).decision is Decision.DENY
        service.on_reading(reading(37.6))  # the next person: one high reading, not yet a fever
        second = await service.handle_scan(scan(b"https://a.example/2"))
        assert second.decision is Decision.REFER
        assert "fever-remeasure" in second.reasons

    run_with_service(tmp_path, body)
