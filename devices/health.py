"""A device's health as it changes, logged once per change."""

from __future__ import annotations

import logging

from gateway.core.values import DeviceHealth, DeviceState

logger = logging.getLogger(__name__)


class HealthCell:
    """Holds one device's current `DeviceHealth`; safe to read from any thread.

    Changes are logged once: a missing device is retried every few seconds and must not
    fill the log.
    """

    def __init__(self, name: str, kind: str) -> None:
        self._name = name
        self._kind = kind
        self._health = DeviceHealth(name, kind, DeviceState.DOWN, "not started")

    def get(self) -> DeviceHealth:
        return self._health

    def set(self, state: DeviceState, reason: str = "") -> None:
        previous = self._health
        if (state, reason) == (previous.state, previous.reason):
            return
        if state is DeviceState.UP:
            if previous.state is not DeviceState.UP:
                logger.info("%s: up%s", self._name, f" ({reason})" if reason else "")
        else:
            logger.warning("%s: %s: %s", self._name, state.value, reason)
        self._health = DeviceHealth(self._name, self._kind, state, reason)

    def stopped(self) -> None:
        """The device's `run` has ended."""
        self._health = DeviceHealth(self._name, self._kind, DeviceState.DOWN, "stopped")
