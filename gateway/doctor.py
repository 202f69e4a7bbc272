"""`checkpoint doctor`: is this gate computer ready? One finding per part, with what to do.

Checks the config, every scanner and the thermal source (through the same device code the
service runs, or as the running service reports them), disk space, the database, clock
synchronisation, the broker (reachability, TLS, MQTT session) and the collector's ack.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import shutil
import socket
import sqlite3
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from gateway.app import UnsupportedDevice, devices_from_settings, mqtt_settings
from gateway.clock import SystemClock
from gateway.config import Settings, load_settings
from gateway.core.errors import ConfigError
from gateway.core.ports import ScanSource, ThermalSource
from gateway.core.retention import DiskLevel, disk_level
from gateway.core.values import DeviceHealth, DeviceState, Entry
from gateway.storage.engine import StorageError, create_sqlite_engine
from gateway.storage.migrate import revisions
from gateway.storage.store import EntryStore
from sync.mqtt import Message, MqttClient, MqttError, Tls
from sync.topics import Topics
from sync.wire import WireError, decode_ack, encode_batch

DEFAULT_TIMEOUT_S = 5.0
# Enough readings to tell a plausible source from a noisy one.
THERMAL_READINGS = 3


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Finding:
    """The result of one check: what was checked, how it went, and what to do about it."""

    check: str
    status: Status
    detail: str
    advice: str = ""


def run_doctor(config: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Finding]:
    """Every check, in the order a technician would fix things."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        return [
            Finding(
                "config",
                Status.FAIL,
                str(exc),
                f"fix the keys named above; 'checkpoint init --config {config}' writes a "
                "commented example",
            )
        ]
    findings = [Finding("config", Status.PASS, f"{config} is valid")]
    findings += check_devices(settings, timeout_s=timeout_s)
    findings.append(check_disk(settings.storage.path))
    findings.append(check_database(settings.storage.path))
    findings.append(check_clock(SystemClock()))
    findings += check_sync(settings, timeout_s=timeout_s)
    return findings


def exit_code(findings: Sequence[Finding]) -> int:
    """1 when any check failed, else 0 (warnings do not fail)."""
    return 1 if any(f.status is Status.FAIL for f in findings) else 0


def render(findings: Sequence[Finding]) -> str:
    """A table: status, check, detail, and below each problem what to do."""
    width = max(len(f.check) for f in findings)
    lines = [f"{'STATUS':<6}  {'CHECK':<{width}}  DETAIL"]
    for finding in findings:
        detail, *more = finding.detail.splitlines() or [""]
        lines.append(f"{finding.status.value:<6}  {finding.check:<{width}}  {detail}")
        lines += [f"{'':<6}  {'':<{width}}  {line}" for line in more]
        if finding.advice and finding.status is not Status.PASS:
            lines.append(f"{'':<6}  {'':<{width}}  -> {finding.advice}")
    counts = {status: sum(f.status is status for f in findings) for status in Status}
    warnings = counts[Status.WARN]
    lines.append(
        f"{counts[Status.FAIL]} failed, {warnings} warning{'' if warnings == 1 else 's'}, "
        f"{counts[Status.PASS]} passed"
    )
    return "\n".join(lines)


def to_json(findings: Sequence[Finding]) -> str:
    return json.dumps(
        {"ok": exit_code(findings) == 0, "findings": [asdict(f) for f in findings]},
        ensure_ascii=False,
        indent=2,
    )


# --- devices --------------------------------------------------------------------------


def check_devices(settings: Settings, *, timeout_s: float) -> list[Finding]:
    """Each configured device: as the running service reports it, or tried out directly.

    A running service holds the cameras, and a second reader of a serial port would take
    scans away from it: while it runs, the devices are left alone.
    """
    service = _running_service(settings)
    if service is not None:
        return service
    try:
        devices = devices_from_settings(settings)
    except UnsupportedDevice as exc:
        return [
            Finding(
                "devices",
                Status.FAIL,
                str(exc),
                "'checkpoint run' refuses this config: use a supported kind",
            )
        ]
    policy = settings.policy
    findings = [check_scanner(source, timeout_s=timeout_s) for source in devices.scanners]
    findings += [
        check_thermal(
            source,
            plausible=(policy.min_plausible_c, policy.max_plausible_c),
            timeout_s=timeout_s,
        )
        for source in devices.thermals
    ]
    if not devices.thermals:
        findings.append(_no_thermal(settings))
    if not devices.scanners:
        findings.append(
            Finding(
                "scanners",
                Status.WARN,
                "no [[scanners]] configured: people can only be measured, not identified",
                "add a [[scanners]] table for each scanner or camera",
            )
        )
    return findings


