"""A gateway process that records passages in a loop: the real checkpoint service, entry store
and publisher, with scans made up instead of read from a device.

    python -m tests.sync.recording_gateway --db PATH --port PORT --target N [options]

It records until the store holds `--target` entries (counting those of earlier runs), keeps
syncing until SIGTERM, and writes its progress as JSON to `--status` (atomically) every
`STATUS_INTERVAL_S`: entries recorded, the longest a scan took and the longest the event loop
was late, and whether it is connected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.config import PolicyConfig
from gateway.core.values import Direction, Scan
from gateway.service.checkpoint import CheckpointService, GateIdentity
from gateway.service.events import EventBus
from gateway.storage.store import EntryStore
from sync.mqtt import MqttSettings
from sync.publisher import Publisher, gateway_client
from sync.topics import Topics
from tests.sync.conftest import GATE, PREFIX, SITE

STATUS_INTERVAL_S = 0.1
BOOT_ID = "5f3b2a7e-0c41-4d55-9a8e-2b6f4f1c9d10"


class SteppedClock:
    """Wall time that moves `step` per scan from `start` (a long outage in little time), or
    the real time; monotonic time is real either way."""

    def __init__(self, start: datetime | None, step: timedelta, synchronised: bool) -> None:
        self._start = start
        self._step = step
        self._scans = 0
        self._synchronised = synchronised

    def tick(self) -> None:
        self._scans += 1

    def now(self) -> datetime:
        if self._start is None:
            return datetime.now(UTC)
        return self._start + self._step * self._scans

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def synchronised(self) -> bool:
        return self._synchronised


@dataclass
class Progress:
    recorded: int = 0
    max_scan_s: float = 0.0
    max_lag_s: float = 0.0


async def main(args: argparse.Namespace) -> None:
    store = EntryStore.open(args.db)
    clock = SteppedClock(args.clock_start, timedelta(seconds=args.clock_step_s), True)
    topics = Topics(prefix=PREFIX, site=SITE, gate=GATE)
    client = gateway_client(
        MqttSettings(
            host="127.0.0.1",
            port=args.port,
            keepalive_s=args.keepalive,
            reconnect_max_s=args.reconnect_max,
        ),
        topics,
    )
    publisher = Publisher(
        store,
        client,
        topics,
        version="test",
        batch_size=args.batch_size,
        window=args.window,
        ack_timeout_s=args.ack_timeout,
        clock=clock.now,
        boot_id=BOOT_ID,
    )
    service = CheckpointService(
        store=store,
        formats=[],
        policy=lambda: PolicyConfig(dedupe_window_s=0, passback_window_s=0).to_policy(37.3),
        identity=GateIdentity(SITE, GATE, BOOT_ID),
        clock=clock,
        bus=EventBus(),
        thermal_available=lambda: False,
        remeasure_wait_s=0,
        on_recorded=lambda entry: publisher.notify(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    progress = Progress(recorded=_highest_seq(store))
    client.start()
    sync = loop.create_task(publisher.run(stop))
    watch = loop.create_task(_watch(progress, args.status, lambda: client.connected, stop))
    try:
        while progress.recorded < args.target and not stop.is_set():
            clock.tick()
            scan = Scan(
                payload=f"TEST:{progress.recorded + 1}:{time.monotonic_ns()}".encode(),
                source="scanner-1",
                lane="1",
                direction=Direction.IN,
                monotonic_ns=clock.monotonic_ns(),
                wall_time=clock.now(),
            )
            started = time.perf_counter()
            await service.handle_scan(scan)
            progress.max_scan_s = max(progress.max_scan_s, time.perf_counter() - started)
            progress.recorded += 1
            if args.interval > 0:
                await asyncio.sleep(args.interval)
        await stop.wait()
    finally:
        await sync
        await watch
        client.stop()
        store.close()


async def _watch(
    progress: Progress, path: Path | None, connected: Callable[[], bool], stop: asyncio.Event
) -> None:
    """Measure how late the event loop runs; write the progress file now and then."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + STATUS_INTERVAL_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STATUS_INTERVAL_S)
        progress.max_lag_s = max(progress.max_lag_s, loop.time() - due)
        if path is not None:
            document = {
                "recorded": progress.recorded,
                "max_scan_s": progress.max_scan_s,
                "max_lag_s": progress.max_lag_s,
                "connected": connected(),
            }
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_text(json.dumps(document))
            os.replace(temporary, path)


def _highest_seq(store: EntryStore) -> int:
    latest = store.recent(limit=1)
    return latest[0].seq if latest else 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--status", type=Path)
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between scans")
    parser.add_argument("--clock-start", type=datetime.fromisoformat)
    parser.add_argument("--clock-step-s", type=float, default=0.0)
    parser.add_argument("--keepalive", type=int, default=5)
    parser.add_argument("--reconnect-max", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--ack-timeout", type=float, default=2.0)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_arguments()))
