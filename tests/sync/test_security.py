"""The shipped Mosquitto config (deploy/mosquitto/) with certificates from gateway/certs.py:
TLS only, the certificate is the identity, the ACL keeps every gate to its own topics."""

from __future__ import annotations

import asyncio
import getpass
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from gateway.config import validate_settings
from gateway.operations import certs
from gateway.wiring.collector import collector_from_settings
from harness.broker import Broker, mosquitto_available
from harness.sync import collected_ids
from harness.waiting import wait_until
from sync.collector_store import create_collector_engine, gate_states
from sync.mqtt import Message, MqttClient, MqttSettings, PublishRefusedError, Tls
from sync.topics import Topics
from tests.support.gateway_process import CheckpointProcess, free_port, wait_until_serving
from tests.sync.conftest import PREFIX

pytestmark = pytest.mark.broker

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
SITE = "xiaojiang"
NORTH = Topics(PREFIX, SITE, "north-1")
SOUTH = Topics(PREFIX, SITE, "south-2")
ELSEWHERE = Topics(PREFIX, "hebian", "east-1")


@dataclass
class Pki:
    directory: Path
    ca: Path
    north: certs.IssuedFiles
    south: certs.IssuedFiles
    elsewhere: certs.IssuedFiles
    collector: certs.IssuedFiles
    server: certs.IssuedFiles
    stranger: certs.IssuedFiles  # a gate certificate from another CA


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    now = datetime.now(UTC)
    directory = tmp_path / "pki"
    ca = certs.create_ca(directory, site=SITE, now=now)
    certs.issue_broker(directory, directory, hosts=["127.0.0.1", "localhost"], now=now)
    other = tmp_path / "other-ca"
    certs.create_ca(other, site=SITE, now=now)
    return Pki(
        directory=directory,
        ca=ca.cert,
        north=certs.issue_gate(directory, directory, site=SITE, gate="north-1", now=now),
        south=certs.issue_gate(directory, directory, site=SITE, gate="south-2", now=now),
        elsewhere=certs.issue_gate(directory, directory, site="hebian", gate="east-1", now=now),
        collector=certs.issue_collector(directory, directory, name="c1", now=now),
        server=certs.issue_server(directory, directory, now=now),
        stranger=certs.issue_gate(other, other, site=SITE, gate="north-1", now=now),
    )


@pytest.fixture
def secure_broker(tmp_path: Path, pki: Pki) -> Iterator[Broker]:
    """Mosquitto with the shipped config and ACL; only paths and the port are changed."""
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed (scripts/test.sh installs it)")
    acl = (DEPLOY / "checkpoint.acl").read_text()
    for topics in (NORTH, SOUTH, ELSEWHERE):
        acl += certs.gate_acl_block(topics.site, topics.gate, prefix=PREFIX)
    (pki.directory / "checkpoint.acl").write_text(acl)
    directory = tmp_path / "broker"
    directory.mkdir()

    def config(port: int) -> str:
        text = (DEPLOY / "checkpoint.conf").read_text()
        assert "listener 8883\n" in text
        text = text.replace("listener 8883\n", f"listener {port} 127.0.0.1\n")
        text = text.replace("/etc/mosquitto/checkpoint/", f"{pki.directory}/")
        text = text.replace("/var/lib/mosquitto/", f"{directory}/")
        # Started as root, Mosquitto would drop to a user who cannot read the test's files.
        return f"user {getpass.getuser()}\n{text}"

    broker = Broker(directory, base_config=config).start()
    yield broker
    broker.stop()


class Client:
    """An MQTT client with one certificate, recording what it receives."""

    def __init__(self, broker: Broker, ca: Path, files: certs.IssuedFiles | None, name: str):
        tls = Tls(ca=ca, cert=files.cert if files else None, key=files.key if files else None)
        self.mqtt = MqttClient(
            MqttSettings(host="127.0.0.1", port=broker.port, tls=tls), client_id=name
        )
        self.received: list[Message] = []

    def subscribe(self, topic_filter: str) -> Client:
        self.mqtt.subscribe(topic_filter, self.received.append)
        return self

    def topics(self) -> set[str]:
        return {message.topic for message in self.received}


@pytest.fixture
def connect(
    secure_broker: Broker, pki: Pki
) -> Iterator[Callable[[certs.IssuedFiles | None, str], Client]]:
    started: list[Client] = []

    def factory(files: certs.IssuedFiles | None, name: str) -> Client:
        client = Client(secure_broker, pki.ca, files, name)
        started.append(client)
        return client

    yield factory
    for client in started:
        client.mqtt.stop()


def start_all(*clients: Client) -> None:
    for client in clients:
        client.mqtt.start()
    wait_until(lambda: all(c.mqtt.connected for c in clients), what="the TLS connections")


def publish(client: Client, topic: str, payload: bytes, *, retain: bool = False) -> bool:
    """True if the broker accepted the message, False if its ACL refused it."""

    async def attempt() -> bool:
        try:
            await asyncio.wait_for(client.mqtt.publish(topic, payload, retain=retain), 10)
        except PublishRefusedError:
            return False
        return True

    return asyncio.run(attempt())