def check_scanner(source: ScanSource, *, timeout_s: float) -> Finding:
    """Run the scanner for up to `timeout_s`: it must come up; a code shown to it is read."""
    health, scans = _exercise(source, timeout_s, enough=1)
    check = f"scanner {source.name} ({health.kind})"
    if health.state is not DeviceState.UP:
        return Finding(check, Status.FAIL, health.reason or "not working", _device_advice(health))
    if scans:
        return Finding(check, Status.PASS, "working; a code was read during the check")
    if health.kind == "camera":
        return Finding(
            check,
            Status.WARN,
            f"frames arrive, but no QR code was read within {timeout_s:g} s",
            "hold the test card (a pass printed with 'checkpoint issue-pass') 20-40 cm in "
            "front of the camera during the check; check focus and lighting",
        )
    return Finding(
        check, Status.PASS, "ready (scan the test card during the check to test reading too)"
    )


def check_thermal(
    source: ThermalSource, *, plausible: tuple[float, float], timeout_s: float
) -> Finding:
    """Run the thermal source for up to `timeout_s`: readings arrive, in the plausible range."""
    health, readings = _exercise(source, timeout_s, enough=THERMAL_READINGS)
    check = f"thermal {source.name} ({health.kind})"
    low, high = plausible
    if readings:
        values = [reading.celsius for reading in readings]
        shown = ", ".join(f"{value:.1f}" for value in values)
        if all(low <= value <= high for value in values):
            return Finding(check, Status.PASS, f"readings arrive: {shown} °C")
        return Finding(
            check,
            Status.WARN,
            f"readings outside the plausible {low:g}-{high:g} °C: {shown} °C",
            "check the distance to the face, thermal.offset_c and the blackbody reference; "
            "a reading is only plausible while a person stands in front of the sensor",
        )
    if health.state is not DeviceState.UP:
        return Finding(check, Status.FAIL, health.reason or "not working", _device_advice(health))
    return Finding(
        check,
        Status.WARN,
        f"up, but no reading within {timeout_s:g} s",
        "stand in front of the thermal sensor during the check",
    )


def _no_thermal(settings: Settings) -> Finding:
    rule = settings.policy.no_thermal.value
    detail = f"no thermal source (thermal.kind = none): policy.no_thermal = {rule} applies"
    if rule == "refer":
        return Finding(
            "thermal",
            Status.WARN,
            detail + " to every passage",
            "configure [thermal], or set policy.no_thermal = 'admit' if this gate does not "
            "measure temperatures",
        )
    return Finding("thermal", Status.PASS, detail)


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Source(Protocol[T_co]):
    name: str

    def run(self, emit: Callable[[T_co], None], stop: threading.Event) -> None: ...

    def health(self) -> DeviceHealth: ...


def _exercise(source: _Source[T], timeout_s: float, *, enough: int) -> tuple[DeviceHealth, list[T]]:
    """Run a source in its own thread until it emitted `enough` values or time is up.

    Returns its health as it was before stopping (afterwards every source says "stopped").
    """
    values: list[T] = []
    lock = threading.Lock()
    done = threading.Event()
    stop = threading.Event()

    def emit(value: T) -> None:
        with lock:
            values.append(value)
            if len(values) >= enough:
                done.set()

    thread = threading.Thread(
        target=source.run, args=(emit, stop), name=f"doctor-{source.name}", daemon=True
    )
    thread.start()
    done.wait(timeout_s)
    health = source.health()
    stop.set()
    thread.join(timeout_s)
    with lock:
        return health, list(values)


