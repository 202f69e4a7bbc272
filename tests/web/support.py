"""The web app in-process on a real SQLite store, for API tests without a browser."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.core.policy import Policy
from gateway.core.retention import DiskLevel
from gateway.core.values import DeviceHealth, DeviceState
from gateway.service.access import AccessControl
from gateway.service.checkpoint import GateIdentity
from gateway.service.events import EventBus
from gateway.service.guard_actions import GuardActions
from gateway.service.manual_entries import ManualEntries
from gateway.service.status import GatewayStatus
from gateway.service.throttle import LoginThrottle
from gateway.storage.records import Records, database_url
from gateway.storage.store import EntryStore
from gateway.web.app import WebServices, create_app
from gateway.web.logbuffer import LogRing

LOCAL = ("127.0.0.1", 40000)
REMOTE = ("192.0.2.7", 40000)  # TEST-NET-1: never a real peer, only a label here
PASSWORDS = {"manager": "manager-secret", "technician": "technician-secret", "guard": "2468"}
# Cheap argon2 parameters: the same code path, fast enough for many sign-ins in tests.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def set_up_accounts(base_url: str) -> None:
    """The first-run setup of a running gateway, from this computer, with `PASSWORDS`."""
    response = httpx.post(
        f"{base_url}/api/auth/setup",
        json={
            "manager": "manager",
            "manager_password": PASSWORDS["manager"],
            "technician": "technician",
            "technician_password": PASSWORDS["technician"],
            "guard_pin": PASSWORDS["guard"],
        },
    )
    assert response.status_code == 204, response.text


class StepClock:
    """Wall time that stays put unless moved; monotonic time that always advances."""

    def __init__(self, now: datetime) -> None:
        self.current = now
        self._ticks = itertools.count(1)

    def now(self) -> datetime:
        return self.current

    def monotonic_ns(self) -> int:
        return next(self._ticks) * 1_000_000

    def synchronised(self) -> bool:
        return True


@dataclass
class InProcess:
    app: FastAPI
    store: EntryStore
    services: WebServices
    clock: StepClock
    logs: LogRing

    def client(self, peer: tuple[str, int] = LOCAL) -> TestClient:
        return TestClient(self.app, client=peer)

    def set_up(self) -> None:
        self.services.access.set_up(
            manager="manager",
            manager_password=PASSWORDS["manager"],
            technician="technician",
            technician_password=PASSWORDS["technician"],
            guard_pin=PASSWORDS["guard"],
        )


def build(
    tmp_path: Path,
    *,
    now: datetime | None = None,
    previews: Mapping[str, Callable[[], bytes | None]] | None = None,
) -> InProcess:
    store = EntryStore.open(tmp_path / "gateway.db")
    clock = StepClock(now or datetime.now(UTC))
    bus = EventBus()
    logs = LogRing()
    identity = GateIdentity("xiaojiang", "north-1", "boot-1")

    def status() -> GatewayStatus:
        backlog = store.backlog()
        return GatewayStatus(
            site="xiaojiang",
            gate="north-1",
            gate_name="北门",
            devices=(DeviceHealth("scanner-1", "serial", DeviceState.UP),),
            mqtt_enabled=False,
            mqtt_connected=False,
            backlog=backlog.count,
            oldest_unsynced=backlog.oldest,
            unrecorded=0,
            clock_synced=True,
            disk_free_bytes=shutil.disk_usage(tmp_path).free,
            disk_level=DiskLevel.OK,
            database_problem="",
            lists_age_h=None,
            lists_outdated=False,
            policy_source="config",
            policy_problem="",
        )

    services = WebServices(
        bus=bus,
        status=status,
        recent=lambda limit: store.recent(limit=limit),
        metrics=lambda: b"",
        stopping=asyncio.Event(),
        access=AccessControl(
            transaction=store.transaction,
            now=clock.now,
            hasher=FAST_HASHER,
            throttle=LoginThrottle(limit=5, window_s=300),
        ),
        guard_actions=GuardActions(store=store, policy=Policy, bus=bus),
        manual=ManualEntries(store=store, policy=Policy, identity=identity, clock=clock, bus=bus),
        records=Records(database_url(tmp_path / "gateway.db")),
        settings=lambda: {
            "mqtt": {"host": "broker", "password": "hunter2", "tls_key": None},
            "scanners": [{"kind": "camera", "device": "rtsp://cam:hunter2@192.0.2.9/live"}],
        },
        logs=logs,
        previews=previews or {},
    )
    return InProcess(create_app(services), store, services, clock, logs)
