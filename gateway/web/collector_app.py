"""The collector's manager dashboard: every gate of a site, served beside the collector."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import uvicorn

from gateway.storage.access_db import AccessDatabase
from gateway.web.access import AccessControl, Role
from gateway.web.app import create_collector_app
from gateway.web.records import Records
from gateway.web.services import CodeHolder, Dashboard

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
