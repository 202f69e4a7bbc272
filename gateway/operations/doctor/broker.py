"""Doctor checks of sync: the broker (reachability, TLS, MQTT session) and the collector's ack."""

from __future__ import annotations

import dataclasses
import logging
import queue
import socket
import ssl
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from gateway.config import Settings
from gateway.core.values import Entry
from gateway.operations.doctor.findings import Finding, Status
from gateway.storage.engine import StorageError, create_sqlite_engine
from gateway.storage.store import EntryStore
from gateway.wiring.broker import mqtt_settings
from sync.batch import encode_batch
from sync.mqtt import Message, MqttClient, MqttError, Tls
from sync.topics import Topics
from sync.wire import WireError, decode_ack


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
    except StorageError:
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