def _device_advice(health: DeviceHealth) -> str:
    advice = {
        "serial": "plug the device in and check 'ls -l /dev/checkpoint-* /dev/ttyACM* "
        "/dev/ttyUSB*'; the udev rules give it a stable name; the service user needs the "
        "dialout group",
        "keyboard": "check 'ls -l /dev/input/by-id/ /dev/checkpoint-*'; the service user "
        "needs the input group; another program may hold the device",
        "camera": "check 'ls -l /dev/video*' and the cable; only one program can use a camera "
        "at a time (stop the service: systemctl stop checkpoint-gateway)",
    }
    return advice.get(
        health.kind,
        "check the cable, 'ls -l /dev/checkpoint-*' and the device setting in the config",
    )


def _running_service(settings: Settings) -> list[Finding] | None:
    """Findings about the devices from the running service; None when it does not run."""
    where = f"http://{settings.web.listen}"
    try:
        with urllib.request.urlopen(f"{where}/api/status", timeout=2) as response:
            document = json.load(response)
    except urllib.error.HTTPError:
        # Something answers on the service's port but wants a sign-in for its status.
        return [
            Finding(
                "service",
                Status.WARN,
                f"running at {where}; its device states need a sign-in, so the devices were "
                "not checked (the service is using them)",
                f"see the device states on the technician page at {where}, or stop the "
                "service (systemctl stop checkpoint-gateway) and run the doctor again",
            )
        ]
    except (urllib.error.URLError, OSError, ValueError):
        return None
    if (document.get("site"), document.get("gate")) != (settings.gate.site, settings.gate.id):
        return None
    return [
        Finding("service", Status.PASS, f"running at {where}; devices as it reports them"),
        *(_reported_device(device) for device in document.get("devices", [])),
    ]


def _reported_device(device: dict[str, str]) -> Finding:
    health = DeviceHealth(
        device["name"], device["kind"], DeviceState(device["state"]), device["reason"]
    )
    check = f"device {health.name} ({health.kind})"
    if health.state is DeviceState.UP:
        return Finding(check, Status.PASS, "up (as reported by the running service)")
    return Finding(
        check,
        Status.FAIL,
        f"{health.state.value} (as reported by the running service): {health.reason}",
        _device_advice(health),
    )


# --- disk, database, clock --------------------------------------------------------------


def disk_status(used_bytes: int, total_bytes: int) -> Status:
    """pass below 80 % used, warn from 80 %, fail from 95 % (the service's own alarms)."""
    return {
        DiskLevel.OK: Status.PASS,
        DiskLevel.WARN: Status.WARN,
        DiskLevel.CRITICAL: Status.FAIL,
    }[disk_level(used_bytes, total_bytes)]


def check_disk(database: Path) -> Finding:
    """Space on the file system that holds (or will hold) the database."""
    directory = database.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    usage = shutil.disk_usage(directory)
    status = disk_status(usage.used, usage.total)
    detail = (
        f"{usage.used / usage.total:.0%} used on the file system of {directory} "
        f"({usage.free / 1e9:.1f} GB free)"
    )
    return Finding(
        "disk",
        status,
        detail,
        "free space: unsynced entries are never deleted, so bring the collector back online "
        "first; then lower storage.retention_days or remove old backups and logs "
        "(journalctl --vacuum-size=100M)",
    )


def check_database(database: Path) -> Finding:
    """The database file: readable, intact (quick_check), schema of this version."""
    if not database.exists():
        return Finding(
            "database", Status.PASS, f"{database} does not exist yet; the service creates it"
        )
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            problems = [str(row[0]) for row in connection.execute("PRAGMA quick_check")]
            current = _schema_revision(connection)
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return _database_problem(database, str(exc))
    if problems != ["ok"]:
        return _database_problem(database, "; ".join(problems[:5]))
    known = revisions()
    if current is None:
        return Finding(
            "database", Status.WARN, f"{database} has no schema yet; the service creates it"
        )
    if current not in known:
        return Finding(
            "database",
            Status.FAIL,
            f"{database} was written by a newer checkpoint-gateway (schema {current})",
            "install that version again, or restore a backup made by this version",
        )
    if current != known[-1]:
        return Finding(
            "database",
            Status.WARN,
            f"intact; schema {current} is upgraded to {known[-1]} at the next start",
            "take a backup first ('checkpoint backup'), then restart the service",
        )
    return Finding("database", Status.PASS, f"intact, schema {current} is current")


def _schema_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return None if row is None else str(row[0])


