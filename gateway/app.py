"""The composition root: builds every part from the settings, starts them in order, stops
them in reverse. The only place that wires devices and sync to the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import uvicorn

from devices.runner import DeviceRunner
from gateway import __version__, credentials
from gateway.clock import SystemClock, boot_id
from gateway.codes.formats import code_formats
from gateway.codes.health import ColourRule
from gateway.codes.keys import read_secret
from gateway.codes.status_list import StatusStore, load_status_list
from gateway.codes.trust import TrustStore
from gateway.config import MqttConfig, Settings
from gateway.core.codes import CodeFormat, read_code
from gateway.core.ports import Previewable, ScanSource, ThermalSource
from gateway.core.retention import disk_level
from gateway.core.values import CodeStatus, DeviceState, Entry
from gateway.device_wiring import scanner_from_config, thermal_from_config
from gateway.metrics import GatewayMetrics
from gateway.remote import RemoteDocuments
from gateway.sdnotify import notify, watchdog_interval_s
from gateway.service.checkpoint import CheckpointService, GateIdentity
from gateway.service.events import EventBus
from gateway.service.policy_holder import PolicyHolder
from gateway.service.status import GatewayStatus
from gateway.storage.store import EntryStore
from gateway.web.app import WebServices, create_app
from sync.mqtt import MqttClient, MqttSettings, Tls
from sync.publisher import Publisher, gateway_client
from sync.topics import Topics

log = logging.getLogger(__name__)

_HEALTH_CHECK_S = 5.0
_RETENTION_INTERVAL_S = 3600.0


@dataclass(frozen=True)
class Devices:
    scanners: Sequence[ScanSource] = field(default_factory=list)
    thermals: Sequence[ThermalSource] = field(default_factory=list)


class UnsupportedDevice(Exception):
    """A device configuration that cannot work (the message names the key)."""


def devices_from_settings(
    settings: Settings, *, observe_decode: Callable[[float], None] = lambda seconds: None
) -> Devices:
    """The scanners and thermal source the config file names."""
    try:
        scanners = [
            scanner_from_config(i, c, observe_decode=observe_decode)
            for i, c in enumerate(settings.scanners)
        ]
        thermal = thermal_from_config(settings.thermal)
    except ValueError as exc:
        raise UnsupportedDevice(str(exc)) from None
    return Devices(scanners=scanners, thermals=[thermal] if thermal else [])


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
    policy: PolicyHolder
    metrics: GatewayMetrics
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
        self, settings: Settings, devices: Devices, metrics: GatewayMetrics | None = None
    ) -> None:
        self.settings = settings
        self.devices = devices
        self.metrics = metrics or GatewayMetrics()
        self.stop_event = asyncio.Event()
        self.bus = EventBus()
        self.clock = SystemClock()
        self.boot_id = boot_id()
        self.started = asyncio.Event()

    async def run(self) -> None:
        """Run until `stop()` is called (or SIGTERM/SIGINT when installed by the CLI)."""
        parts = await asyncio.to_thread(self._build)
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

    def stop(self) -> None:
        self.stop_event.set()

    def _build(self) -> _Parts:
        from gateway.bundles import GateBundles
        from gateway.export import database_url
        from gateway.service.guard_actions import GuardActions
        from gateway.service.manual_entries import ManualEntries
        from gateway.web.access import AccessControl
        from gateway.web.logbuffer import LogRing
        from gateway.web.records import Records
        from gateway.web.services import DoctorCheck

        settings = self.settings
        log_ring = LogRing(until=self.stop_event.is_set)
        logging.getLogger().addHandler(log_ring)
        store = EntryStore.open(settings.storage.path)
        trust = TrustStore.load(settings.storage.trust_list_path())
        status_list = StatusStore(load_status_list(settings.storage.status_list_path()))
        runner = DeviceRunner(self.devices.scanners, self.devices.thermals)
        topics = Topics(settings.mqtt.topic_prefix, settings.gate.site, settings.gate.id)
        client = self._mqtt_client(topics) if settings.mqtt.enabled else None
        policy = PolicyHolder(settings.policy_rules)
        metrics = self.metrics
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
                health=lambda: health_figures(status()),
                boot_id=self.boot_id,
            )
            if client is not None
            else None
        )
        thermal_names = {source.name for source in self.devices.thermals}

        def on_recorded(entry: Entry) -> None:
            metrics.recorded(entry, self.clock.monotonic_ns())
            if publisher is not None:
                publisher.notify()

        def on_changed(entry: Entry) -> None:
            if publisher is not None:
                publisher.notify_amended(entry.seq)

        identity = GateIdentity(settings.gate.site, settings.gate.id, self.boot_id)
        formats = code_formats_from_settings(settings, trust)
        service = CheckpointService(
            store=store,
            formats=formats,
            policy=policy,
            identity=identity,
            clock=self.clock,
            bus=self.bus,
            thermal_available=lambda: any(
                h.state is not DeviceState.DOWN for h in runner.health() if h.name in thermal_names
            ),
            remeasure_wait_s=settings.policy.remeasure_wait_s,
            on_recorded=on_recorded,
            status_list=lambda: status_list.current,
            lists_issued_at=lambda: lists_issued_at(trust, status_list),
        )
        remote = RemoteDocuments(
            settings=settings,
            topics=topics,
            trust=trust,
            trust_path=settings.storage.trust_list_path(),
            status=status_list,
            status_path=settings.storage.status_list_path(),
            policy=policy,
            policy_path=settings.storage.policy_path(),
            on_policy_change=publisher.refresh_state if publisher else lambda: None,
        )
        remote.load_saved_policy()

        def status() -> GatewayStatus:
            backlog = store.backlog()
            disk = shutil.disk_usage(settings.storage.path.parent)
            integrity = store.integrity
            issued = lists_issued_at(trust, status_list)
            lists_age_h = (
                (self.clock.now() - issued).total_seconds() / 3600 if issued is not None else None
            )
            return GatewayStatus(
                site=settings.gate.site,
                gate=settings.gate.id,
                gate_name=settings.gate.name,
                devices=tuple(runner.health()),
                mqtt_enabled=client is not None,
                mqtt_connected=client is not None and client.connected,
                backlog=backlog.count,
                oldest_unsynced=backlog.oldest,
                unrecorded=service.unrecorded_count,
                clock_synced=self.clock.synchronised(),
                disk_free_bytes=disk.free,
                disk_level=disk_level(disk.used, disk.total),
                database_problem=(
                    ""
                    if integrity.ok
                    else f"damaged database kept as {integrity.quarantined}; "
                    f"{integrity.salvaged} entries recovered"
                ),
                lists_age_h=lists_age_h,
                lists_outdated=lists_age_h is not None and lists_age_h > policy().list_max_age_h,
                policy_source=policy.source,
                policy_problem=policy.problem,
            )

        def run_doctor_checks() -> list[DoctorCheck]:
            # `checkpoint doctor` without re-reading the config; devices as this service
            # reports them. Short timeouts: a technician is waiting at the page.
            from gateway import doctor

            findings = [
                *doctor.check_devices(settings, timeout_s=3.0),
                doctor.check_disk(settings.storage.path),
                doctor.check_database(settings.storage.path),
                doctor.check_clock(self.clock),
                *doctor.check_sync(settings, timeout_s=3.0),
            ]
            return [DoctorCheck(f.check, f.status.value, f.detail, f.advice) for f in findings]

        def render_metrics() -> bytes:
            metrics.refresh(status(), self.clock.now())
            return metrics.render()

        web = create_app(
            WebServices(
                bus=self.bus,
                status=status,
                recent=lambda limit: store.recent(limit=limit),
                metrics=render_metrics,
                stopping=self.stop_event,
                access=AccessControl(
                    # Sign-ins and audit rows write: take the write lock up front.
                    transaction=functools.partial(store.transaction, write=True),
                    now=self.clock.now,
                ),
                guard_actions=GuardActions(
                    store=store, policy=policy, bus=self.bus, on_changed=on_changed
                ),
                manual=ManualEntries(
                    store=store,
                    policy=policy,
                    identity=identity,
                    clock=self.clock,
                    bus=self.bus,
                    on_recorded=on_recorded,
                    on_changed=on_changed,
                ),
                records=Records(database_url(settings.storage.path)),
                thermal_names=frozenset(thermal_names),
                previews={
                    source.name: source.preview_jpeg
                    for source in (*self.devices.scanners, *self.devices.thermals)
                    if isinstance(source, Previewable)
                },
                settings=lambda: settings.model_dump(mode="json"),
                doctor=run_doctor_checks,
                logs=log_ring,
                code_holder=lambda text: (
                    read_code(text.encode(), formats, self.clock.now()).subject
                ),
                hand_carry=GateBundles(
                    settings=settings, store=store, remote=remote, now=self.clock.now
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
        return _Parts(store, runner, service, policy, metrics, server, client, publisher, remote)

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

    def _mqtt_client(self, topics: Topics) -> MqttClient:
        return gateway_client(mqtt_settings(self.settings.mqtt), topics)


def mqtt_settings(mqtt: MqttConfig) -> MqttSettings:
    """The broker connection the config describes (password from systemd if not in the file)."""
    return MqttSettings(
        host=mqtt.host,
        port=mqtt.port,
        keepalive_s=mqtt.keepalive_s,
        username=mqtt.username,
        password=credentials.mqtt_password(mqtt.password),
        tls=Tls(ca=mqtt.tls_ca, cert=mqtt.tls_cert, key=mqtt.tls_key) if mqtt.tls_enabled else None,
    )


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


def health_figures(status: GatewayStatus) -> dict[str, object]:
    """The health figures the retained `state` message carries (those of /metrics)."""
    return {
        "disk_free_bytes": status.disk_free_bytes,
        "disk_level": status.disk_level.value,
        "unrecorded": status.unrecorded,
        "clock_synced": status.clock_synced,
        "policy_source": status.policy_source,
        "policy_problem": status.policy_problem,
    }


def lists_issued_at(trust: TrustStore, status: StatusStore) -> datetime | None:
    """When the oldest list in use was issued (a site without a status list uses none)."""
    times = [trust.current.issued_at]
    if status.current.version > 0:
        times.append(status.current.issued_at)
    known = [t for t in times if t is not None]
    return min(known) if len(known) == len(times) else None


def install_signal_handlers(gateway: Gateway) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, gateway.stop)
