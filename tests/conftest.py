"""Shared fixtures: real services started per test on free ports in temporary directories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker, mosquitto_available


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto broker, started for this test and stopped after it."""
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed (scripts/test.sh installs it)")
    directory = tmp_path / "broker"
    directory.mkdir()
    running = Broker(directory).start()
    yield running
    running.stop()