def _database_problem(database: Path, problem: str) -> Finding:
    if "unable to open" in problem:
        return Finding(
            "database",
            Status.FAIL,
            f"cannot open {database}: {problem}",
            "run the doctor as root or as the service user (sudo -u checkpoint checkpoint doctor)",
        )
    return Finding(
        "database",
        Status.FAIL,
        f"{database} is damaged: {problem}",
        "restart the service: it keeps the damaged file aside, starts a new database and "
        "re-records what can still be read; or restore the latest backup",
    )


class _Synchronised(Protocol):
    def synchronised(self) -> bool: ...


def check_clock(clock: _Synchronised) -> Finding:
    if clock.synchronised():
        return Finding("clock", Status.PASS, "synchronised (NTP)")
    return Finding(
        "clock",
        Status.WARN,
        "not synchronised: entries are recorded with clock_synced = false",
        "enable time synchronisation ('timedatectl set-ntp true', or chrony) and check "
        "'timedatectl timesync-status'; NTP needs UDP port 123 to a time server",
    )


# --- broker and collector -----------------------------------------------------------------


def check_sync(settings: Settings, *, timeout_s: float) -> list[Finding]:
    """The broker: reachable, TLS, an MQTT session; then the collector's ack of a probe."""
    mqtt = settings.mqtt
    if not mqtt.enabled:
        return [
            Finding(
                "broker",
                Status.PASS,
                "offline only (mqtt.host is empty): entries stay on this computer",
            )
        ]
    connection = dataclasses.replace(
        mqtt_settings(mqtt),
        # No session left behind: a later run must not receive this run's acks.
        session_expiry_s=0,
    )
    tls = connection.tls
    problem = _transport_problem(mqtt.host, mqtt.port, tls, timeout_s)
    if problem is not None:
        return [problem]
    topics = Topics(mqtt.topic_prefix, settings.gate.site, settings.gate.id)
    refusals = _Warnings()
    mqtt_log = logging.getLogger("sync.mqtt")
    mqtt_log.addHandler(refusals)
    try:
        client = MqttClient(
            connection,
            client_id=f"checkpoint-doctor-{settings.gate.site}-{settings.gate.id}",
        )
        return _session_and_ack(client, settings, topics, refusals, timeout_s)
    except MqttError as exc:
        return [Finding("broker", Status.FAIL, str(exc), "check mqtt.tls_ca, tls_cert, tls_key")]
    finally:
        mqtt_log.removeHandler(refusals)


def _session_and_ack(
    client: MqttClient,
    settings: Settings,
    topics: Topics,
    refusals: _Warnings,
    timeout_s: float,
) -> list[Finding]:
    where = f"{settings.mqtt.host}:{settings.mqtt.port}"
    connected = threading.Event()
    acks: queue.Queue[Message] = queue.Queue()
    client.add_connection_listener(lambda up: connected.set() if up else None)
    client.subscribe(topics.ack, acks.put)
    client.start()
    try:
        if not connected.wait(timeout_s):
            said = f": {refusals.last}" if refusals.last else ""
            return [
                Finding(
                    "broker",
                    Status.FAIL,
                    f"{where} answers, but no MQTT session within {timeout_s:g} s{said}",
                    "check mqtt.username and its password (credential checkpoint.mqtt-password)"
                    ", a client certificate if the broker wants one (tls_cert, tls_key), and "
                    "the broker's log",
                )
            ]
        over = " over TLS" if settings.mqtt.tls_enabled else ""
        broker = Finding("broker", Status.PASS, f"connected to {where}{over}")
        return [broker, _ack_round_trip(client, settings, topics, acks, timeout_s)]
    finally:
        client.stop()


