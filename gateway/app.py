"""The composition root: builds every part from the settings, starts them in order, stops
them in reverse. The only place that wires devices and sync to the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import uvicorn

from devices.runner import DeviceRunner
from devices.serial_scanner import SerialScanner
from gateway import __version__
from gateway.clock import SystemClock, boot_id
from gateway.codes.community_pass import CommunityPassFormat
from gateway.codes.trust import TrustStore
from gateway.config import ScannerConfig, Settings
from gateway.core.ports import ScanSource, ThermalSource
from gateway.core.values import DeviceState
from gateway.service.checkpoint import CheckpointService, GateIdentity
from gateway.service.events import EventBus
from gateway.service.status import GatewayStatus
from gateway.storage.store import EntryStore
from gateway.web.app import WebServices, create_app
from sync.mqtt import MqttClient, MqttSettings, Tls
from sync.publisher import Publisher, gateway_client
from sync.topics import Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Devices:
    scanners: Sequence[ScanSource] = field(default_factory=list)
    thermals: Sequence[ThermalSource] = field(default_factory=list)


class UnsupportedDevice(Exception):
    """A configured device kind this build cannot drive yet."""


def devices_from_settings(settings: Settings) -> Devices:
    """The scanners and thermal sources the config file names."""
    scanners = [_scanner(index, config) for index, config in enumerate(settings.scanners)]
    if settings.thermal.kind not in ("none",):
        raise UnsupportedDevice(
            f"thermal.kind = {settings.thermal.kind!r} is not supported by this build; "
            "use 'none' (or run 'checkpoint demo' for the simulated camera)"
        )
    return Devices(scanners=scanners, thermals=[])


def _scanner(index: int, config: ScannerConfig) -> ScanSource:
    name = f"scanner-{index + 1}"
    if config.kind == "serial":
        return SerialScanner(
            name,
            config.device,
            baudrate=config.baudrate,
            lane=config.lane,
            direction=config.direction,
        )
    raise UnsupportedDevice(
        f"scanners[{index}].kind = {config.kind!r} is not supported by this build; use 'serial'"
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the gateway decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Gateway:
    """One gate's service: devices → checkpoint → store → sync, plus the web UI."""

    def __init__(self, settings: Settings, devices: Devices) -> None:
        self.settings = settings
        self.devices = devices
        self.stop_event = asyncio.Event()
        self.bus = EventBus()
        self.clock = SystemClock()
        self.started = asyncio.Event()

    async def run(self) -> None:
        """Run until `stop()` is called (or SIGTERM/SIGINT when installed by the CLI)."""
        settings = self.settings
        store = EntryStore.open(settings.storage.path)
        trust = TrustStore.load(settings.storage.trust_list_path())
        runner = DeviceRunner(self.devices.scanners, self.devices.thermals)
        topics = Topics(settings.mqtt.topic_prefix, settings.gate.site, settings.gate.id)
        client = self._mqtt_client(topics) if settings.mqtt.enabled else None
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
            )
            if client is not None
            else None
        )
        service = CheckpointService(
            store=store,
            formats=[CommunityPassFormat(trust)],
            policy=lambda: settings.policy_rules,
            identity=GateIdentity(settings.gate.site, settings.gate.id, boot_id()),
            clock=self.clock,
            bus=self.bus,
            thermal_available=lambda: any(
                h.state is DeviceState.UP for h in runner.health() if h.name in self._thermal_names
            ),
            remeasure_wait_s=settings.policy.remeasure_wait_s,
            on_recorded=(lambda entry: publisher.notify()) if publisher else (lambda entry: None),
        )

        def status() -> GatewayStatus:
            backlog = store.backlog()
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
            )

        web = create_app(
            WebServices(
                bus=self.bus,
                status=status,
                recent=lambda limit: store.recent(limit=limit),
                stopping=self.stop_event,
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
        loop = asyncio.get_running_loop()
        runner.start(
            on_scan=lambda scan: loop.call_soon_threadsafe(service.on_scan, scan),
            on_reading=lambda reading: loop.call_soon_threadsafe(service.on_reading, reading),
        )
        try:
            if client is not None:
                client.start()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(server.serve(), name="web")
                if publisher is not None:
                    tasks.create_task(publisher.run(self.stop_event), name="sync")
                tasks.create_task(self._announce_ready(server), name="ready")
                await self.stop_event.wait()
                server.should_exit = True
        finally:
            log.info("stopping: devices, passages in progress, sync, database")
            await asyncio.to_thread(runner.stop, 5.0)
            await service.drain()
            if client is not None:
                client.stop()
            store.close()

    @property
    def _thermal_names(self) -> set[str]:
        return {source.name for source in self.devices.thermals}

    def _mqtt_client(self, topics: Topics) -> MqttClient:
        mqtt = self.settings.mqtt
        tls_wanted = mqtt.tls_ca or mqtt.tls_cert or mqtt.port == 8883
        return gateway_client(
            MqttSettings(
                host=mqtt.host,
                port=mqtt.port,
                keepalive_s=mqtt.keepalive_s,
                username=mqtt.username,
                password=mqtt.password,
                tls=Tls(ca=mqtt.tls_ca, cert=mqtt.tls_cert, key=mqtt.tls_key)
                if tls_wanted
                else None,
            ),
            topics,
        )

    async def _announce_ready(self, server: uvicorn.Server) -> None:
        while not server.started and not self.stop_event.is_set():
            await asyncio.sleep(0.05)
        if server.started:
            log.info("gateway ready: guard screen at http://%s", self.settings.web.listen)
            self.started.set()

    def stop(self) -> None:
        self.stop_event.set()


def install_signal_handlers(gateway: Gateway) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, gateway.stop)
