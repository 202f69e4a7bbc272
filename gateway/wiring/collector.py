"""The community server's composition root: the collector that stores every gate's entries,
and with `--web` the manager dashboard of all gates, served beside it."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import uvicorn

from gateway.config import Settings
from gateway.service.access import AccessControl, Role
from gateway.storage.access_db import AccessDatabase
from gateway.storage.records import Records, database_url
from gateway.web.app import create_collector_app
from gateway.web.services import CodeHolder, Dashboard
from gateway.wiring.broker import mqtt_settings
from sync.collector import Collector, collector_client
from sync.collector_store import create_collector_engine, create_tables

log = logging.getLogger(__name__)


class CollectorDashboard:
    """The dashboard of a collector database, served by uvicorn in its own named thread."""

    def __init__(
        self, database_url: str, *, host: str, port: int, code_holder: CodeHolder | None = None
    ) -> None:
        self._database = AccessDatabase.open(database_url)
        records = Records(database_url)
        access = AccessControl(
            transaction=self._database.transaction,
            now=lambda: datetime.now(UTC),
            roles=frozenset({Role.MANAGER}),
        )
        app = create_collector_app(Dashboard(access, records, records.gates, code_holder))
        self._server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        )
        self._thread = threading.Thread(
            target=self._server.run, name="collector-dashboard", daemon=True
        )
        self.url = f"http://{host}:{port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Serve, and return once the server listens (or raise if it could not start)."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        # uvicorn tells it listens only through `started`: look now and then, while it runs.
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            self._thread.join(0.05)
        if not self._server.started:
            raise RuntimeError(f"the dashboard could not listen at {self.url}")
        log.info("manager dashboard at %s", self.url)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._database.close()


def collector_from_settings(
    settings: Settings, *, database: str | None, instance: str
) -> Collector:
    """The collector `checkpoint collector` runs: broker, credentials and TLS from [mqtt].

    `instance` names this collector among those sharing the load (its client id must be
    unique); `database` overrides [collector] database.
    """
    return Collector(
        database_url(database or settings.collector.database),
        collector_client(
            mqtt_settings(settings.mqtt), client_id=f"checkpoint-collector-{instance}"
        ),
        prefix=settings.mqtt.topic_prefix,
    )


def run_collector(
    settings: Settings,
    stop: threading.Event,
    *,
    database: str | None,
    instance: str,
    web: tuple[str, int] | None = None,
    code_holder: CodeHolder | None = None,
) -> None:
    """Run the collector until `stop` is set; with `web` (host, port), its dashboard too."""
    worker = collector_from_settings(settings, database=database, instance=instance)
    dashboard = None
    if web is not None:
        url = database_url(database or settings.collector.database)
        # The dashboard reads the collector's tables: they exist before it serves.
        engine = create_collector_engine(url)
        create_tables(engine)
        engine.dispose()
        dashboard = CollectorDashboard(url, host=web[0], port=web[1], code_holder=code_holder)
        dashboard.start()
    try:
        worker.run(stop)
    finally:
        if dashboard is not None:
            dashboard.stop()