def _ack_round_trip(
    client: MqttClient,
    settings: Settings,
    topics: Topics,
    acks: queue.Queue[Message],
    timeout_s: float,
) -> Finding:
    # The collector acknowledges only batches with entries, so the probe re-sends this gate's
    # newest entry: the collector stores entries by id, so a re-sent one adds nothing.
    probe = newest_entry(settings.storage.path, site=settings.gate.site, gate=settings.gate.id)
    if probe is None:
        return Finding(
            "collector",
            Status.WARN,
            "not checked: no entry of this gate in the database to send as a probe",
            "run the doctor again after the first passage",
        )
    payload = encode_batch(
        site=settings.gate.site, gate=settings.gate.id, entries=[probe], sent_at=datetime.now(UTC)
    )
    started = time.monotonic()
    try:
        client.send(topics.entries, payload)
    except MqttError as exc:
        return Finding("collector", Status.FAIL, f"cannot send the probe: {exc}")
    deadline = started + timeout_s
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            message = acks.get(timeout=remaining)
        except queue.Empty:
            break
        try:
            acked = decode_ack(message.payload).ids
        except WireError:
            continue
        if probe.id in acked:
            elapsed_ms = (time.monotonic() - started) * 1000
            return Finding(
                "collector", Status.PASS, f"stored and acknowledged a probe in {elapsed_ms:.0f} ms"
            )
    return Finding(
        "collector",
        Status.FAIL,
        f"no acknowledgement on {topics.ack} within {timeout_s:g} s",
        "is 'checkpoint collector' running and connected to this broker with topic prefix "
        f"{settings.mqtt.topic_prefix!r}? may this gate publish on {topics.entries} and "
        f"subscribe to {topics.ack} (broker ACL)?",
    )


def newest_entry(database: Path, *, site: str, gate: str) -> Entry | None:
    """This gate's newest recorded entry, or None (no database, none recorded, unreadable)."""
    if not database.exists():
        return None
    store = EntryStore(create_sqlite_engine(database))
    try:
        return next((e for e in store.recent(limit=100) if (e.site, e.gate) == (site, gate)), None)
    except (SQLAlchemyError, StorageError):
        return None
    finally:
        store.close()


def _transport_problem(host: str, port: int, tls: Tls | None, timeout_s: float) -> Finding | None:
    """A finding naming why the broker cannot be reached (network or TLS), or None."""
    where = f"{host}:{port}"
    try:
        connection = socket.create_connection((host, port), timeout=timeout_s)
    except socket.gaierror as exc:
        return Finding(
            "broker",
            Status.FAIL,
            f"cannot resolve {host!r}: {exc.strerror}",
            "check mqtt.host and this computer's DNS ('resolvectl status')",
        )
    except ConnectionRefusedError:
        return Finding(
            "broker",
            Status.FAIL,
            f"{where} refused the connection: nothing listens there",
            "check mqtt.port, and that the broker is running",
        )
    except TimeoutError:
        return Finding(
            "broker",
            Status.FAIL,
            f"no answer from {where} within {timeout_s:g} s",
            "check the network cable or Wi-Fi, a firewall between here and the broker, and "
            "mqtt.host",
        )
    except OSError as exc:
        return Finding(
            "broker",
            Status.FAIL,
            f"cannot reach {where}: {exc.strerror or exc}",
            "check the network ('ip addr', 'ip route') and mqtt.host",
        )
    with connection:
        return None if tls is None else _tls_problem(connection, host, port, tls)


def _tls_problem(connection: socket.socket, host: str, port: int, tls: Tls) -> Finding | None:
    where = f"{host}:{port}"
    try:
        context = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
        if tls.cert is not None:
            context.load_cert_chain(str(tls.cert), str(tls.key) if tls.key else None)
    except (OSError, ssl.SSLError) as exc:
        return Finding(
            "broker",
            Status.FAIL,
            f"TLS: cannot load the TLS files: {exc}",
            "check the paths of mqtt.tls_ca, tls_cert and tls_key, and that the service user "
            "may read them",
        )
    try:
        with context.wrap_socket(connection, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as exc:
        return Finding(
            "broker",
            Status.FAIL,
            f"TLS: the certificate of {where} is not trusted: {exc.verify_message}",
            "set mqtt.tls_ca to the CA that signed the broker's certificate; mqtt.host must be "
            "a name in that certificate; a wrong clock also makes certificates invalid",
        )
    except ssl.SSLError as exc:
        return Finding(
            "broker",
            Status.FAIL,
            f"TLS handshake with {where} failed: {exc.reason or exc}",
            f"is {port} the broker's TLS port? without TLS use another port and no tls_* "
            "keys; a broker that wants client certificates needs tls_cert and tls_key",
        )
    except OSError as exc:
        return Finding(
            "broker", Status.FAIL, f"TLS handshake with {where} failed: {exc}", "check the network"
        )


class _Warnings(logging.Handler):
    """Keeps the last warning of the MQTT client, e.g. why the broker refused the session."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()
