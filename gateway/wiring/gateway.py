"""The gate's composition root: builds every part from the settings, starts them in order,
stops them in reverse. With `collector`, the only place that wires devices and sync to the
gateway."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import uvicorn

from devices.runner import DeviceRunner
from gateway import __version__
from gateway.codes.formats import code_formats
from gateway.codes.health import ColourRule
from gateway.codes.keys import read_secret
from gateway.codes.status_list import StatusStore, load_status_list
from gateway.codes.trust import TrustStore
from gateway.config import Settings
from gateway.core.codes import CodeFormat, read_code
from gateway.core.ports import Previewable
from gateway.core.values import CodeStatus, Entry
from gateway.documents.bundles import GateBundles
from gateway.documents.remote import RemoteDocuments
from gateway.runtime import credentials
from gateway.runtime.clock import SystemClock, boot_id
from gateway.runtime.sdnotify import notify, watchdog_interval_s
from gateway.service.access import AccessControl
from gateway.service.checkpoint import CheckpointService, GateIdentity
from gateway.service.events import EventBus
from gateway.service.guard_actions import GuardActions
from gateway.service.manual_entries import ManualEntries
from gateway.service.metrics import GatewayMetrics
from gateway.service.policy_holder import PolicyHolder
from gateway.service.status import GateNames, Lists, StatusService
from gateway.storage.records import Records, database_url
from gateway.storage.store import EntryStore
from gateway.web.app import WebServices, create_app
from gateway.web.logbuffer import LogRing
from gateway.web.services import DoctorCheck
from gateway.wiring.broker import mqtt_settings
from gateway.wiring.devices import Devices
from sync.mqtt import MqttClient
from sync.publisher import Publisher, gateway_client
from sync.topics import Topics

log = logging.getLogger(__name__)

# The technician page's checks: `checkpoint doctor` with the service's settings and clock.
DoctorPage = Callable[[Settings, SystemClock], Sequence[DoctorCheck]]

_HEALTH_CHECK_S = 5.0
_RETENTION_INTERVAL_S = 3600.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the gateway decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class _Parts:
    """Everything one gateway run consists of, built before anything starts."""

    store: EntryStore
    runner: DeviceRunner
    service: CheckpointService
    server: uvicorn.Server
    client: MqttClient | None
    publisher: Publisher | None
    remote: RemoteDocuments


class Gateway:
    """One gate's service: devices → checkpoint → store → sync, plus the web UI.

    Starts parts in order (database, devices, broker connection, web, workers) and stops
    them in reverse. systemd hears READY=1 once all are up, and watchdog pings only while
    every worker is alive.
    """

    def __init__(
        self,
        settings: Settings,
        devices: Devices,
        metrics: GatewayMetrics | None = None,
        *,
        doctor: DoctorPage | None = None,
    ) -> None:
        self.settings = settings
        self.devices = devices
        self.metrics = metrics or GatewayMetrics()
        self.doctor = doctor
        self.stop_event = asyncio.Event()
        self.bus = EventBus()
        self.clock = SystemClock()
        self.boot_id = boot_id()
        self.started = asyncio.Event()
        self.log_ring = LogRing(until=self.stop_event.is_set)

    async def run(self) -> None:
        """Run until `stop()` is called (or SIGTERM/SIGINT when installed by the CLI)."""
        parts = await asyncio.to_thread(self._build)
        await asyncio.to_thread(parts.remote.load_saved_policy)
        logging.getLogger().addHandler(self.log_ring)
        loop = asyncio.get_running_loop()
        parts.runner.start(
            on_scan=lambda scan: loop.call_soon_threadsafe(parts.service.on_scan, scan),
            on_reading=lambda r: loop.call_soon_threadsafe(parts.service.on_reading, r),
        )
        try:
            if parts.client is not None:
                parts.remote.subscribe(parts.client, loop)
                parts.client.start()
            async with asyncio.TaskGroup() as tasks:
                workers = [tasks.create_task(parts.server.serve(), name="web")]
                if parts.publisher is not None:
                    workers.append(
                        tasks.create_task(parts.publisher.run(self.stop_event), name="sync")
                    )
                if parts.client is not None:
                    workers.append(
                        tasks.create_task(parts.remote.run(self.stop_event), name="remote")
                    )
                workers.append(tasks.create_task(self._retention(parts), name="retention"))
                tasks.create_task(self._supervise(parts, workers), name="supervisor")
                await self.stop_event.wait()
                parts.server.should_exit = True
        finally:
            log.info("stopping: devices, passages in progress, sync, database")
            notify("STOPPING=1")
            await asyncio.to_thread(parts.runner.stop, 5.0)
            await parts.service.drain()
            if parts.client is not None:
                parts.client.stop()
            parts.store.close()
            logging.getLogger().removeHandler(self.log_ring)

    def stop(self) -> None:
        self.stop_event.set()

    def _build(self) -> _Parts:
        """Construct every part and connect them; nothing starts here."""
        settings, clock = self.settings, self.clock
        store = EntryStore.open(settings.storage.path)
        lists = Lists(
            TrustStore.load(settings.storage.trust_list_path()),
            StatusStore(load_status_list(settings.storage.status_list_path())),
        )
        runner = DeviceRunner(self.devices.scanners, self.devices.thermals)
        topics = Topics(settings.mqtt.topic_prefix, settings.gate.site, settings.gate.id)
        client = (
            gateway_client(mqtt_settings(settings.mqtt), topics) if settings.mqtt.enabled else None
        )
        policy = PolicyHolder(settings.policy_rules)
        status = StatusService(
            names=GateNames(settings.gate.site, settings.gate.id, settings.gate.name),
            store=store,
            devices=runner.health,
            thermal_names=frozenset(source.name for source in self.devices.thermals),
            broker=client,
            clock=clock,
            lists=lists,
            policy=policy,
            database_dir=settings.storage.path.parent,
        )
        publisher = (
            Publisher(
                store,
                client,
                topics,
                batch_size=settings.mqtt.batch_size,
                window=settings.mqtt.window,
                ack_timeout_s=settings.mqtt.ack_timeout_s,
                version=__version__,
                devices=runner.health,
                health=status.figures,
                boot_id=self.boot_id,
            )
            if client is not None
            else None
        )
        hooks = RecordHooks(self.metrics, clock, publisher)
        identity = GateIdentity(settings.gate.site, settings.gate.id, self.boot_id)
        formats = code_formats_from_settings(settings, lists.trust)
        service = CheckpointService(
            store=store,
            formats=formats,
            policy=policy,
            identity=identity,
            clock=clock,
            bus=self.bus,
            thermal_available=status.thermal_available,
            remeasure_wait_s=settings.policy.remeasure_wait_s,
            on_recorded=hooks.recorded,
            status_list=lambda: lists.status.current,
            lists_issued_at=lists.issued_at,
        )
        status.attach(service)
        remote = RemoteDocuments(
            settings=settings,
            topics=topics,
            trust=lists.trust,
            trust_path=settings.storage.trust_list_path(),
            status=lists.status,
            status_path=settings.storage.status_list_path(),
            policy=policy,
            policy_path=settings.storage.policy_path(),
            on_policy_change=publisher.refresh_state if publisher else lambda: None,
        )
        web = create_app(
            WebServices(
                bus=self.bus,
                status=status.current,
                recent=lambda limit: store.recent(limit=limit),
                metrics=functools.partial(_metrics_page, self.metrics, status, clock),
                stopping=self.stop_event,
                access=AccessControl(
                    # Sign-ins and audit rows write: take the write lock up front.
                    transaction=functools.partial(store.transaction, write=True),
                    now=clock.now,
                ),
                guard_actions=GuardActions(
                    store=store, policy=policy, bus=self.bus, on_changed=hooks.changed
                ),
                manual=ManualEntries(
                    store=store,
                    policy=policy,
                    identity=identity,
                    clock=clock,
                    bus=self.bus,
                    on_recorded=hooks.recorded,
                    on_changed=hooks.changed,
                ),
                records=Records(database_url(settings.storage.path)),
                thermal_names=status.thermal_names,
                previews={
                    source.name: source.preview_jpeg
                    for source in (*self.devices.scanners, *self.devices.thermals)
                    if isinstance(source, Previewable)
                },
                settings=lambda: settings.model_dump(mode="json"),
                doctor=functools.partial(self.doctor, settings, clock) if self.doctor else None,
                logs=self.log_ring,
                code_holder=functools.partial(_code_holder, formats, clock),
                hand_carry=GateBundles(
                    settings=settings, store=store, remote=remote, now=clock.now
                ),
                kiosk_localhost=settings.web.kiosk_localhost,
            )
        )
        server = _Server(
            uvicorn.Config(
                web,
                host=settings.web.host,
                port=settings.web.port,
                log_level="warning",
                lifespan="off",
            )
        )
        return _Parts(store, runner, service, server, client, publisher, remote)

    async def _supervise(self, parts: _Parts, workers: list[asyncio.Task[None]]) -> None:
        """Announce readiness once the web server is up, then ping the watchdog while healthy."""
        while not parts.server.started:
            if self.stop_event.is_set() or any(w.done() for w in workers):
                if not self.stop_event.is_set():
                    log.error("a worker ended before the gateway was ready; stopping")
                    self.stop()
                return
            await asyncio.sleep(0.05)
        log.info("gateway ready: guard screen at http://%s", self.settings.web.listen)
        self.started.set()
        notify("READY=1")
        interval = watchdog_interval_s() or _HEALTH_CHECK_S
        while not self.stop_event.is_set():
            finished = [w.get_name() for w in workers if w.done()]
            if finished:
                log.error("worker(s) %s stopped unexpectedly; stopping the gateway", finished)
                self.stop()
                return
            notify("WATCHDOG=1")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), interval)

    async def _retention(self, parts: _Parts) -> None:
        """Purge synced entries past retention now and then; unsynced ones are never purged."""
        while not self.stop_event.is_set():
            await asyncio.to_thread(
                parts.store.purge,
                now=self.clock.now(),
                retention_days=self.settings.storage.retention_days,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), _RETENTION_INTERVAL_S)


def code_formats_from_settings(settings: Settings, trust: TrustStore) -> list[CodeFormat]:
    """Community pass, EU DCC and SMART Health Card verifiers with the site's secret and colours."""
    secret_file = credentials.site_secret_file(settings.codes.site_secret_file)
    secret = read_secret(secret_file) if secret_file else None
    colours = settings.codes.colours
    return code_formats(
        trust,
        secret=secret,
        colours=ColourRule(
            vaccination=CodeStatus(colours.vaccination),
            test=CodeStatus(colours.test),
            recovery=CodeStatus(colours.recovery),
            other=CodeStatus(colours.other),
        ),
    )


class RecordHooks:
    """What follows a recorded or amended entry: the metrics count it, the publisher sends it."""

    def __init__(self, metrics: GatewayMetrics, clock: SystemClock, publisher: Publisher | None):
        self._metrics = metrics
        self._clock = clock
        self._publisher = publisher

    def recorded(self, entry: Entry) -> None:
        self._metrics.recorded(entry, self._clock.monotonic_ns())
        if self._publisher is not None:
            self._publisher.notify()

    def changed(self, entry: Entry) -> None:
        if self._publisher is not None:
            self._publisher.notify_amended(entry.seq)


def _metrics_page(metrics: GatewayMetrics, status: StatusService, clock: SystemClock) -> bytes:
    metrics.refresh(status.current(), clock.now())
    return metrics.render()


def _code_holder(formats: Sequence[CodeFormat], clock: SystemClock, text: str) -> str | None:
    """The pseudonym the gates store for a code's holder (None: it names nobody)."""
    return read_code(text.encode(), formats, clock.now()).subject


def install_signal_handlers(gateway: Gateway) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, gateway.stop)
