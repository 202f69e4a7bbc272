from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.broker import Broker, mosquitto_available
from harness.waiting import wait_until
from sync.mqtt import (
    ConnectionLostError,
    MqttClient,
    MqttSettings,
    MqttSetupError,
    NotConnectedError,
    Tls,
)
from tests.support.mqtt import Capture
from tests.support.proxy import FaultProxy
from tests.support.tls import make_tls_files
from tests.sync.conftest import mqtt_client

pytestmark = pytest.mark.broker


def test_connected_only_between_connack_and_disconnect(broker: Broker) -> None:
    client = mqtt_client(broker, "t-state")
    seen: list[bool] = []
    client.add_connection_listener(seen.append)

    assert not client.connected
    client.start()
    try:
        wait_until(lambda: client.connected, what="CONNACK")
        broker.stop()
        wait_until(lambda: not client.connected, what="the disconnect")
        assert seen == [True, False]
        broker.start()
        wait_until(lambda: client.connected, what="the reconnect", timeout=15)
        assert seen == [True, False, True]
    finally:
        client.stop()
    assert not client.connected


def test_publishing_without_a_connection_raises(broker: Broker) -> None:
    client = mqtt_client(broker, "t-offline")

    async def publish() -> None:
        client.publish("checkpoint/v1/s/g/entries", b"{}")

    with pytest.raises(NotConnectedError):
        asyncio.run(publish())
    with pytest.raises(NotConnectedError):
        client.send("checkpoint/v1/s/g/ack", b"{}")


def test_publish_completes_on_the_brokers_puback(broker: Broker) -> None:
    capture = Capture(broker.port, "t/#")
    client = mqtt_client(broker, "t-publish")
    client.start()
    try:
        wait_until(lambda: client.connected, what="CONNACK")

        async def publish_many() -> None:
            # Many at once, so PUBACKs often race publish() returning the message id.
            await asyncio.gather(*(client.publish(f"t/{i}", b"x") for i in range(300)))

        asyncio.run(asyncio.wait_for(publish_many(), 20))
        wait_until(lambda: len(capture.messages) == 300, what="all messages delivered")
    finally:
        client.stop()
        capture.close()


def test_a_publish_in_flight_fails_when_the_connection_drops(broker: Broker) -> None:
    client = mqtt_client(broker, "t-lost")
    client.start()
    try:
        wait_until(lambda: client.connected, what="CONNACK")

        async def publish_into_the_void() -> None:
            broker.pause()
            puback = client.publish("t/lost", b"x")
            done, _ = await asyncio.wait({puback}, timeout=0.3)
            assert not done, "a frozen broker cannot have acknowledged"
            broker.kill()
            with pytest.raises(ConnectionLostError):
                await asyncio.wait_for(puback, 10)

        asyncio.run(publish_into_the_void())
        assert not client.connected
    finally:
        broker.resume()  # a frozen broker would ignore the fixture's SIGTERM
        client.stop()


def test_received_messages_reach_the_handler_also_after_a_broker_restart(broker: Broker) -> None:
    client = mqtt_client(broker, "t-subscribe")
    received: list[bytes] = []
    client.subscribe("$share/g/t/+/in", lambda message: received.append(message.payload))
    client.start()
    sender = Capture(broker.port, "unused")
    try:
        wait_until(lambda: client.connected, what="CONNACK")
        sender.publish("t/1/in", b"one")
        wait_until(lambda: received == [b"one"], what="the first message")
        # The broker keeps no sessions across restarts: the subscription must be renewed.
        sender.close()
        broker.stop()
        broker.start()
        wait_until(lambda: client.connected, what="the reconnect", timeout=15)
        sender = Capture(broker.port, "unused")
        sender.publish("t/2/in", b"two")
        wait_until(lambda: received == [b"one", b"two"], what="the second message")
    finally:
        client.stop()
        sender.close()


def test_a_subscription_made_while_the_connection_comes_up_is_not_lost(broker: Broker) -> None:
    """Another thread subscribes just after the connect took its list of filters and just
    before the client counts as connected: the broker must still get that subscription."""
    received: list[bytes] = []

    class Racing(MqttClient):
        raced = False

        def _send_subscribe(self, filters: list[str]) -> None:
            super()._send_subscribe(filters)
            if not self.raced:  # inside the connect, after the filters were taken
                self.raced = True
                self.subscribe("t/late", lambda message: received.append(message.payload))

    sender = Capture(broker.port, "unused")
    sender.publish("t/late", b"kept", retain=True)  # delivered on subscribing, whenever
    client = Racing(MqttSettings(host="127.0.0.1", port=broker.port), client_id="t-race")
    client.subscribe("t/early", lambda message: None)
    client.start()
    try:
        wait_until(lambda: client.raced and client.connected, what="the racing subscription")
        wait_until(lambda: received == [b"kept"], what="the late subscription's message")
    finally:
        client.stop()
        sender.close()


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed")
    path = tmp_path / "passwords"
    subprocess.run([tool, "-b", "-c", str(path), "gate", "s3cret"], check=True)
    return path


