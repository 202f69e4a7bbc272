"""Shared fixtures: real services started per test on free ports in temporary directories."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.broker import Broker, mosquitto_available
from harness.postgres import Postgres, postgres_bin


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


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster for the test session (own port, own directory)."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (.ci/run installs them)")
    # Not under pytest's tmp_path: the server runs as 'postgres', which cannot enter root's.
    directory = Path(tempfile.mkdtemp(prefix="checkpoint-pg-"))
    cluster = Postgres(directory).start()
    yield cluster
    cluster.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: Postgres) -> Iterator[str]:
    """A fresh, empty database in the session's cluster."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(postgres_cluster.url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_cluster.url.rsplit("/", 1)[0] + f"/{name}"
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()
