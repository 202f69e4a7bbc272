"""From the config's `[mqtt]` section to the broker connection both processes use."""

from __future__ import annotations

from gateway.config import MqttConfig
from gateway.runtime import credentials
from sync.mqtt import MqttSettings, Tls


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
