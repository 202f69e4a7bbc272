"""Secrets handed over by systemd (`LoadCredential=`), read from `$CREDENTIALS_DIRECTORY`."""

from __future__ import annotations

import os
from pathlib import Path

SITE_SECRET = "checkpoint.site-secret"
MQTT_PASSWORD = "checkpoint.mqtt-password"


def credential(name: str) -> Path | None:
    """The file of a systemd credential, if systemd passed one of that name."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / name
    return path if path.is_file() else None


def mqtt_password(configured: str | None) -> str | None:
    """The configured MQTT password, else the systemd credential's."""
    if configured is not None:
        return configured
    path = credential(MQTT_PASSWORD)
    return path.read_text(encoding="utf-8").strip() if path else None


def site_secret_file(configured: Path | None) -> Path | None:
    """The configured site secret file, else the systemd credential's."""
    return configured or credential(SITE_SECRET)