def test_a_gate_publishes_and_reads_only_its_own_topics(
    pki: Pki, connect: Callable[[certs.IssuedFiles | None, str], Client]
) -> None:
    north = connect(pki.north, "gate-north").subscribe(NORTH.ack).subscribe(SOUTH.ack)
    north.subscribe(NORTH.trust).subscribe(ELSEWHERE.trust).subscribe(f"{PREFIX}/#")
    south = connect(pki.south, "gate-south").subscribe(SOUTH.ack).subscribe(SOUTH.trust)
    elsewhere = connect(pki.elsewhere, "gate-east").subscribe(NORTH.trust)
    collector = connect(pki.collector, "collector-1")
    collector.subscribe(f"$share/collectors/{PREFIX}/+/+/entries")
    server = connect(pki.server, "server")
    start_all(north, south, elsewhere, collector, server)

    # Publishing: own entries and state only.
    assert publish(north, NORTH.entries, b"own")
    assert publish(north, NORTH.state, b"own state")
    for forged in (SOUTH.entries, SOUTH.state, NORTH.ack, NORTH.trust, NORTH.policy):
        assert not publish(north, forged, b"forged"), forged
    assert not publish(collector, NORTH.entries, b"a collector is not a gate")
    assert not publish(server, NORTH.ack, b"the server does not acknowledge")

    # Reading: own acks, own site's trust list; never another gate's or site's.
    assert publish(collector, NORTH.ack, b"for north")
    assert publish(collector, SOUTH.ack, b"for south")
    assert publish(server, NORTH.trust, b"xiaojiang trust list", retain=True)
    assert publish(server, ELSEWHERE.trust, b"hebian trust list", retain=True)
    wait_until(lambda: len(south.received) == 2, what="south's ack and trust list")
    wait_until(lambda: NORTH.trust in north.topics(), what="north's trust list")

    assert north.topics() == {NORTH.ack, NORTH.trust}
    assert south.topics() == {SOUTH.ack, SOUTH.trust}
    assert elsewhere.received == []
    assert [m.topic for m in collector.received] == [NORTH.entries]


def test_no_certificate_or_a_foreign_one_cannot_connect(
    pki: Pki, connect: Callable[[certs.IssuedFiles | None, str], Client], secure_broker: Broker
) -> None:
    anonymous = connect(None, "anonymous")
    stranger = connect(pki.stranger, "stranger")
    north = connect(pki.north, "gate-north")
    for client in (anonymous, stranger, north):
        client.mqtt.start()
    wait_until(lambda: north.mqtt.connected, what="the gate with a good certificate")
    log = secure_broker.directory / "mosquitto.log"
    wait_until(
        lambda: (
            b"peer did not return a certificate" in log.read_bytes()
            and b"certificate verify failed" in log.read_bytes()
        ),
        what="the broker to turn both away",
    )

    assert not anonymous.mqtt.connected
    assert not stranger.mqtt.connected


def test_the_gateway_process_syncs_over_tls_with_its_client_certificate(
    tmp_path: Path, pki: Pki, secure_broker: Broker
) -> None:
    master, slave = os.openpty()
    web_port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gate]\nid = "north-1"\nsite = "{SITE}"\n'
        f'[storage]\npath = "{tmp_path / "gateway.db"}"\n'
        f'[[scanners]]\nkind = "serial"\ndevice = "{os.ttyname(slave)}"\n'
        '[thermal]\nkind = "none"\n[policy]\nno_thermal = "admit"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {secure_broker.port}\nack_timeout_s = 2.0\n'
        f'tls_ca = "{pki.ca}"\ntls_cert = "{pki.north.cert}"\ntls_key = "{pki.north.key}"\n'
        f'[web]\nlisten = "127.0.0.1:{web_port}"\n'
    )
    database = f"sqlite:///{tmp_path / 'collector.db'}"
    # The collector as `checkpoint collector` builds it, from its own config file.
    collector_settings = validate_settings(
        {
            "mqtt": {
                "host": "127.0.0.1",
                "port": secure_broker.port,
                "tls_ca": str(pki.ca),
                "tls_cert": str(pki.collector.cert),
                "tls_key": str(pki.collector.key),
            },
            "collector": {"database": database},
        },
        source="collector.toml",
    )
    collector = collector_from_settings(collector_settings, database=None, instance="c1")
    collector.start()
    gateway = CheckpointProcess("run", config, tmp_path / "gateway.log").start()
    try:
        wait_until_serving(web_port, gateway)
        os.write(master, b"a code that cannot be verified offline\r\n")
        wait_until(lambda: len(collected_ids(database)) == 1, what="the entry", timeout=20)
        engine = create_collector_engine(database)
        try:
            with Session(engine) as session:
                states = [(g.site, g.gate, g.state) for g in gate_states(session)]
        finally:
            engine.dispose()
        wait_until(lambda: _outbox(tmp_path / "gateway.db") == 0, what="the ack", timeout=20)
    finally:
        gateway.stop()
        collector.stop()
        os.close(master)
        os.close(slave)

    assert states == [(SITE, "north-1", "online")]


def _outbox(db: Path) -> int:
    connection = sqlite3.connect(db)
    try:
        return int(connection.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        connection.close()