def test_a_refused_connection_is_never_connected(
    make_broker: Callable[[str], Broker], password_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = make_broker(f"allow_anonymous false\npassword_file {password_file}\n")
    wrong = MqttClient(
        MqttSettings(host="127.0.0.1", port=broker.port, username="gate", password="wrong"),
        client_id="t-wrong",
    )
    right = MqttClient(
        MqttSettings(host="127.0.0.1", port=broker.port, username="gate", password="s3cret"),
        client_id="t-right",
    )
    with caplog.at_level(logging.WARNING, logger="sync.mqtt"):
        wrong.start()
        right.start()
        try:
            wait_until(lambda: right.connected, what="the authorised client")
            wait_until(
                lambda: any("refused the connection" in r.getMessage() for r in caplog.records),
                what="the refusal",
            )
            assert not wrong.connected
        finally:
            wrong.stop()
            right.stop()


def test_tls_with_client_certificates(make_broker: Callable[[str], Broker], tmp_path: Path) -> None:
    files = make_tls_files(tmp_path)
    broker = make_broker(
        f"cafile {files.ca}\ncertfile {files.server_cert}\nkeyfile {files.server_key}\n"
        "require_certificate true\n"
    )
    with_cert = MqttClient(
        MqttSettings(
            host="127.0.0.1",
            port=broker.port,
            tls=Tls(ca=files.ca, cert=files.client_cert, key=files.client_key),
        ),
        client_id="t-tls",
    )
    without_cert = MqttClient(
        MqttSettings(host="127.0.0.1", port=broker.port, tls=Tls(ca=files.ca)),
        client_id="t-tls-anonymous",
    )
    with_cert.start()
    without_cert.start()
    try:
        wait_until(lambda: with_cert.connected, what="the TLS connection")
        assert not without_cert.connected
    finally:
        with_cert.stop()
        without_cert.stop()


def test_unreadable_tls_files_are_a_setup_error(tmp_path: Path) -> None:
    settings = MqttSettings(host="127.0.0.1", tls=Tls(ca=tmp_path / "missing.crt"))

    with pytest.raises(MqttSetupError, match="TLS"):
        MqttClient(settings, client_id="t")
    with pytest.raises(MqttSetupError, match="key"):
        MqttClient(MqttSettings(host="h", tls=Tls(key=tmp_path / "k")), client_id="t")
    with pytest.raises(MqttSetupError, match="client id"):
        MqttClient(MqttSettings(host="h"), client_id="")


def test_a_client_started_before_the_broker_connects_when_it_comes(tmp_path: Path) -> None:
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed (scripts/test.sh installs it)")
    (tmp_path / "late").mkdir()
    late = Broker(tmp_path / "late")  # port chosen, nothing listening yet
    client = MqttClient(
        MqttSettings(host="127.0.0.1", port=late.port, reconnect_max_s=1.0), client_id="t-early"
    )
    client.start()
    try:
        time.sleep(1.5)  # a few refused attempts
        assert not client.connected
        late.start()
        wait_until(lambda: client.connected, what="the connection once the broker is up")
    finally:
        client.stop()
        late.stop()


def test_without_a_connack_the_client_is_never_connected_and_tries_again(broker: Broker) -> None:
    proxy = FaultProxy(broker.port).start()
    proxy.blackhole(True)  # TCP connects, CONNECT goes nowhere
    client = MqttClient(
        MqttSettings(host="127.0.0.1", port=proxy.port, keepalive_s=1, reconnect_max_s=1.0),
        client_id="t-no-connack",
    )
    seen: list[bool] = []
    client.add_connection_listener(seen.append)
    client.start()
    try:
        wait_until(lambda: proxy.connections >= 3, what="attempts after silent connects")
        assert seen == [] and not client.connected
        proxy.blackhole(False)
        wait_until(lambda: client.connected, what="the connection once packets flow")
    finally:
        client.stop()
        proxy.stop()


def test_stop_returns_soon_even_when_the_connection_is_dead(broker: Broker) -> None:
    proxy = FaultProxy(broker.port).start()
    client = MqttClient(MqttSettings(host="127.0.0.1", port=proxy.port), client_id="t-stop")
    client.start()
    try:
        wait_until(lambda: client.connected, what="CONNACK")
        proxy.blackhole(True)  # the DISCONNECT cannot arrive; keepalive is 30 s
        started = time.monotonic()
        client.stop()
        assert time.monotonic() - started < 5
        assert not client.connected
    finally:
        proxy.stop()


def test_messages_stay_in_order_and_whole_across_threads(broker: Broker) -> None:
    # paho must leave every write to the network thread, however many threads publish.
    capture = Capture(broker.port, "t/#")
    client = mqtt_client(broker, "t-threads")
    client.start()
    try:
        wait_until(lambda: client.connected, what="CONNACK")

        def sender(name: str) -> None:
            for i in range(200):
                client.send(f"t/{name}", f"{name}-{i}".encode() * 50)

        threads = [threading.Thread(target=sender, args=(str(n),)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_until(lambda: len(capture.messages) == 800, what="every message")
        for n in range(4):
            payloads = [m.payload for m in capture.on(f"t/{n}")]
            assert payloads == [f"{n}-{i}".encode() * 50 for i in range(200)]
    finally:
        client.stop()
        capture.close()
